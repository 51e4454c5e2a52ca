"""Retrieval: embeddings, the Chroma index, BM25 over jieba tokens, and their fusion."""
