"""Areas and boundaries: levels, import, validation, location, coordinate systems."""
