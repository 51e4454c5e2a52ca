"""Guardrail quality on a labelled set of replies: precision and recall per category.

A case is one JSONL line: `{"id", "shop", "product"?, "history"?, "text", "expected":
[{"category", "evidence"}]}`; `expected: []` marks a clean reply. Per category, a case is a
true positive when the label and the checker both flag that category, a false positive when
only the checker does, a false negative when only the label does. Every miss is listed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service.errors import HuashuError
from service.evaluation.jsonl import read_cases
from service.guardrails.models import CATEGORIES
from service.guardrails.service import Guardrails


@dataclass
class GuardCase:
    id: str
    shop: str
    text: str
    expected: set[str]
    evidence: list[str]
    product: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    line: int = 0


@dataclass
class CategoryScore:
    category: str
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


@dataclass
class GuardEval:
    cases: int
    errors: list[str]
    scores: list[CategoryScore]
    misses: list[dict[str, Any]]
    clean_passed: int
    clean_total: int
    checks_per_second: float
    checked: int = 0  # cases actually checked (the others are in `errors`)


def load_guard_cases(path: Path) -> tuple[list[GuardCase], list[str]]:
    def parse(data: dict[str, Any], line: int) -> GuardCase:
        expected = data["expected"]
        categories = {str(e["category"]) for e in expected}
        if categories - set(CATEGORIES):
            raise ValueError(f"unknown category {sorted(categories - set(CATEGORIES))}")
        return GuardCase(id=str(data["id"]), shop=str(data["shop"]), text=str(data["text"]),
                         expected=categories, evidence=[str(e.get("evidence", "")) for e in expected],
                         product=data.get("product"), history=data.get("history") or [], line=line)

    return read_cases(path, parse)


def evaluate_guardrails(guardrails: Guardrails, cases: list[GuardCase],
                        errors: list[str] | None = None) -> GuardEval:
    errors = list(errors or [])
    scores = {c: CategoryScore(c) for c in CATEGORIES}
    misses = []
    clean_passed = clean_total = checked = 0
    began = time.perf_counter()
    for case in cases:
        try:
            result = guardrails.check(case.shop, case.text, product=case.product, history=case.history)
        except HuashuError as exc:
            errors.append(f"case {case.id} (line {case.line}): {exc.message}")
            continue
        checked += 1
        found = result.categories()
        for category in CATEGORIES:
            want, got = category in case.expected, category in found
            if want and got:
                scores[category].tp += 1
            elif got:
                scores[category].fp += 1
            elif want:
                scores[category].fn += 1
        if not case.expected:
            clean_total += 1
            clean_passed += result.verdict == "pass"
        if found != case.expected:
            misses.append({
                "id": case.id, "text": case.text, "expected": sorted(case.expected),
                "found": sorted(found), "evidence": case.evidence,
                "violations": [f"{v.rule} “{case.text[v.span[0]:v.span[1]]}”" for v in result.violations],
            })
    elapsed = time.perf_counter() - began
    return GuardEval(cases=len(cases), errors=errors, scores=list(scores.values()), misses=misses,
                     clean_passed=clean_passed, clean_total=clean_total,
                     checks_per_second=len(cases) / elapsed if elapsed else 0.0, checked=checked)
