"""The grid's registers: buildings, households and people, visit cadence, and the protection of personal data."""
