"""Guardrail quality gates on the labelled sets (deterministic). On guardrails.jsonl the
floors are the issue's targets (0.95 everywhere); on the held-out set they sit just below
what the rules measure, so a rule change that loses precision or recall fails here."""

from __future__ import annotations

import pytest

from service.container import Services
from service.evaluation.guardrails import evaluate_guardrails, load_guard_cases
from tests.conftest import ROOT

FLOORS = {
    "guardrails": {"authority": (0.95, 0.95), "grounding": (0.95, 0.95), "politeness": (0.95, 0.95),
                   "compliance": (0.95, 0.95)},
    "guardrails-heldout": {"authority": (0.85, 0.65), "grounding": (0.75, 0.60), "politeness": (0.95, 0.85),
                           "compliance": (0.95, 0.80)},
}


@pytest.mark.parametrize("name", list(FLOORS))
def test_guardrail_floors(demo: Services, name: str) -> None:
    cases, errors = load_guard_cases(ROOT / "eval" / f"{name}.jsonl")
    assert not errors and len(cases) >= 100
    result = evaluate_guardrails(demo.guardrails, cases)
    assert not result.errors
    for score in result.scores:
        precision, recall = FLOORS[name][score.category]
        assert score.precision >= precision, (score.category, score.precision)
        assert score.recall >= recall, (score.category, score.recall)
    assert result.clean_passed >= 0.9 * result.clean_total
    if name == "guardrails":
        assert result.clean_passed == result.clean_total  # not one clean reply warned or blocked


def test_labelled_set_is_large_enough() -> None:
    cases, _ = load_guard_cases(ROOT / "eval" / "guardrails.jsonl")
    assert len(cases) >= 300
    clean = sum(1 for c in cases if not c.expected)
    assert 0.3 <= clean / len(cases) <= 0.5
    for category in ("authority", "grounding", "politeness", "compliance"):
        assert sum(category in c.expected for c in cases) >= 40
