"""Drafting: understanding -> retrieval -> drafts -> guardrails -> ready-to-send candidates."""
