"""Project-local services for development and tests: PostgreSQL with PostGIS, and Tansu."""
