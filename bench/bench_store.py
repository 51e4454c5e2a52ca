"""The draft store under agents: action latency, and many agents at once against one server.
Prints tables; asserts nothing.

    .venv/bin/python bench/bench_store.py [--agents 50] [--actions 200] [--engines sqlite,postgres]

1. Latency of one draft action (approve, edit, reject, sent) in the server process's store,
   and through HTTP to a running `huashu` server, on SQLite.
2. `--agents` concurrent agents x `--actions` actions each against one server (uvicorn, one
   process), per engine. The mix: edit/approve/sent or reject on the agent's own drafts;
   every tenth action on a draft shared by all agents (races: 409s expected); every tenth
   request retried with the same Idempotency-Key. Afterwards the audit log is compared
   with what the server acknowledged: lost (acknowledged, not in the log), duplicated (in
   the log twice), and 5xx answers must all be zero.

Targets (issue 5): a draft action p50 <= 10 ms on SQLite; zero lost, duplicated or 5xx.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.config import Settings  # noqa: E402
from service.container import Services  # noqa: E402
from service.knowledge.ingest import ingest_pack  # noqa: E402
from service.store.db import Database  # noqa: E402
from service.store.drafts import DraftStore  # noqa: E402

POSTGRES = os.environ.get("HUASHU_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
EDITS = ["亲，这款59.9元已是页面价，还请您理解～", "亲，付款后24小时内发货，请您放心～", "亲，小杞帮您备注了，请稍等～"]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else 0.0


def seed(db: Database, n: int) -> list[str]:
    store, ids = DraftStore(db), []
    for i in range(0, n, 4):
        candidates = [{"id": uuid.uuid4().hex, "text": f"亲，您好，这款59.9元，候选{j}", "citations": [],
                       "verdict": "pass", "violations": [], "escalate": False} for j in range(4)]
        store.record({"id": uuid.uuid4().hex, "intent": "bargain", "backend": "offline", "candidates": candidates,
                      "usage": {}, "latency_ms": 1.0, "notes": [], "product": "P003"},
                     {"shop": "demo-shop", "history": [{"role": "buyer", "text": f"能便宜点吗{i}"}]}, "seed")
        ids += [c["id"] for c in candidates]
    return ids


def start_server(data: Path, database_url: str | None, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUASHU_", "OPENAI_"))}
    env.update(HUASHU_DATA_DIR=str(data), ANONYMIZED_TELEMETRY="False")
    if database_url:
        env["HUASHU_DATABASE_URL"] = database_url
    with (data.parent / f"server-{port}.log").open("ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "service.api.app:create_app",
                                 "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                                env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not start")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def latency(work: Path) -> dict[str, list[float]]:
    """Per action, milliseconds: in-process store, and HTTP to a live server (SQLite)."""
    svc = Services(Settings(data_dir=work / "data"))
    ingest_pack(ROOT / "knowledge" / "demo-shop", svc.index, svc.embedder, svc.lexical_store)
    svc.db.migrate()
    ids = seed(svc.db, 1200)
    out: dict[str, list[float]] = {k: [] for k in ("approve", "edit", "reject", "sent", "http approve", "http get")}
    for i, draft in enumerate(ids[:600]):
        action = ("edit", "approve", "reject")[i % 3]
        began = time.perf_counter()
        svc.drafts.act(draft, action, actor="bench", text=EDITS[i % 3], reason="bench")
        out[action].append((time.perf_counter() - began) * 1000)
        if action == "approve":
            began = time.perf_counter()
            svc.drafts.act(draft, "sent", actor="bench")
            out["sent"].append((time.perf_counter() - began) * 1000)
    svc.learning.wait()
    svc.db.dispose()
    port = free_port()
    server = start_server(work / "data", None, port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            for draft in ids[600:1200]:
                began = time.perf_counter()
                http.post(f"/v1/drafts/{draft}/approve").raise_for_status()
                out["http approve"].append((time.perf_counter() - began) * 1000)
                began = time.perf_counter()
                http.get(f"/v1/drafts/{draft}").raise_for_status()
                out["http get"].append((time.perf_counter() - began) * 1000)
    finally:
        server.terminate()
        server.wait(10)
    return out


async def agents(base: str, own: list[list[str]], hot: list[str], actions: int,
                 warm: list[str]) -> dict[str, Any]:
    acked: list[str] = []          # idempotency keys answered 200 (by any attempt)
    acked_set: set[str] = set()
    replayed: list[tuple[str, bool]] = []
    statuses: Counter[int] = Counter()
    timings: list[float] = []

    async def agent(i: int, http: httpx.AsyncClient) -> None:
        rng = random.Random(i)
        queue = list(own[i])
        plan: list[tuple[str, str, dict[str, Any]]] = []
        while len(plan) < actions:
            if rng.random() < 0.1:
                plan.append((rng.choice(hot), "approve", {}))
                continue
            draft = queue.pop()
            if rng.random() < 0.25:
                plan.append((draft, "reject", {"reason": rng.choice(["语气生硬", "答非所问", "事实有误"])}))
            else:
                if rng.random() < 0.5:
                    plan.append((draft, "edit", {"text": rng.choice(EDITS)}))
                plan += [(draft, "approve", {}), (draft, "sent", {})]
        for draft, action, body in plan[:actions]:
            key = uuid.uuid4().hex
            attempts = 2 if rng.random() < 0.1 else 1
            for attempt in range(attempts):
                began = time.perf_counter()
                for _ in range(5):  # a dropped connection is retried with the same key, as clients should
                    try:
                        r = await http.post(f"/v1/drafts/{draft}/{action}", json={**body, "agent": f"a{i}"},
                                            headers={"Idempotency-Key": key})
                        break
                    except httpx.TransportError:
                        statuses[0] += 1
                else:
                    raise RuntimeError(f"{draft} {action}: five transport errors in a row")
                timings.append((time.perf_counter() - began) * 1000)
                statuses[r.status_code] += 1
                was_replayed = r.headers.get("idempotent-replayed") == "true"
                if r.status_code == 200 and key not in acked_set:
                    acked.append(key)  # once per key, whichever attempt was answered
                    acked_set.add(key)
                if attempt == 1:
                    replayed.append((key, was_replayed or r.status_code != 200))

    limits = httpx.Limits(max_connections=len(own) + 10)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:
        # Untimed warm-up: the first edit loads the shop's guardrails, the first approval
        # opens the approved-reply index (seconds, once per process).
        (await http.post(f"/v1/drafts/{warm[0]}/edit", json={"text": EDITS[0]})).raise_for_status()
        (await http.post(f"/v1/drafts/{warm[1]}/approve")).raise_for_status()
        await asyncio.sleep(1.0)
        began = time.perf_counter()
        await asyncio.gather(*(agent(i, http) for i in range(len(own))))
        seconds = time.perf_counter() - began
    return {"acked": acked, "statuses": statuses, "seconds": seconds, "timings": timings, "retries": replayed}


def concurrency(work: Path, engine: str, n_agents: int, actions: int) -> dict[str, Any]:
    data = work / f"data-{engine}"
    url = None
    if engine == "postgres":
        import psycopg

        schema = f"huashu_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(POSTGRES.replace("postgresql+psycopg", "postgresql"), autocommit=True) as c:
            c.execute(f'CREATE SCHEMA "{schema}"')
        url = f"{POSTGRES}?options=-csearch_path%3D{schema}"
    svc = Services(Settings(data_dir=data, database_url=url))
    ingest_pack(ROOT / "knowledge" / "demo-shop", svc.index, svc.embedder, svc.lexical_store)
    svc.db.migrate()
    per_agent = actions  # each action needs at most one fresh draft
    ids = seed(svc.db, n_agents * per_agent + 44)
    warm, hot, rest = ids[:2], ids[2:42], ids[44:]
    own = [rest[i * per_agent:(i + 1) * per_agent] for i in range(n_agents)]
    svc.db.dispose()
    port = free_port()
    server = start_server(data, url, port)
    try:
        result = asyncio.run(agents(f"http://127.0.0.1:{port}", own, hot, actions, warm))
    finally:
        server.terminate()
        server.wait(20)
    db = Database(url or f"sqlite:///{data / 'huashu.db'}")
    with db.engine.connect() as conn:
        logged = Counter(k for (k,) in conn.execute(text(
            "SELECT idempotency_key FROM audit_log WHERE actor = 'local' AND idempotency_key IS NOT NULL")))
        hot_wins = conn.execute(text("SELECT count(*) FROM audit_log WHERE action = 'approve' AND draft_id IN "
                                     "(" + ",".join(f"'{h}'" for h in hot) + ")")).scalar()
    db.dispose()
    if engine == "postgres":
        import psycopg

        with psycopg.connect(POSTGRES.replace("postgresql+psycopg", "postgresql"), autocommit=True) as c:
            c.execute(f'DROP SCHEMA "{schema}" CASCADE')
    acked = Counter(result["acked"])
    return {
        "engine": engine, "requests": sum(n for st, n in result["statuses"].items() if st), "seconds": result["seconds"],
        "lost": sum(1 for k in acked if logged.get(k, 0) == 0),
        "duplicated": sum(1 for n in logged.values() if n > 1),
        "unacknowledged_logged": sum(1 for k in logged if k not in acked),
        "5xx": sum(n for s, n in result["statuses"].items() if s >= 500),
        "409": result["statuses"].get(409, 0), "statuses": dict(result["statuses"]),
        "dropped": result["statuses"].get(0, 0),
        "retries_replayed": sum(1 for _, ok in result["retries"] if ok), "retries": len(result["retries"]),
        "hot_wins": hot_wins, "p50": pct(result["timings"], 50), "p95": pct(result["timings"], 95),
        "p99": pct(result["timings"], 99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--actions", type=int, default=200)
    parser.add_argument("--engines", default="sqlite,postgres")
    args = parser.parse_args()
    console = Console(width=200)
    work = Path(tempfile.mkdtemp(prefix="huashu-bench-store-"))
    try:
        lat = latency(work)
        table = Table(title="one draft action, SQLite (ms)")
        for column in ("action", "n", "p50", "p95", "p99"):
            table.add_column(column, justify="right" if column != "action" else "left")
        for name, values in lat.items():
            table.add_row(name, str(len(values)), f"{pct(values, 50):.2f}", f"{pct(values, 95):.2f}",
                          f"{pct(values, 99):.2f}")
        table.caption = "store: in the server process; http: a client of a live server on loopback"
        console.print(table)

        rows = []
        for engine in args.engines.split(","):
            try:
                rows.append(concurrency(work, engine.strip(), args.agents, args.actions))
            except Exception as exc:  # noqa: BLE001 - a missing engine is reported, not fatal
                console.print(f"{engine}: failed ({type(exc).__name__}: {exc!r:.300})")
                for log in work.glob("server-*.log"):
                    console.print(log.read_text(errors="replace")[-3000:], markup=False)
        table = Table(title=f"{args.agents} agents x {args.actions} actions against one server")
        columns = ("engine", "requests", "seconds", "actions/s", "p50 ms", "p95 ms", "p99 ms", "lost",
                   "duplicated", "5xx", "409", "retries replayed", "hot drafts won", "dropped conns")
        for column in columns:
            table.add_column(column, justify="right" if column != "engine" else "left")
        for r in rows:
            table.add_row(r["engine"], str(r["requests"]), f"{r['seconds']:.1f}",
                          f"{r['requests'] / r['seconds']:.0f}", f"{r['p50']:.1f}", f"{r['p95']:.1f}",
                          f"{r['p99']:.1f}", str(r["lost"]), str(r["duplicated"] + r["unacknowledged_logged"]),
                          str(r["5xx"]), str(r["409"]), f"{r['retries_replayed']}/{r['retries']}",
                          f"{r['hot_wins']}/40", str(r["dropped"]))
        table.caption = ("lost: acknowledged but not in the audit log; duplicated: logged twice, or logged "
                         "without being acknowledged; 409s come from the shared drafts (one winner each); "
                         "dropped conns: connections closed under a request, retried with the same key")
        console.print(table)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
