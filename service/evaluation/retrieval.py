"""Retrieval quality on a labelled question set, per retrieval mode.

A case is one JSONL line: `{"id", "shop", "query", "product"?, "relevant": [doc ids]}`;
each labelled document answers the question. Reported, averaged over cases:
- recall@k: 1 when at least one relevant document is in the top k (the hit rate);
- all@k: capped recall (BEIR's R_cap@k), the share of the relevant documents in the top k
  out of min(k, number relevant) — stricter: every labelled document must be found;
- MRR: the reciprocal rank of the first relevant document (0 if none in the top `depth`).
A malformed line is reported with its line number; the rest still run.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service.errors import HuashuError
from service.evaluation.jsonl import read_cases
from service.retrieval.hybrid import HybridRetriever

# (label, ranker, understanding: product resolution + intent boost + query expansion)
MODES: list[tuple[str, str, bool]] = [
    ("hybrid", "hybrid", True),
    ("dense-only", "dense", True),
    ("bm25-only", "lexical", True),
    ("hybrid, no understanding", "hybrid", False),
    ("dense-only, no understanding", "dense", False),
    ("bm25-only, no understanding", "lexical", False),
]


@dataclass
class Case:
    id: str
    shop: str
    query: str
    relevant: list[str]
    product: str | None = None
    line: int = 0


@dataclass
class ModeResult:
    label: str
    recall_at_1: float
    recall_at_5: float
    all_at_5: float
    mrr: float
    latency_p50_ms: float
    misses: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RetrievalEval:
    cases: int
    errors: list[str]
    modes: list[ModeResult]


def load_cases(path: Path) -> tuple[list[Case], list[str]]:
    def parse(data: dict[str, Any], line: int) -> Case:
        relevant = data["relevant"]
        if not isinstance(relevant, list) or not relevant or not all(isinstance(r, str) for r in relevant):
            raise ValueError("relevant: must be a non-empty list of document ids")
        return Case(id=str(data["id"]), shop=str(data["shop"]), query=str(data["query"]),
                    relevant=relevant, product=data.get("product"), line=line)

    return read_cases(path, parse, "eval set")


def evaluate(retriever: HybridRetriever, cases: list[Case], errors: list[str] | None = None,
             depth: int = 10, modes: list[tuple[str, str, bool]] = MODES) -> RetrievalEval:
    errors = list(errors or [])
    results = []
    for label, mode, resolve in modes:
        r1, r5, a5, rr, lat = [], [], [], [], []
        misses = []
        for case in cases:
            began = time.perf_counter()
            try:
                outcome = retriever.search(case.shop, case.query, product=case.product, k=depth,
                                           mode=mode, understand=resolve)  # type: ignore[arg-type]
            except HuashuError as exc:
                if label == modes[0][0]:
                    errors.append(f"case {case.id} (line {case.line}): {exc.message}")
                r1.append(0.0); r5.append(0.0); a5.append(0.0); rr.append(0.0)  # noqa: E702
                continue
            lat.append((time.perf_counter() - began) * 1000)
            ranked = [r.source_id for r in outcome.results]
            rel = set(case.relevant)
            first = next((i for i, doc in enumerate(ranked, start=1) if doc in rel), None)
            r1.append(1.0 if first == 1 else 0.0)
            r5.append(1.0 if first is not None and first <= 5 else 0.0)
            a5.append(len(rel & set(ranked[:5])) / min(5, len(rel)))
            rr.append(1 / first if first else 0.0)
            if a5[-1] < 1.0:
                misses.append({"id": case.id, "query": case.query, "relevant": case.relevant,
                               "got": ranked[:5]})
        n = max(len(cases), 1)
        results.append(ModeResult(
            label=label, recall_at_1=sum(r1) / n, recall_at_5=sum(r5) / n, all_at_5=sum(a5) / n,
            mrr=sum(rr) / n,
            latency_p50_ms=statistics.median(lat) if lat else 0.0, misses=misses,
        ))
    return RetrievalEval(cases=len(cases), errors=errors, modes=results)
