"""Agents over HTTP: the draft lifecycle, 409s with the current state, Idempotency-Key,
API keys with roles and shop scopes (every endpoint), stats, and a database that is down."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.config import Settings
from service.container import Services
from service.knowledge.ingest import ingest_pack
from tests.clients import local_client
from tests.packs import write_pack

ASK = {"shop": "demo-shop", "product": "P003", "n": 3,
       "history": [{"role": "buyer", "text": "这个多少钱"}, {"role": "agent", "text": "亲，这款59.9元哦"},
                   {"role": "buyer", "text": "能便宜点吗，买两袋"}]}


def services_with_db(demo: Services, path: Path, **overrides: Any) -> Services:
    """A copy of the demo's ingested data dir, with a database of its own: the keys made and
    the replies approved (learned into the index) here touch no other test."""
    data = path / "data"
    shutil.copytree(demo.settings.data_dir, data, ignore=shutil.ignore_patterns("huashu.db*"))
    values = {"data_dir": data, "database_url": None, **overrides}
    return Services(demo.settings.model_copy(update=values))


@pytest.fixture
def svc(demo: Services, tmp_path: Path) -> Services:
    return services_with_db(demo, tmp_path)


@pytest.fixture
def client(svc: Services) -> Iterator[TestClient]:
    with local_client(create_app(services=svc)) as c:
        yield c


def suggest(client: TestClient, body: dict[str, Any] | None = None, **headers: str) -> dict[str, Any]:
    r = client.post("/v1/suggestions", json=body or ASK, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_suggest_edit_approve_sent(client: TestClient) -> None:
    s = suggest(client)
    draft = s["candidates"][0]["id"]
    got = client.get(f"/v1/drafts/{draft}").json()
    assert got["state"] == "suggested" and got["text"] == s["candidates"][0]["text"]
    assert got["history"] == ASK["history"] and got["suggestion_id"] == s["id"]

    r = client.post(f"/v1/drafts/{draft}/edit", json={"text": "亲，这款59.9元已是页面价，小杞改不了价，还请您理解哦～",
                                                     "agent": "小杞", "version": 1})
    assert r.status_code == 200, r.text
    edited = r.json()
    assert edited["state"] == "edited" and edited["version"] == 2 and edited["verdict"] != "block"
    assert set(edited) >= {"verdict", "violations"}

    assert client.post(f"/v1/drafts/{draft}/approve").json()["state"] == "approved"
    assert client.post(f"/v1/drafts/{draft}/sent").json()["state"] == "sent"
    audit = client.get(f"/v1/drafts/{draft}").json()["audit"]
    assert [a["action"] for a in audit] == ["edit", "approve", "sent"]
    assert audit[0]["agent"] == "小杞" and audit[0]["actor"] == "local"


def test_blocked_edit_answers_its_violations_and_needs_an_override(client: TestClient) -> None:
    draft = suggest(client)["candidates"][0]["id"]
    r = client.post(f"/v1/drafts/{draft}/edit", json={"text": "你好，给你打个8折，加我微信细聊"})
    body = r.json()
    assert r.status_code == 200 and body["verdict"] == "block"
    assert {v["category"] for v in body["violations"]} >= {"authority", "compliance"}
    refused = client.post(f"/v1/drafts/{draft}/approve")
    assert refused.status_code == 409
    err = refused.json()["error"]
    assert err["code"] == "override_required" and err["current"]["state"] == "edited"
    ok = client.post(f"/v1/drafts/{draft}/approve", json={"override": True, "reason": "主管批准"})
    assert ok.status_code == 200 and ok.json()["override_reason"] == "主管批准"


def test_acting_twice_answers_409_with_the_current_state(client: TestClient) -> None:
    draft = suggest(client)["candidates"][1]["id"]
    assert client.post(f"/v1/drafts/{draft}/reject", json={"reason": "答非所问"}).status_code == 200
    r = client.post(f"/v1/drafts/{draft}/approve")
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["code"] == "conflict" and "rejected" in err["message"]
    assert err["current"]["state"] == "rejected" and err["current"]["reject_reason"] == "答非所问"
    stale = client.post(f"/v1/drafts/{suggest(client)['candidates'][0]['id']}/approve", json={"version": 7})
    assert stale.status_code == 409 and stale.json()["error"]["current"]["version"] == 1


@pytest.mark.parametrize(("method", "path", "body", "status", "code"), [
    ("get", "/v1/drafts/0123456789abcdef0123456789abcdef", None, 404, "draft_not_found"),
    ("post", "/v1/drafts/nope/approve", {}, 404, "draft_not_found"),
    ("post", "/v1/drafts/{draft}/edit", {"text": ""}, 400, "invalid_request"),
    ("post", "/v1/drafts/{draft}/edit", {}, 422, "invalid_request"),
    ("post", "/v1/drafts/{draft}/reject", {"reason": " "}, 400, "invalid_request"),
    ("post", "/v1/drafts/{draft}/sent", {}, 409, "conflict"),
    ("post", "/v1/drafts/{draft}/approve", {"version": "x"}, 422, "invalid_request"),
])
def test_bad_draft_requests(client: TestClient, method: str, path: str, body: Any, status: int, code: str) -> None:
    draft = suggest(client)["candidates"][0]["id"]
    r = getattr(client, method)(path.format(draft=draft), **({"json": body} if body is not None else {}))
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert client.get(f"/v1/drafts/{draft}").json()["version"] == 1  # nothing changed


def test_idempotency_key_on_suggestions_and_actions(client: TestClient, svc: Services) -> None:
    first = client.post("/v1/suggestions", json=ASK, headers={"Idempotency-Key": "s-1"})
    again = client.post("/v1/suggestions", json=ASK, headers={"Idempotency-Key": "s-1"})
    assert first.status_code == again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    other = client.post("/v1/suggestions", json={**ASK, "n": 2}, headers={"Idempotency-Key": "s-1"})
    assert other.status_code == 400 and other.json()["error"]["code"] == "idempotency_key_reused"

    draft = first.json()["candidates"][0]["id"]
    a = client.post(f"/v1/drafts/{draft}/approve", headers={"Idempotency-Key": "a-1"})
    b = client.post(f"/v1/drafts/{draft}/approve", headers={"Idempotency-Key": "a-1"})
    assert a.status_code == b.status_code == 200 and a.json() == b.json()
    assert len(svc.drafts.audit(draft)) == 1
    for bad in ("has space", "x" * 256):
        r = client.post(f"/v1/drafts/{draft}/sent", headers={"Idempotency-Key": bad})
        assert r.status_code == 400 and "Idempotency-Key" in r.json()["error"]["message"]
    assert svc.drafts.get(draft)["state"] == "approved"


def test_stream_stores_the_suggestion_before_done(client: TestClient) -> None:
    with client.stream("POST", "/v1/suggestions/stream", json=ASK, headers={"Idempotency-Key": "st-1"}) as r:
        events = [line for line in r.iter_lines() if line.startswith("event:")]
    assert events[-1] == "event: done"
    replay = client.post("/v1/suggestions", json=ASK, headers={"Idempotency-Key": "st-1"})
    draft = replay.json()["candidates"][0]["id"]
    assert replay.headers["idempotent-replayed"] == "true"
    assert client.get(f"/v1/drafts/{draft}").json()["state"] == "suggested"


def test_stats(client: TestClient) -> None:
    a, b = suggest(client), suggest(client, {**ASK, "history": [{"role": "buyer", "text": "什么时候发货"}]})
    suggest(client)  # not acted on
    edited = "亲，这款59.9元已是页面价，还请您理解～"
    client.post(f"/v1/drafts/{a['candidates'][0]['id']}/edit", json={"text": edited})
    client.post(f"/v1/drafts/{a['candidates'][0]['id']}/approve")
    client.post(f"/v1/drafts/{a['candidates'][1]['id']}/reject", json={"reason": "语气太生硬"})
    client.post(f"/v1/drafts/{b['candidates'][0]['id']}/reject", json={"reason": "语气太生硬"})
    client.post(f"/v1/drafts/{b['candidates'][1]['id']}/reject", json={"reason": "没回答问题"})
    r = client.get("/v1/stats", params={"shop": "demo-shop"})
    assert r.status_code == 200, r.text
    body = r.json()
    overall = body["overall"]
    assert (overall["suggestions"], overall["acted_on"], overall["accepted"]) == (3, 2, 1)
    assert overall["acceptance_rate"] == 0.5
    assert (overall["approved"], overall["rejected"]) == (1, 3) and overall["approval_rate"] == 0.25
    assert overall["edit_rate"] == 1.0 and overall["mean_edit_distance"] > 0
    assert overall["rejection_reasons"] == [{"reason": "语气太生硬", "count": 2}, {"reason": "没回答问题", "count": 1}]
    assert body["by_intent"]["bargain"]["accepted"] == 1 and body["by_intent"]["shipping_time"]["accepted"] == 0
    assert body["by_backend"]["offline"]["suggestions"] == 3
    assert client.get("/v1/stats", params={"shop": "nope"}).status_code == 404
    assert client.get("/v1/stats").status_code == 422
    rejected = client.get("/v1/drafts", params={"shop": "demo-shop", "state": "rejected"}).json()
    assert sorted(d["reject_reason"] for d in rejected) == ["没回答问题", "语气太生硬", "语气太生硬"]
    assert all(d["question"] and d["history"] for d in rejected)
    everything = client.get("/v1/drafts", params={"shop": "demo-shop", "limit": 500}).json()
    assert len(everything) == 9 and everything[0]["updated_at"] >= everything[-1]["updated_at"]
    page = client.get("/v1/drafts", params={"shop": "demo-shop", "limit": 2, "offset": 2}).json()
    assert [d["id"] for d in page] == [d["id"] for d in everything[2:4]]
    assert client.get("/v1/drafts", params={"shop": "demo-shop", "state": "lost"}).status_code == 422


# --- access -------------------------------------------------------------------------------

@pytest.fixture
def two_shops(demo: Services, tmp_path: Path) -> Services:
    """Demo shop and a kitchen shop in one index, one database, with keys."""
    svc = services_with_db(demo, tmp_path)
    ingest_pack(write_pack(tmp_path / "kitchen"), svc.index, svc.embedder, svc.lexical_store)
    svc.db.migrate()
    return svc


def key(svc: Services, roles: list[str], shops: list[str], name: str = "t") -> str:
    return svc.keys.create(name, roles, shops)[1]


def auth(secret: str) -> dict[str, str]:
    return {"authorization": f"Bearer {secret}"}


def test_without_keys_only_loopback_clients_are_served(svc: Services) -> None:
    with TestClient(create_app(services=svc), raise_server_exceptions=False) as remote:  # host "testclient"
        r = remote.post("/v1/search", json={"shop": "demo-shop", "query": "包邮吗"})
        assert r.status_code == 401 and "loopback" in r.json()["error"]["message"]
        assert r.headers["www-authenticate"] == "Bearer"
        assert remote.get("/healthz").status_code == 200  # health and docs stay open
        assert remote.get("/openapi.json").status_code == 200


def test_keys_roles_and_revocation(two_shops: Services) -> None:
    svc = two_shops
    client_key = key(svc, ["client"], ["demo-shop"])
    agent_key = key(svc, ["agent"], ["demo-shop"])
    with local_client(create_app(services=svc)) as c:
        assert c.post("/v1/suggestions", json=ASK).status_code == 401  # keys exist: loopback is no excuse
        assert c.post("/v1/suggestions", json=ASK, headers={"x-api-key": "hs_wrong"}).status_code == 401
        s = c.post("/v1/suggestions", json=ASK, headers=auth(client_key))
        assert s.status_code == 200, s.text
        draft = s.json()["candidates"][0]["id"]
        denied = c.post(f"/v1/drafts/{draft}/approve", headers=auth(client_key))
        assert denied.status_code == 403 and "agent" in denied.json()["error"]["message"]
        assert c.post(f"/v1/drafts/{draft}/approve", headers={"x-api-key": agent_key}).status_code == 200
        assert c.post(f"/v1/drafts/{draft}/sent", headers=auth(client_key)).status_code == 200
        assert c.get("/v1/stats", params={"shop": "demo-shop"}, headers=auth(agent_key)).status_code == 403
        evaluator = key(svc, ["evaluator"], ["demo-shop"])
        assert c.get("/v1/stats", params={"shop": "demo-shop"}, headers=auth(evaluator)).status_code == 200
        assert c.get("/v1/drafts", params={"shop": "demo-shop"}, headers=auth(evaluator)).status_code == 200
        assert c.post(f"/v1/drafts/{draft}/reject", json={"reason": "x"}, headers=auth(evaluator)).status_code == 403
        assert c.post("/v1/suggestions", json=ASK, headers=auth(evaluator)).status_code == 403
        row = next(k for k in svc.keys.list() if k["roles"] == ["agent"])
        svc.keys.revoke(row["id"])
        revoked = c.get(f"/v1/drafts/{draft}", headers=auth(agent_key))
        assert revoked.status_code == 401 and "revoked" in revoked.json()["error"]["message"]
        stored = svc.drafts.audit(draft)
        assert stored[0]["actor"] == f"{row['id']} (t)"


def test_a_key_of_one_shop_touches_nothing_of_another(two_shops: Services) -> None:
    """Every endpoint, with a key of every role for the kitchen shop, against the demo shop."""
    svc = two_shops
    demo_all = key(svc, ["admin"], ["demo-shop"], "demo-admin")
    kitchen = key(svc, ["client", "agent", "evaluator", "admin"], ["kitchen-mini"], "kitchen-all")
    with local_client(create_app(services=svc)) as c:
        s = c.post("/v1/suggestions", json=ASK, headers=auth(demo_all)).json()
        draft = s["candidates"][0]["id"]
        case = {"id": "c1", "shop": "demo-shop", "intent": "bargain", "history": ASK["history"]}
        run = c.post("/v1/evals", json={"cases": [case]}, headers=auth(demo_all))
        assert run.status_code == 202, run.text
        forbidden = [
            ("post", "/v1/evals", {"cases": [case]}),
            ("post", "/v1/suggestions", ASK),
            ("post", "/v1/suggestions/stream", ASK),
            ("post", "/v1/check", {"shop": "demo-shop", "text": "亲，您好"}),
            ("post", "/v1/search", {"shop": "demo-shop", "query": "包邮吗"}),
            ("get", "/v1/stats?shop=demo-shop", None),
            ("get", "/v1/drafts?shop=demo-shop", None),
            ("post", "/v1/keys", {"name": "x", "roles": ["client"], "shops": ["demo-shop"]}),
        ]
        for method, path, body in forbidden:
            r = getattr(c, method)(path, headers=auth(kitchen), **({"json": body} if body else {}))
            assert r.status_code == 403, (path, r.text)
            assert r.json()["error"]["code"] == "forbidden"
        hidden = [("get", f"/v1/drafts/{draft}", None), ("get", f"/v1/evals/{run.json()['id']}", None)] + [
            ("post", f"/v1/drafts/{draft}/{a}", b) for a, b in
            (("approve", {}), ("edit", {"text": "亲"}), ("reject", {"reason": "x"}), ("sent", {}))]
        for method, path, body in hidden:
            r = getattr(c, method)(path, headers=auth(kitchen), **({"json": body} if body else {}))
            assert r.status_code == 404, (path, r.text)  # as if it did not exist
        listed = c.get("/v1/keys", headers=auth(kitchen)).json()
        assert [k["name"] for k in listed] == ["kitchen-all"]
        demo_key_id = next(k["id"] for k in svc.keys.list() if k["name"] == "demo-admin")
        assert c.post(f"/v1/keys/{demo_key_id}/revoke", headers=auth(kitchen)).status_code == 404
        assert svc.drafts.get(draft)["state"] == "suggested"  # untouched
        # ... while its own shop works.
        own = c.post("/v1/search", json={"shop": "kitchen-mini", "query": "保修"}, headers=auth(kitchen))
        assert own.status_code == 200


def test_admin_manages_keys_over_http(two_shops: Services) -> None:
    admin = key(two_shops, ["admin"], ["*"], "root")
    with local_client(create_app(services=two_shops)) as c:
        made = c.post("/v1/keys", json={"name": "xiaoqi", "roles": ["agent", "client"], "shops": ["demo-shop"]},
                      headers=auth(admin))
        assert made.status_code == 201
        secret = made.json()["key"]
        assert secret.startswith("hs_") and made.json()["prefix"] == secret[:10]
        assert c.post("/v1/search", json={"shop": "demo-shop", "query": "包邮吗"}, headers=auth(secret)).status_code == 200
        assert c.post("/v1/keys", json={"name": "x", "roles": ["root"], "shops": ["*"]},
                      headers=auth(admin)).status_code == 422
        assert c.get("/v1/keys", headers=auth(secret)).status_code == 403
        r = c.post(f"/v1/keys/{made.json()['id']}/revoke", headers=auth(admin))
        assert r.status_code == 200 and r.json()["revoked_at"]
        assert c.post("/v1/search", json={"shop": "demo-shop", "query": "包邮吗"}, headers=auth(secret)).status_code == 401
    stored = [k for k in two_shops.keys.list() if k["name"] == "xiaoqi"]
    assert stored and secret not in str(stored)  # only the hash is kept


def test_a_database_that_is_down_answers_503(demo: Services, tmp_path: Path) -> None:
    svc = Services(demo.settings.model_copy(update={
        "database_url": "postgresql+psycopg://postgres@127.0.0.1:9/test"}))
    with local_client(create_app(services=svc)) as c:
        for method, path, body in (("post", "/v1/suggestions", ASK), ("get", "/v1/drafts/abc", None),
                                   ("post", "/v1/drafts/abc/approve", {})):
            r = getattr(c, method)(path, **({"json": body} if body is not None else {}))
            assert r.status_code == 503, r.text
            assert r.json()["error"]["code"] == "database_unavailable"
        assert c.get("/healthz").status_code in (200, 503)


def test_settings_default_database_is_sqlite_under_data_dir(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path / "d")
    assert s.database == f"sqlite:///{(tmp_path / 'd' / 'huashu.db').as_posix()}"
    assert Settings(data_dir=tmp_path, database_url="postgresql+psycopg://x@h/db").database.startswith("postgresql")
