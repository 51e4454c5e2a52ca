"""The draft store on SQLite and PostgreSQL: every suggestion kept, the lifecycle, races,
idempotency, the audit log, migrations, and a database that is down."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select

from service.container import Services
from service.errors import (
    Conflict,
    DraftNotFound,
    IdempotencyMismatch,
    InvalidRequest,
    OverrideRequired,
    StoreUnavailable,
)
from service.store.db import Database
from service.store.drafts import DraftStore, Idempotency
from service.store.models import AuditEntry, Base, Draft, IdempotencyRecord, Suggestion


@pytest.fixture
def db(database_url: str) -> Database:
    database = Database(database_url)
    database.migrate()
    yield database  # type: ignore[misc]
    database.dispose()


@pytest.fixture
def store(db: Database, demo: Services) -> DraftStore:
    def check(shop: str, text: str, product: str | None, history: list[dict[str, str]]) -> tuple[str, list[Any]]:
        result = demo.guardrails.check(shop, text, product=product, history=history)
        return result.verdict, [v.as_dict() for v in result.violations]

    return DraftStore(db, checker=check)


@pytest.fixture
def suggest(demo: Services, store: DraftStore) -> Callable[..., dict[str, Any]]:
    """A real offline suggestion for the demo shop, recorded in the store."""

    def make(text: str = "能便宜点吗", product: str | None = "P003", n: int = 3) -> dict[str, Any]:
        history = [{"role": "buyer", "text": text}]
        s = demo.pipeline.suggest("demo-shop", history, product=product, n=n).as_dict()
        request = {"shop": "demo-shop", "history": history, "product": product, "n": n, "conversation_id": "c-1"}
        return store.record(s, request, actor="test").body

    return make


def count(db: Database, model: type[Base], **where: Any) -> int:
    with db.session() as s:
        q = select(func.count()).select_from(model)
        for name, value in where.items():
            q = q.where(getattr(model, name) == value)
        return int(s.scalar(q) or 0)


def test_schema_matches_the_models(db: Database) -> None:
    assert db.revision() == "0001"
    assert db.ready()
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    assert db.migrate() == "0001"  # running it again changes nothing


def test_every_suggestion_is_kept_with_what_it_was_made_from(store: DraftStore, db: Database,
                                                               suggest: Callable[..., dict[str, Any]]) -> None:
    s = suggest()
    with db.session() as session:
        row = session.get(Suggestion, s["id"])
        assert row is not None
        assert row.shop == "demo-shop" and row.conversation_id == "c-1" and row.created_by == "test"
        assert row.intent == s["intent"] == "bargain" and row.backend == "offline"
        assert row.request["history"] == [{"role": "buyer", "text": "能便宜点吗"}]
        assert row.usage == s["usage"] and row.latency_ms == s["latency_ms"]
        assert row.understanding["beyond_authority"] == ["discount"]
    for rank, c in enumerate(s["candidates"]):
        d = store.get(c["id"])
        assert (d["state"], d["version"], d["text"], d["original_text"]) == ("suggested", 1, c["text"], c["text"])
        assert d["citations"] == c["citations"] and d["violations"] == c["violations"]
        assert d["verdict"] == c["verdict"] and d["escalate"] == c["escalate"]
        assert d["history"] == [{"role": "buyer", "text": "能便宜点吗"}] and d["question"] == "能便宜点吗"
        assert d["audit"] == []
    assert count(db, Draft, suggestion_id=s["id"]) == len(s["candidates"]) == 3


def test_lifecycle_approve_then_sent(store: DraftStore, suggest: Callable[..., dict[str, Any]]) -> None:
    draft = suggest()["candidates"][0]["id"]
    approved = store.act(draft, "approve", actor="k1", agent="小杞").body
    assert approved["state"] == "approved" and approved["version"] == 2 and approved["decided_at"]
    with pytest.raises(Conflict) as twice:
        store.act(draft, "approve", actor="k1")
    assert twice.value.current is not None and twice.value.current["state"] == "approved"
    with pytest.raises(Conflict):
        store.act(draft, "edit", actor="k1", text="亲，新的说法")
    sent = store.act(draft, "sent", actor="k1").body
    assert sent["state"] == "sent" and sent["sent_at"]
    audit = store.audit(draft)
    assert [(a["action"], a["before"]["state"], a["after"]["state"]) for a in audit] == [
        ("approve", "suggested", "approved"), ("sent", "approved", "sent")]
    assert audit[0]["actor"] == "k1" and audit[0]["agent"] == "小杞" and audit[0]["at"]


def test_an_edit_is_checked_again_and_a_blocked_edit_needs_an_override(
        store: DraftStore, suggest: Callable[..., dict[str, Any]]) -> None:
    draft = suggest()["candidates"][0]["id"]
    edited = store.act(draft, "edit", actor="k1", text="亲，给您打个9折，59.9元的按53.9元算").body
    assert edited["state"] == "edited" and edited["edited"] and edited["verdict"] == "block"
    assert any(v["category"] == "authority" for v in edited["violations"])
    with pytest.raises(OverrideRequired) as refused:
        store.act(draft, "approve", actor="k1")
    assert refused.value.current is not None and refused.value.current["state"] == "edited"
    with pytest.raises(OverrideRequired):
        store.act(draft, "approve", actor="k1", override=True)  # an override needs its reason
    approved = store.act(draft, "approve", actor="k1", override=True, reason="主管已批准本单九折").body
    assert approved["state"] == "approved" and approved["override_reason"] == "主管已批准本单九折"
    audit = store.audit(draft)
    assert audit[0]["detail"]["verdict"] == "block"
    assert audit[1]["detail"] == {"reason": "主管已批准本单九折", "override": True}
    assert audit[0]["before"]["text"] != audit[0]["after"]["text"]


def test_an_edit_back_to_a_clean_text_passes(store: DraftStore, suggest: Callable[..., dict[str, Any]]) -> None:
    draft = suggest()["candidates"][0]["id"]
    clean = store.act(draft, "edit", actor="k1", text="亲，这款59.9元已经是页面价了，小杞没法改价，还请您理解～").body
    assert clean["verdict"] in ("pass", "warn") and clean["state"] == "edited"
    assert store.act(draft, "approve", actor="k1").body["state"] == "approved"


def test_reject_needs_a_reason_and_ends_the_draft(store: DraftStore, suggest: Callable[..., dict[str, Any]]) -> None:
    draft = suggest()["candidates"][1]["id"]
    with pytest.raises(InvalidRequest, match="reason"):
        store.act(draft, "reject", actor="k1", reason="  ")
    rejected = store.act(draft, "reject", actor="k1", reason="语气太生硬").body
    assert rejected["state"] == "rejected" and rejected["reject_reason"] == "语气太生硬"
    for action in ("approve", "edit", "sent", "reject"):
        with pytest.raises(Conflict, match="rejected"):
            store.act(draft, action, actor="k1", text="亲", reason="x")


@pytest.mark.parametrize(("action", "fields", "message"), [
    ("edit", {"text": ""}, "must not be empty"),
    ("edit", {"text": "   "}, "must not be empty"),
    ("edit", {"text": "亲" * 2001}, "over the limit"),
    ("reject", {}, "needs a reason"),
    ("delete", {}, "action: must be one of"),
])
def test_bad_actions(store: DraftStore, suggest: Callable[..., dict[str, Any]], action: str,
                     fields: dict[str, Any], message: str) -> None:
    draft = suggest()["candidates"][0]["id"]
    with pytest.raises(InvalidRequest, match=message):
        store.act(draft, action, actor="k1", **fields)
    assert store.get(draft)["version"] == 1


def test_unknown_draft_and_other_shops_drafts_look_the_same(store: DraftStore,
                                                           suggest: Callable[..., dict[str, Any]]) -> None:
    draft = suggest()["candidates"][0]["id"]
    for draft_id, shops in (("0" * 32, None), ("x" * 500, None), (draft, {"kitchen-mini"})):
        with pytest.raises(DraftNotFound, match="no draft"):
            store.get(draft_id, shops)
        with pytest.raises(DraftNotFound):
            store.act(draft_id, "approve", actor="k1", shops=shops)
    assert store.get(draft)["state"] == "suggested"


def test_a_stale_version_is_refused(store: DraftStore, suggest: Callable[..., dict[str, Any]]) -> None:
    draft = suggest()["candidates"][0]["id"]
    store.act(draft, "edit", actor="a", text="亲，您好，这款现在59.9元～", version=1)
    with pytest.raises(Conflict, match="version 2, not 1") as stale:
        store.act(draft, "approve", actor="b", version=1)
    assert stale.value.current is not None and stale.value.current["version"] == 2
    assert store.act(draft, "approve", actor="b", version=2).body["state"] == "approved"


def race(n: int, fn: Callable[[int], Any]) -> list[Any]:
    """Run fn(i) in n threads released at the same moment; results or exceptions."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = fn(i)
        except Exception as exc:  # noqa: BLE001 - collected for the assertions
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


