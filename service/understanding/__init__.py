"""Understanding a buyer's message without an LLM: intent now; stage, mood and requests
beyond authority build on it. Upstream of retrieval and drafting, so both can use it."""
