"""Why an event went to the dead-letter topic: a closed set, since it labels the DLQ
metric and the `dlq-reason` header. A module of its own so the command line can
offer the choices without importing the metrics and codec behind them."""

from __future__ import annotations

DLQ_REASONS = (
    "too_large",
    "bad_json",
    "bad_protobuf",
    "unknown_type",
    "missing_field",
    "invalid_value",
    "unknown_reference",
    "processing_error",
)