@pytest.mark.parametrize("action", ["approve", "edit", "reject"])
def test_racing_agents_exactly_one_wins(store: DraftStore, db: Database, suggest: Callable[..., dict[str, Any]],
                                        action: str) -> None:
    for _ in range(3):
        draft = suggest()["candidates"][0]["id"]
        results = race(8, lambda i: store.act(draft, action, actor=f"agent-{i}", text=f"亲，第{i}位客服的回复",
                                              reason=f"理由{i}", version=1))
        wins = [r for r in results if not isinstance(r, Exception)]
        losses = [r for r in results if isinstance(r, Exception)]
        assert len(wins) == 1, results
        assert all(isinstance(r, Conflict) and r.current is not None for r in losses), losses
        assert all(r.current["version"] == 2 for r in losses)  # type: ignore[union-attr]
        assert count(db, AuditEntry, draft_id=draft) == 1
        assert store.get(draft)["version"] == 2


def test_racing_agents_without_a_version_still_one_wins(store: DraftStore, db: Database,
                                                        suggest: Callable[..., dict[str, Any]]) -> None:
    draft = suggest()["candidates"][0]["id"]
    results = race(8, lambda i: store.act(draft, "approve", actor=f"agent-{i}"))
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, Exception))
    assert count(db, AuditEntry, draft_id=draft) == 1


