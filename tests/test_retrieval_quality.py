"""Retrieval quality gates on the labelled sets (deterministic: offline embedding, fixed data).

The issue's targets apply to eval/retrieval-demo.jsonl; eval/retrieval-heldout.jsonl was
written independently and never tuned on, and guards against overfitting the first.
"""

from __future__ import annotations

import pytest

from service.container import Services
from service.evaluation.retrieval import MODES, evaluate, load_cases
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def results(demo: Services) -> dict[str, dict[str, object]]:
    out = {}
    for name in ("retrieval-demo", "retrieval-heldout"):
        cases, errors = load_cases(ROOT / "eval" / f"{name}.jsonl")
        assert not errors
        out[name] = {m.label: m for m in evaluate(demo.retriever, cases, modes=MODES[:3]).modes}
    return out  # type: ignore[return-value]


def test_demo_set_meets_targets(results) -> None:  # type: ignore[no-untyped-def]
    hybrid, dense, bm25 = (results["retrieval-demo"][k] for k in ("hybrid", "dense-only", "bm25-only"))
    assert hybrid.recall_at_5 >= 0.95
    assert hybrid.mrr >= 0.85
    assert hybrid.mrr > dense.mrr and hybrid.mrr > bm25.mrr
    assert hybrid.recall_at_5 > dense.recall_at_5 and hybrid.recall_at_5 > bm25.recall_at_5


def test_heldout_set_does_not_regress(results) -> None:  # type: ignore[no-untyped-def]
    hybrid = results["retrieval-heldout"]["hybrid"]
    assert hybrid.recall_at_5 >= 0.92 and hybrid.mrr >= 0.84


def test_eval_sets_are_large_enough() -> None:
    demo, _ = load_cases(ROOT / "eval" / "retrieval-demo.jsonl")
    heldout, _ = load_cases(ROOT / "eval" / "retrieval-heldout.jsonl")
    assert len(demo) >= 150 and len(heldout) >= 100
