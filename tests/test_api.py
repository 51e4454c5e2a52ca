"""The HTTP API over the demo pack: search, health, metrics, OpenAPI, JSON errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.container import Services
from tests.clients import local_client


@pytest.fixture(scope="module")
def client(demo: Services) -> Iterator[TestClient]:
    with local_client(create_app(services=demo)) as c:
        yield c


def test_search(client: TestClient) -> None:
    r = client.post("/v1/search", json={"shop": "demo-shop", "query": "黑枸杞孕妇能吃吗", "k": 3})
    assert r.status_code == 200
    body = r.json()
    assert body["products"] == ["P009"]
    assert [x["source_id"] for x in body["results"]][0] == "product:P009"
    first = body["results"][0]
    assert set(first) >= {"source_id", "kind", "product", "text", "score"}
    assert first["kind"] == "fact" and first["product"] == "P009"
    assert len(body["results"]) == 3 and body["latency_ms"] >= 0


def test_search_filters(client: TestClient) -> None:
    r = client.post("/v1/search", json={"shop": "demo-shop", "query": "保质期", "product": "P027",
                                        "kind": "fact", "k": 5})
    assert r.status_code == 200
    assert [x["source_id"] for x in r.json()["results"]] == ["product:P027"]


@pytest.mark.parametrize(("body", "status", "code", "needle"), [
    ({"shop": "nope", "query": "包邮"}, 404, "shop_not_found", "unknown shop 'nope'"),
    ({"shop": "demo-shop", "query": "包邮", "product": "P999"}, 404, "product_not_found", "P999"),
    ({"shop": "demo-shop", "query": ""}, 400, "invalid_request", "query: must not be empty"),
    ({"shop": "demo-shop", "query": "包邮", "k": 0}, 400, "invalid_request", "k: must be between"),
    ({"shop": "demo-shop", "query": "包邮", "k": 10000}, 400, "invalid_request", "k: must be between"),
    ({"shop": "demo-shop", "query": "包邮", "kind": "faq"}, 422, "invalid_request", "kind:"),
    ({"shop": "demo-shop"}, 422, "invalid_request", "query: Field required"),
    ({"shop": "demo-shop", "query": "包邮", "k": "many"}, 422, "invalid_request", "k:"),
])
def test_errors_are_json(client: TestClient, body: dict[str, object], status: int, code: str,
                         needle: str) -> None:
    r = client.post("/v1/search", json=body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code and needle in error["message"]


def test_invalid_json_and_unknown_route(client: TestClient) -> None:
    r = client.post("/v1/search", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    r = client.get("/v1/nothing-here")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = client.get("/v1/search")
    assert r.status_code == 405 and "error" in r.json()


def test_health_metrics_and_docs(client: TestClient) -> None:
    client.post("/v1/search", json={"shop": "demo-shop", "query": "包邮吗"})
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and "demo-shop" in health["shops"]
    assert health["embedder"].startswith("hashing-")
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and "text/plain" in metrics.headers["content-type"]
    assert 'huashu_http_requests_total{method="POST",route="/v1/search",status="200"}' in metrics.text
    assert "huashu_search_seconds_count" in metrics.text
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/v1/search" in spec["paths"] and "/healthz" in spec["paths"]


def test_unexpected_error_is_a_json_500_without_trace(demo: Services) -> None:
    from service.api.deps import get_retriever

    class Broken:
        def search(self, *args: object, **kwargs: object) -> None:
            raise RuntimeError("secret internals")

    app = create_app(services=demo)
    app.dependency_overrides[get_retriever] = lambda: Broken()
    with local_client(app) as c:
        r = c.post("/v1/search", json={"shop": "demo-shop", "query": "包邮"})
    assert r.status_code == 500
    assert r.json() == {"error": {"code": "internal_error", "message": "internal error; see the server log"}}
    assert "secret" not in r.text


def test_health_degraded_when_chroma_server_is_down(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from service.config import Settings
    from tests.conftest import free_port

    svc = Services(Settings(data_dir=tmp_path, chroma_url=f"http://127.0.0.1:{free_port()}"))
    with local_client(create_app(services=svc)) as c:
        r = c.get("/healthz")
        assert r.status_code == 503 and r.json()["status"] == "degraded"
        r = c.post("/v1/search", json={"shop": "demo-shop", "query": "包邮"})
        assert r.status_code == 503 and r.json()["error"]["code"] == "index_unavailable"
