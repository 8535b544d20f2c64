"""Event schema, topics, producer, consumer loop, pipeline stages and the SLA engine."""