def idem(key: str, body: Any, path: str = "/v1/drafts/x/approve") -> Idempotency:
    made = Idempotency.of(key, "k1", "POST", path, body)
    assert made is not None
    return made


def test_a_retried_action_returns_the_first_answer_and_writes_nothing(
        store: DraftStore, db: Database, suggest: Callable[..., dict[str, Any]]) -> None:
    draft = suggest()["candidates"][0]["id"]
    key = idem("retry-1", {"agent": "小杞"})
    first = store.act(draft, "approve", actor="k1", idem=key)
    again = store.act(draft, "approve", actor="k1", idem=key)
    assert not first.replayed and again.replayed
    assert again.body == first.body and again.status == 200
    assert count(db, AuditEntry, draft_id=draft) == 1
    assert count(db, IdempotencyRecord, key="retry-1") == 1
    # The same key for another request is refused, and changes nothing.
    with pytest.raises(IdempotencyMismatch, match="different request"):
        store.act(draft, "sent", actor="k1", idem=idem("retry-1", {}, "/v1/drafts/x/sent"))
    assert store.get(draft)["state"] == "approved"


def test_concurrent_retries_with_one_key_all_get_the_one_answer(
        store: DraftStore, db: Database, suggest: Callable[..., dict[str, Any]]) -> None:
    for round_ in range(4):  # the interleavings differ from round to round
        draft = suggest()["candidates"][0]["id"]
        key = idem(f"same-key-{round_}", {})
        results = race(6, lambda i: store.act(draft, "approve", actor="k1", idem=key))
        assert all(not isinstance(r, Exception) for r in results), results
        assert len({r.body["version"] for r in results}) == 1
        assert sum(not r.replayed for r in results) == 1
        assert count(db, AuditEntry, draft_id=draft) == 1


def test_a_retried_suggestion_is_stored_once(store: DraftStore, db: Database, demo: Services) -> None:
    history = [{"role": "buyer", "text": "什么时候发货"}]
    request = {"shop": "demo-shop", "history": history, "product": None, "n": 2, "conversation_id": None}
    key = idem("sugg-1", request, "/v1/suggestions")
    first = store.record(demo.pipeline.suggest("demo-shop", history, n=2).as_dict(), request, "k1", key)
    # A retry drafts again (new ids), but the store answers with the first suggestion.
    again = store.record(demo.pipeline.suggest("demo-shop", history, n=2).as_dict(), request, "k1", key)
    assert again.replayed and again.body["id"] == first.body["id"]
    assert [c["id"] for c in again.body["candidates"]] == [c["id"] for c in first.body["candidates"]]
    assert store.replay(key) is not None and store.replay(key).body["id"] == first.body["id"]  # type: ignore[union-attr]
    assert count(db, Suggestion) == 1 and count(db, Draft) == 2


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "中文"])
def test_malformed_idempotency_keys(key: str) -> None:
    with pytest.raises(InvalidRequest, match="Idempotency-Key"):
        Idempotency.of(key, "k1", "POST", "/v1/suggestions", {})


def test_a_database_that_is_down_fails_fast() -> None:
    began = time.monotonic()
    db = Database("postgresql+psycopg://postgres@127.0.0.1:9/test", connect_timeout=2)
    with pytest.raises(StoreUnavailable, match="the database failed"):
        db.ping()
    with pytest.raises(StoreUnavailable):
        DraftStore(db).get("0" * 32)
    assert time.monotonic() - began < 10


def test_an_unwritable_sqlite_path_is_a_clear_error(tmp_path: Any) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreUnavailable, match="cannot create the database folder"):
        Database(f"sqlite:///{blocker}/huashu.db").migrate()
