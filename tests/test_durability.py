"""A server killed with SIGKILL in the middle of writing: the database stays consistent and
no acknowledged action is lost; retries after the restart finish the rest exactly once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.store.db import Database
from service.store.drafts import DraftStore
from tests.conftest import free_port

DRAFTS = 400


def seed(db: Database) -> list[str]:
    store = DraftStore(db)
    ids: list[str] = []
    for i in range(DRAFTS // 4):
        candidates = [{"id": uuid.uuid4().hex, "text": f"亲，第{i}条回复，候选{j}", "citations": [],
                       "verdict": "pass", "violations": [], "escalate": False} for j in range(4)]
        suggestion = {"id": uuid.uuid4().hex, "intent": "other", "backend": "offline", "candidates": candidates,
                      "usage": {}, "latency_ms": 1.0, "notes": []}
        store.record(suggestion, {"shop": "demo-shop", "history": [{"role": "buyer", "text": f"问题{i}"}]}, "seed")
        ids += [c["id"] for c in candidates]
    return ids


def start(data: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HUASHU_DATA_DIR": str(data), "ANONYMIZED_TELEMETRY": "False"}
    env = {k: v for k, v in env.items() if not k.startswith("OPENAI_")}
    log = data.parent / "server.log"
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "service.api.app:create_app",
                                 "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code in (200, 503):
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    proc.wait(10)
    pytest.fail(f"server did not start: {log.read_text(errors='replace')[-2000:]}")


@pytest.fixture
def data(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "data"


def test_sigkill_mid_write_loses_no_acknowledged_action(data: Path) -> None:
    db = Database(f"sqlite:///{data / 'huashu.db'}")
    db.migrate()
    ids = seed(db)
    db.dispose()
    port = free_port()
    server = start(data, port)
    acked: dict[str, str] = {}      # draft -> idempotency key, answered 200
    tried: dict[str, str] = {}      # every request sent
    lock = threading.Lock()
    stop = threading.Event()

    def agent(share: list[str]) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            for draft in share:
                if stop.is_set():
                    return
                key = f"dur-{draft}"
                with lock:
                    tried[draft] = key
                try:
                    r = http.post(f"/v1/drafts/{draft}/approve", headers={"Idempotency-Key": key},
                                  json={"agent": "dur"})
                except httpx.HTTPError:
                    return  # the server died under us: this one is not acknowledged
                if r.status_code == 200:
                    with lock:
                        acked[draft] = key

    threads = [threading.Thread(target=agent, args=(ids[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(acked) < DRAFTS // 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.send_signal(signal.SIGKILL)  # mid-stream: requests are in flight
    server.wait(10)
    stop.set()
    for t in threads:
        t.join(30)
    assert DRAFTS // 3 <= len(acked) < DRAFTS, "the kill should land in the middle of the run"

    with sqlite3.connect(data / "huashu.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        state = dict(conn.execute("SELECT id, state FROM drafts"))
        audits = dict(conn.execute("SELECT draft_id, count(*) FROM audit_log GROUP BY draft_id"))
        keys = {k for (k,) in conn.execute("SELECT key FROM idempotency")}
    for draft in acked:  # every acknowledged approval is there, once
        assert state[draft] == "approved" and audits.get(draft) == 1, draft
    for draft, s in state.items():  # a change never without its audit entry, nor the reverse
        assert (s == "approved") == (audits.get(draft, 0) == 1), draft
        assert (s == "approved") == (f"dur-{draft}" in keys), draft

    # Restart; retry everything that was sent, with the same keys: each lands exactly once.
    server = start(data, port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            for draft, key in tried.items():
                r = http.post(f"/v1/drafts/{draft}/approve", headers={"Idempotency-Key": key}, json={"agent": "dur"})
                assert r.status_code == 200, r.text
                assert (r.headers.get("idempotent-replayed") == "true") == (state[draft] == "approved")
            learned = httpx.post(f"http://127.0.0.1:{port}/v1/search", timeout=10, json={
                "shop": "demo-shop", "query": "问题1", "kind": "approved", "k": 5})
            assert learned.status_code in (200, 404)  # no pack ingested here: 404 is the shop
    finally:
        server.terminate()
        server.wait(10)
    with sqlite3.connect(data / "huashu.db") as conn:
        audits = dict(conn.execute("SELECT draft_id, count(*) FROM audit_log GROUP BY draft_id"))
        pending = conn.execute("SELECT count(*) FROM drafts WHERE state = 'approved' AND learned = 0").fetchone()
    assert all(audits[d] == 1 for d in tried)
    assert pending == (0,)  # approvals cut off before indexing were indexed at the restart
