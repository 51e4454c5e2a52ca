"""Prometheus metrics, in a registry of our own so tests can build many apps."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "huashu_http_requests_total", "HTTP requests by route and status.",
    ["method", "route", "status"], registry=REGISTRY,
)
REQUEST_LATENCY = Histogram(
    "huashu_http_request_seconds", "HTTP request latency by route.", ["route"], registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
SEARCH_LATENCY = Histogram(
    "huashu_search_seconds", "Retrieval latency (hybrid search).", registry=REGISTRY,
    buckets=(0.002, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 1),
)
