"""Kafka clients and topics, the event schema, pipeline stages, the writer, the worker, the outbox, the SLA loop."""
