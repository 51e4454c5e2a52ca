"""HTTP clients for tests."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient


def local_client(app: FastAPI, **kwargs: object) -> TestClient:
    """A TestClient connecting from 127.0.0.1, as a user on this machine: with no API key
    configured, huashu answers loopback clients only (TestClient's default host is not)."""
    return TestClient(app, raise_server_exceptions=False, client=("127.0.0.1", 50000), **kwargs)  # type: ignore[arg-type]
