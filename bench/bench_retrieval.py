"""Retrieval benchmark: ingest speed and search latency on a synthetic 20,000-product pack,
plus retrieval quality on eval/retrieval-demo.jsonl. Prints tables; asserts nothing.

    .venv/bin/python bench/bench_retrieval.py [--products 20000] [--searches 1000]

Targets (issue 2): ingest >= 1,000 products/s offline; search p50 <= 15 ms, p99 <= 50 ms;
recall@5 >= 0.95 and MRR >= 0.85 on the demo eval set, hybrid ahead of dense and BM25.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import resource
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

from service.config import Settings  # noqa: E402
from service.container import Services  # noqa: E402
from service.evaluation.retrieval import evaluate, load_cases  # noqa: E402
from service.knowledge.ingest import ingest_pack  # noqa: E402

ORIGINS = ["宁夏中宁", "青海柴达木", "新疆若羌", "新疆和田", "云南漾濞", "内蒙古", "甘肃", "河北赞皇", "山东", "美国加州"]
KINDS = ["红枸杞", "黑枸杞", "灰枣", "骏枣", "葡萄干", "桂圆干", "无花果干", "杏干", "芒果干", "核桃", "巴旦木",
         "腰果", "开心果", "夏威夷果", "碧根果", "松子", "榛子", "每日坚果", "枸杞原浆", "枸杞芽茶"]
GRADES = ["特优", "特级", "一级", "甲级", "精选", "臻选"]
PACKS = ["罐装", "袋装", "礼盒装", "家庭装", "小包装", "散装"]
WEIGHTS = ["100g", "250g", "500g", "750g", "1000g", "1500g"]
QUESTIONS = ["多少钱", "保质期多久", "怎么吃", "孕妇能吃吗", "有货吗", "是哪里产的", "一斤多少", "能便宜点吗",
             "什么时候发货", "包邮吗", "坏了怎么办", "能退吗", "怎么保存"]


def synthetic_pack(root: Path, n: int, seed: int = 7) -> list[str]:
    """A pack of `n` products built from the demo shop's policy and handbook."""
    rng = random.Random(seed)
    shutil.copytree(ROOT / "knowledge" / "demo-shop" / "handbook", root / "handbook")
    shop = (ROOT / "knowledge" / "demo-shop" / "shop.yaml").read_text(encoding="utf-8")
    (root / "shop.yaml").write_text(shop.replace("id: demo-shop", "id: bench-shop"), encoding="utf-8")
    names = []
    with (root / "products.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "name", "aliases", "price", "spec", "grade", "origin", "shelf_life",
                         "storage", "usage", "not_suitable_for", "stock", "notes"])
        for i in range(n):
            kind, origin, grade = rng.choice(KINDS), rng.choice(ORIGINS), rng.choice(GRADES)
            weight, pack = rng.choice(WEIGHTS), rng.choice(PACKS)
            name = f"{origin}{grade}{kind} {weight}{pack} 款{i:05d}"
            names.append(name)
            writer.writerow([
                f"S{i:05d}", name, f"{origin[-2:]}{kind}{i:05d}|{kind}{grade}{i:05d}",
                round(rng.uniform(9.9, 399), 1), f"{weight}/{pack[:-1]}", f"{grade}级", origin,
                f"{rng.choice([6, 9, 12, 18, 24])}个月", "阴凉干燥处密封保存,开封后尽快食用",
                f"每天{rng.randint(5, 30)}克,可直接吃或泡水", "过敏体质者慎食",
                rng.randint(0, 5000), f"第{rng.randint(1, 9)}批次,{kind}颗粒饱满",
            ])
    return names


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the tokenising worker)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--searches", type=int, default=1_000)
    args = parser.parse_args()
    console = Console()
    work = Path(tempfile.mkdtemp(prefix="huashu-bench-"))
    try:
        pack = work / "pack"
        pack.mkdir()
        names = synthetic_pack(pack, args.products)
        svc = Services(Settings(data_dir=work / "data", chroma_url=None, embeddings_base_url=None))
        rss_before = peak_rss_mb()

        load = os.getloadavg()[0]
        began, cpu = time.perf_counter(), cpu_seconds()
        report = ingest_pack(pack, svc.index, svc.embedder, svc.lexical_store)
        ingest_s, ingest_cpu = time.perf_counter() - began, cpu_seconds() - cpu
        rss_ingest = peak_rss_mb()
        began = time.perf_counter()
        again = ingest_pack(pack, svc.index, svc.embedder, svc.lexical_store)
        reingest_s = time.perf_counter() - began

        rng = random.Random(11)
        retriever = svc.retriever
        began = time.perf_counter()
        retriever.search("bench-shop", "包邮吗", k=5)  # first search loads the shop's BM25 index
        cold_ms = (time.perf_counter() - began) * 1000
        latencies = []
        for _ in range(args.searches):
            name = rng.choice(names)
            query = rng.choice([name.split()[0][-5:] + rng.choice(QUESTIONS), rng.choice(QUESTIONS),
                                name.split()[0] + rng.choice(QUESTIONS)])
            t = time.perf_counter()
            retriever.search("bench-shop", query, k=5)
            latencies.append((time.perf_counter() - t) * 1000)
        rss_search = peak_rss_mb()

        table = Table(title=f"bench_retrieval: synthetic pack, {report.products:,} products, "
                            f"{report.documents:,} documents, offline embedding {svc.embedder.name}")
        # Timings scale with what else the machine runs: say how busy it was.
        table.caption = f"load average at the start of the ingest: {load:.1f} on {os.cpu_count()} CPUs"
        table.add_column("measure")
        table.add_column("value", justify="right")
        table.add_column("target", justify="right")
        table.add_row("ingest, fresh index", f"{ingest_s:.1f} s", "")
        table.add_row("ingest throughput", f"{report.products / ingest_s:,.0f} products/s", ">= 1,000")
        table.add_row("ingest CPU time (all processes)", f"{ingest_cpu:.1f} s", "")
        table.add_row("re-ingest unchanged pack", f"{reingest_s:.1f} s ({again.written} written)", "0 written")
        table.add_row("first search (loads BM25)", f"{cold_ms:.0f} ms", "")
        table.add_row(f"search p50 ({args.searches} queries)", f"{pct(latencies, 50):.1f} ms", "<= 15 ms")
        table.add_row("search p95", f"{pct(latencies, 95):.1f} ms", "")
        table.add_row("search p99", f"{pct(latencies, 99):.1f} ms", "<= 50 ms")
        table.add_row("peak RSS before ingest", f"{rss_before:,.0f} MB", "")
        table.add_row("peak RSS after ingest", f"{rss_ingest:,.0f} MB", "")
        table.add_row("peak RSS after searches", f"{rss_search:,.0f} MB", "")
        console.print(table)

        ingest_pack(ROOT / "knowledge" / "demo-shop", svc.index, svc.embedder, svc.lexical_store)
        cases, errors = load_cases(ROOT / "eval" / "retrieval-demo.jsonl")
        result = evaluate(svc.retriever, cases, errors)
        quality = Table(title=f"retrieval quality: eval/retrieval-demo.jsonl ({result.cases} cases)")
        for column in ("mode", "recall@1", "recall@5", "all@5", "MRR", "p50 ms"):
            quality.add_column(column, justify="left" if column == "mode" else "right")
        for m in result.modes:
            quality.add_row(m.label, f"{m.recall_at_1:.3f}", f"{m.recall_at_5:.3f}", f"{m.all_at_5:.3f}",
                            f"{m.mrr:.3f}", f"{m.latency_p50_ms:.1f}")
        quality.caption = "targets: hybrid recall@5 >= 0.95, MRR >= 0.85, ahead of dense-only and bm25-only"
        console.print(quality)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
