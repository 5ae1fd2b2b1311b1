"""The HTTP collector: applications POST events, feedback and OTLP traces; it writes durable landing files."""
