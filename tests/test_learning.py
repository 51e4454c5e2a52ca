"""Learning from agents: approved replies become the shop's `approved` knowledge, preferred
for the same intent and product, cited as such, checked against today's facts."""

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
from service.retrieval.approved import ApprovedIndex
from service.retrieval.store import ChromaIndex
from service.store.learning import Learning
from tests.clients import local_client
from tests.conftest import DEMO_PACK

OURS = "亲，这款59.9元已是页面价，小杞给您备注一份试吃装，您尝尝看～"


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    return Path(shutil.copytree(DEMO_PACK, tmp_path / "demo-shop"))


@pytest.fixture
def svc(tmp_path: Path, pack: Path) -> Services:
    services = Services(Settings(data_dir=tmp_path / "data"))
    ingest_pack(pack, services.index, services.embedder, services.lexical_store)
    return services


@pytest.fixture
def client(svc: Services) -> Iterator[TestClient]:
    with local_client(create_app(services=svc)) as c:
        yield c


def ask(client: TestClient, text: str, product: str | None = "P003") -> dict[str, Any]:
    r = client.post("/v1/suggestions", json={"shop": "demo-shop", "product": product,
                                             "history": [{"role": "buyer", "text": text}]})
    assert r.status_code == 200, r.text
    return r.json()


def approve_edited(client: TestClient, text: str, reply: str, product: str | None = "P003") -> str:
    draft = ask(client, text, product)["candidates"][0]["id"]
    edited = client.post(f"/v1/drafts/{draft}/edit", json={"text": reply}).json()
    assert edited["verdict"] != "block", edited["violations"]
    assert client.post(f"/v1/drafts/{draft}/approve").json()["state"] == "approved"
    client.app.state.services.learning.wait()  # type: ignore[attr-defined]  # indexed off the request
    return draft


def test_an_approved_edit_is_offered_first_next_time(client: TestClient, svc: Services) -> None:
    before = ask(client, "可以便宜一点吗")
    assert OURS not in [c["text"] for c in before["candidates"]]
    draft = approve_edited(client, "能便宜点吗，买两袋", OURS)
    assert svc.drafts.get(draft)["edited"]

    after = ask(client, "可以便宜一点吗")
    top = after["candidates"][0]
    assert top["text"] == OURS
    assert top["citations"] == [{"source_id": f"approved:{draft}", "kind": "approved", "excerpt": OURS}]
    assert top["verdict"] != "block"
    # The other candidates are still the drafter's own.
    assert all(c["text"] != OURS for c in after["candidates"][1:])


def test_approved_replies_are_searchable_and_scoped(client: TestClient) -> None:
    draft = approve_edited(client, "能便宜点吗，买两袋", OURS)
    r = client.post("/v1/search", json={"shop": "demo-shop", "query": "便宜点呗", "product": "P003",
                                        "kind": "approved"})
    assert [x["source_id"] for x in r.json()["results"]] == [f"approved:{draft}"]
    mixed = client.post("/v1/search", json={"shop": "demo-shop", "query": "能便宜点吗", "product": "P003"}).json()
    ids = [x["source_id"] for x in mixed["results"]]
    assert ids[:2] == ["product:P003", f"approved:{draft}"]
    # Another product, another intent: not offered.
    assert all(c["text"] != OURS for c in ask(client, "能便宜点吗", product="P009")["candidates"])
    assert all(c["text"] != OURS for c in ask(client, "什么时候发货")["candidates"])
    other = client.post("/v1/search", json={"shop": "demo-shop", "query": "能便宜点吗", "product": "P009"}).json()
    assert f"approved:{draft}" not in [x["source_id"] for x in other["results"]]


def test_a_reply_for_another_request_is_not_reused(client: TestClient) -> None:
    # Approved for a discount request; a gift request of the same intent family must not get it.
    approve_edited(client, "能便宜点吗，买两袋", OURS)
    gift = ask(client, "能多送两包试吃装吗")
    assert all(c["text"] != OURS for c in gift["candidates"])


def test_reingest_keeps_them_and_todays_facts_win(client: TestClient, svc: Services, pack: Path) -> None:
    draft = approve_edited(client, "能便宜点吗，买两袋", OURS)
    ingest_pack(pack, svc.index, svc.embedder, svc.lexical_store)  # unchanged pack
    assert ask(client, "可以便宜一点吗")["candidates"][0]["text"] == OURS
    # The price changes: the approved reply now states a wrong price, so it is not offered.
    products = pack / "products.csv"
    lines = products.read_text(encoding="utf-8").splitlines()
    lines = [line.replace(",59.9,", ",65,") if line.startswith("P003,") else line for line in lines]
    products.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ingest_pack(pack, svc.index, svc.embedder, svc.lexical_store)
    svc.retriever.invalidate()
    texts = [c["text"] for c in ask(client, "可以便宜一点吗")["candidates"]]
    assert OURS not in texts
    hits = client.post("/v1/search", json={"shop": "demo-shop", "query": "便宜点呗", "product": "P003",
                                           "kind": "approved"}).json()["results"]
    assert [h["source_id"] for h in hits] == [f"approved:{draft}"]  # still known, just not offered


def test_an_approval_is_indexed_later_when_the_index_was_down(svc: Services, tmp_path: Path) -> None:
    with local_client(create_app(services=svc)) as c:
        draft = ask(c, "能便宜点吗，买两袋")["candidates"][0]["id"]
    down = ChromaIndex(Settings(data_dir=tmp_path / "x", chroma_url="http://127.0.0.1:9"))
    broken = Learning(svc.drafts, ApprovedIndex(down, svc.embedder))
    svc.drafts.on_approved = broken.learn
    svc.drafts.act(draft, "approve", actor="test")  # acknowledged although indexing failed
    assert svc.drafts.get(draft)["state"] == "approved"
    assert [d["id"] for d in svc.drafts.approved(unlearned=True)] == [draft]
    assert svc.learning.sync() == 1
    assert svc.drafts.approved(unlearned=True) == []
    hits = svc.retriever.search("demo-shop", "能便宜点吗", product="P003", kind="approved").results
    assert [h.source_id for h in hits] == [f"approved:{draft}"]
