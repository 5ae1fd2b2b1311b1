"""Source adapters: foreign formats (OTLP JSON spans, PostHog exports) -> canonical 1.1 contract records.

Each format has a module of pure mapping functions (`otlp`, `posthog`) that turn one parsed source object
into canonical records without any I/O, and `reader` turns a landing file into batches of canonical JSON
lines for the loader. Mappers pick contract fields by name, so message content is never copied; every
string they emit has been through `ingestion.pii.scrub` (see `common.scrub_record`).
"""
