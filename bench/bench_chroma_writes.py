"""What an embedded Chroma upsert costs per document, by what is written and how the HNSW
index is built: the measurements behind the ingest's layout (service/retrieval/store.py).
Prints tables; asserts nothing.

    .venv/bin/python bench/bench_chroma_writes.py [--products 5000] [--hnsw-products 20000]

Vectors are the built-in embedding of the synthetic pack of bench_retrieval.py. CPU time
counts every thread of this process (Chroma inserts on its own threads), so it is steadier
than wall time on a shared machine. Recall@50 is the share of a query's true 50 nearest
documents (by exact cosine, ties included) that Chroma returns, over 200 queries like
bench_retrieval's.
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
from chromadb.config import Settings as ChromaSettings
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_retrieval import QUESTIONS, synthetic_pack  # noqa: E402

from service.knowledge.documents import build_documents  # noqa: E402
from service.knowledge.pack import load_pack  # noqa: E402
from service.retrieval.embeddings import HashingEmbedder  # noqa: E402
from service.retrieval.store import HNSW  # noqa: E402


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Corpus:
    def __init__(self, work: Path, n: int) -> None:
        (work / "pack").mkdir(parents=True)
        synthetic_pack(work / "pack", n)
        docs = build_documents(load_pack(work / "pack"))
        self.ids = [d.id for d in docs]
        self.texts = [d.text for d in docs]
        self.metadatas = [d.metadata("bench-shop") for d in docs]
        self.vectors = HashingEmbedder().embed_many(self.texts)
        self.titles = [d.title for d in docs if d.kind == "fact"]


def write(work: Path, corpus: Corpus, n: int, *, dim: int = 1024, batch: int = 1000,
          documents: bool = False, metadata: str = "none", hnsw: dict[str, Any] | None = None) -> tuple[Any, float, float]:
    client = chromadb.PersistentClient(path=tempfile.mkdtemp(dir=work), settings=ChromaSettings(anonymized_telemetry=False))
    col = client.create_collection("bench", configuration={"hnsw": hnsw or {"space": "cosine"}}, embedding_function=None)
    vectors = corpus.vectors[:n, :dim].copy()
    if dim < corpus.vectors.shape[1]:
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
    began, cpu0 = time.perf_counter(), cpu()
    for start in range(0, n, batch):
        end = min(start + batch, n)
        kwargs: dict[str, Any] = {"ids": corpus.ids[start:end], "embeddings": vectors[start:end]}
        if documents:
            kwargs["documents"] = corpus.texts[start:end]
        if metadata == "all":
            kwargs["metadatas"] = corpus.metadatas[start:end]
        elif metadata == "hash":
            kwargs["metadatas"] = [{"hash": m["hash"]} for m in corpus.metadatas[start:end]]
        col.upsert(**kwargs)
    return col, (time.perf_counter() - began) / n * 1000, (cpu() - cpu0) / n * 1000


def recall(col: Any, corpus: Corpus, n: int, queries: int = 200) -> float:
    rng = random.Random(3)
    texts = []
    for _ in range(queries):
        name = rng.choice(corpus.titles)
        texts.append(rng.choice([name[-8:] + rng.choice(QUESTIONS), rng.choice(QUESTIONS), name + rng.choice(QUESTIONS)]))
    q = HashingEmbedder().embed_many(texts)
    sims = q @ corpus.vectors[:n].T
    kth = -np.sort(-sims, axis=1)[:, 49]
    position = {doc_id: i for i, doc_id in enumerate(corpus.ids[:n])}
    shares = []
    for i in range(queries):
        got = col.query(query_embeddings=[q[i]], n_results=50, include=["distances"])["ids"][0]
        shares.append(sum(sims[i, position[d]] >= kth[i] - 1e-6 for d in got) / 50)
    return float(np.mean(shares))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=5_000, help="documents for the what-is-written table")
    parser.add_argument("--hnsw-products", type=int, default=20_000, help="products of the pack for the HNSW table")
    args = parser.parse_args()
    console = Console()
    work = Path(tempfile.mkdtemp(prefix="huashu-chroma-bench-"))
    try:
        corpus = Corpus(work, args.hnsw_products)
        n = min(args.products, len(corpus.ids))
        table = Table(title=f"embedded Chroma upsert, {n:,} documents, Chroma's default HNSW settings")
        for column in ("what is written", "batch", "wall ms/doc", "CPU ms/doc"):
            table.add_column(column, justify="left" if column == "what is written" else "right")
        cases: list[tuple[str, dict[str, Any]]] = [
            ("ids + 8-d vectors", {"dim": 8}),
            ("ids + 8-d vectors + {hash}", {"dim": 8, "metadata": "hash"}),
            ("ids + 8-d vectors + 8 metadata keys", {"dim": 8, "metadata": "all"}),
            ("ids + 8-d vectors + documents", {"dim": 8, "documents": True}),
            ("ids + 8-d vectors + documents + metadata", {"dim": 8, "documents": True, "metadata": "all"}),
            ("ids + 256-d vectors", {"dim": 256}),
            ("ids + 1024-d vectors", {}),
            ("ids + 1024-d vectors + documents + metadata", {"documents": True, "metadata": "all"}),
        ] + [("ids + 1024-d vectors + documents + metadata", {"documents": True, "metadata": "all", "batch": b})
             for b in (100, 5000)] + [("ids + 1024-d vectors", {"batch": b}) for b in (100, 5000)]
        for label, kwargs in cases:
            _, wall, used = write(work, corpus, n, **kwargs)
            table.add_row(label, f"{kwargs.get('batch', 1000):,}", f"{wall:.3f}", f"{used:.3f}")
        console.print(table)

        n = len(corpus.ids)  # the whole pack: its handbook and policy documents are the hard queries' answers
        table = Table(title=f"HNSW build settings, ids + 1024-d vectors only, {n:,} documents, batches of 1,000")
        for column in ("ef_construction / ef_search / threads", "wall ms/doc", "CPU ms/doc", "recall@50"):
            table.add_column(column, justify="left" if column.startswith("ef_") else "right")
        settings: list[tuple[str, dict[str, Any]]] = [
            ("100 / 100 / all (Chroma's defaults)", {"space": "cosine"}),
            ("32 / 100 / all", {"space": "cosine", "ef_construction": 32}),
            ("16 / 200 / 1", {"space": "cosine", "ef_construction": 16, "ef_search": 200, "num_threads": 1}),
            ("32 / 200 / 1 (huashu's)", dict(HNSW)),
        ]
        for label, hnsw in settings:
            col, wall, used = write(work, corpus, n, hnsw=hnsw)
            table.add_row(label, f"{wall:.3f}", f"{used:.3f}", f"{recall(col, corpus, n):.3f}")
        console.print(table)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
