"""The durable draft store: suggestions, drafts, their audit log, idempotency records, keys."""
