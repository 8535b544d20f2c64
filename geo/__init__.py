"""Areas and boundaries: models, import, validation, location, coordinate systems."""
