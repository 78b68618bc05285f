"""Idempotency keys: a retried create answers like the first attempt instead of creating twice."""
