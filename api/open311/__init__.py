"""GeoReport v2 (Open311) for outside systems: its routes, its registered clients, its formats and readings."""
