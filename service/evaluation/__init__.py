"""Evaluation: retrieval quality now; golden dialogue regression builds on it."""
