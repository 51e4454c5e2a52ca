"""Offline suggestion latency on the synthetic 20,000-product pack, and on the demo shop.
Prints a table; asserts nothing.

    .venv/bin/python bench/bench_suggestions.py [--products 20000] [--requests 300]

Target (issue 3): offline suggestion p50 <= 30 ms, p99 <= 100 ms on the 20,000-product index.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_retrieval import QUESTIONS, synthetic_pack  # noqa: E402

from service.config import Settings  # noqa: E402
from service.container import Services  # noqa: E402
from service.knowledge.ingest import ingest_pack  # noqa: E402

DEMO_MESSAGES = ["能便宜点吗", "黑枸杞孕妇能吃吗", "什么时候发货", "满多少包邮", "收到的核桃有哈喇味",
                 "在吗", "多送两袋呗", "快递三天没动了", "这个保质期多久", "能开发票吗"]


def measure(svc: Services, shop: str, requests: list[tuple[str, str | None]]) -> list[float]:
    svc.pipeline.suggest(shop, [{"role": "buyer", "text": "在吗"}])  # load the shop untimed
    timings = []
    for text, product in requests:
        began = time.perf_counter()
        svc.pipeline.suggest(shop, [{"role": "buyer", "text": text}], product=product, n=3)
        timings.append((time.perf_counter() - began) * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="huashu-bench-"))
    try:
        svc = Services(Settings(data_dir=work / "data", chroma_url=None, embeddings_base_url=None))
        ingest_pack(ROOT / "knowledge" / "demo-shop", svc.index, svc.embedder, svc.lexical_store)
        rng = random.Random(5)
        demo = measure(svc, "demo-shop", [(rng.choice(DEMO_MESSAGES), rng.choice([None, "P003", "P027"]))
                                          for _ in range(args.requests)])
        (work / "pack").mkdir()
        names = synthetic_pack(work / "pack", args.products)
        ingest_pack(work / "pack", svc.index, svc.embedder, svc.lexical_store)
        big = measure(svc, "bench-shop", [(rng.choice(names).split()[0][-5:] + rng.choice(QUESTIONS),
                                           rng.choice([None, f"S{rng.randrange(args.products):05d}"]))
                                          for _ in range(args.requests)])
        table = Table(title=f"bench_suggestions: offline drafter, n=3, {args.requests} requests each")
        for column in ("index", "p50 ms", "p95 ms", "p99 ms", "target"):
            table.add_column(column, justify="left" if column == "index" else "right")
        for label, t, target in (("demo shop (46 products)", demo, ""),
                                 (f"synthetic ({args.products:,} products)", big, "p50 <= 30, p99 <= 100")):
            q = statistics.quantiles(t, n=100)
            table.add_row(label, f"{statistics.median(t):.1f}", f"{q[94]:.1f}", f"{q[98]:.1f}", target)
        Console().print(table)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
