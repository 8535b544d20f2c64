"""The ``gridgov`` command: local services, schema, topics, boundaries, users, rules, run, simulator."""
