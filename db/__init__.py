"""The ground floor: the engine, every table, the migrations."""
