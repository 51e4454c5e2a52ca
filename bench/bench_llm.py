"""huashu's own overhead around an LLM, against the local OpenAI-compatible fake server that
answers at once: suggestion latency (all of it is huashu's: retrieval, prompt, client,
parsing, guardrails), and how long the first streamed token takes to reach an HTTP client
of a real uvicorn server after the LLM server sent it. Prints a table; asserts nothing.

    .venv/bin/python bench/bench_llm.py [--requests 200] [--golden eval/golden-demo.jsonl eval/golden-kitchen.jsonl]

Also: the prompt tokens of the golden sets' conversations (multi-turn, as the evaluators send
them), the figure that sizes an LLM bill.

Targets (issue 3): overhead p50 <= 20 ms; first token to the client <= 50 ms after the LLM sends it.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.api.app import create_app  # noqa: E402
from service.config import Settings, Timeouts  # noqa: E402
from service.container import Services  # noqa: E402
from service.evaluation.golden import load_golden  # noqa: E402
from service.knowledge.ingest import ingest_pack  # noqa: E402
from service.tokens import count_tokens  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI, Stream, completion  # noqa: E402

REPLY = json.dumps({"candidates": [
    {"text": "亲，这款特级袋装59.9元，已经是页面标价了哦～", "sources": ["product:P003"]},
    {"text": "亲，价格小杞改不了，这单可以送您一份试吃装，您看可以吗？", "sources": ["policy:gifts"]},
    {"text": "亲，理解您想买得划算，小杞帮您问问主管，有消息马上告诉您。", "sources": ["policy:escalation"]},
]}, ensure_ascii=False)
MESSAGES = ["能便宜点吗", "黑枸杞孕妇能吃吗", "什么时候发货", "满多少包邮", "在吗", "这个保质期多久"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--golden", type=Path, nargs="*",
                        default=[ROOT / "eval" / "golden-demo.jsonl", ROOT / "eval" / "golden-kitchen.jsonl"])
    args = parser.parse_args()
    fake = FakeOpenAI().start()
    data = Path(tempfile.mkdtemp(prefix="huashu-bench-"))
    settings = Settings(data_dir=data, llm_base_url=fake.base_url, llm_model="fake-chat",
                        timeouts=Timeouts(retries=0))
    svc = Services(settings)
    ingest_pack(ROOT / "knowledge" / "demo-shop", svc.index, svc.embedder, svc.lexical_store)
    ingest_pack(ROOT / "knowledge" / "kitchen-shop", svc.index, svc.embedder, svc.lexical_store)

    golden_tokens: dict[str, list[int]] = {}
    for path in args.golden:
        cases, _ = load_golden(path)
        for case in cases:
            fake.script("/chat/completions", completion(REPLY))
            svc.pipeline.suggest(case.shop, case.history, product=case.product)
            golden_tokens.setdefault(path.name, []).append(
                sum(count_tokens(m["content"]) for m in fake.requests[-1][1]["messages"]))

    overhead, prompt_tokens = [], []
    for i in range(args.requests + 5):
        fake.script("/chat/completions", completion(REPLY))
        began = time.perf_counter()
        s = svc.pipeline.suggest("demo-shop", [{"role": "buyer", "text": MESSAGES[i % len(MESSAGES)]}],
                                 product="P003")
        if i >= 5:  # warm-up
            overhead.append((time.perf_counter() - began) * 1000)
            prompt_tokens.append(sum(count_tokens(m["content"]) for m in fake.requests[-1][1]["messages"]))
        assert s.backend == "llm"

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(services=svc), host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    first_token = []
    with httpx.Client(timeout=10) as client:
        for i in range(min(args.requests, 50)):
            stream = Stream([REPLY[j:j + 8] for j in range(0, len(REPLY), 8)], interval=0.002)
            fake.script("/chat/completions", stream)
            body = {"shop": "demo-shop", "product": "P003", "history": [{"role": "buyer", "text": "能便宜点吗"}]}
            with client.stream("POST", f"http://127.0.0.1:{port}/v1/suggestions/stream", json=body) as r:
                seen = False
                for line in r.iter_lines():  # read to the end, timing the first token event
                    if not seen and line.startswith("data: ") and '"text"' in line:
                        first_token.append((time.perf_counter() - stream.sent_at[0]) * 1000)
                        seen = True
    server.should_exit = True
    thread.join(timeout=5)
    fake.stop()

    q = statistics.quantiles(overhead, n=100)
    table = Table(title=f"bench_llm: local LLM answering at once, {len(overhead)} suggestions")
    for column in ("measure", "p50", "p95", "p99", "target"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    table.add_row("huashu overhead per suggestion (ms)", f"{statistics.median(overhead):.1f}", f"{q[94]:.1f}",
                  f"{q[98]:.1f}", "p50 <= 20")
    ft = statistics.quantiles(first_token, n=100)
    table.add_row("first streamed token, LLM -> HTTP client (ms)", f"{statistics.median(first_token):.1f}",
                  f"{ft[94]:.1f}", f"{ft[98]:.1f}", "<= 50")
    table.add_row("prompt tokens per suggestion", f"{statistics.mean(prompt_tokens):.0f} mean",
                  f"{statistics.quantiles(prompt_tokens, n=100)[94]:.0f}", "", "")
    for name, tokens in golden_tokens.items():
        table.add_row(f"prompt tokens, {name} ({len(tokens)} conversations)", f"{statistics.mean(tokens):.0f} mean",
                      f"{statistics.quantiles(tokens, n=100)[94]:.0f}", f"{max(tokens)} max",
                      f"<= {settings.llm_prompt_budget}")
    Console().print(table)


if __name__ == "__main__":
    main()
