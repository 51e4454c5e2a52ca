"""Per-case metrics of a golden-set evaluation, each a short pipeline returning a value and
the reason for it (after ragas' metric results).

The reply scored is the top candidate: what an agent sees first and most often sends. A
metric that does not apply to a case (no reference, no labelled sources) has value None
and is left out of the means rather than counted as a pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sacrebleu.metrics import CHRF

from service.evaluation.golden import GoldenCase

NUMBER = re.compile(r"\d+(?:\.\d+)?")
# Characters only (word_order=0, i.e. chrF rather than chrF++): Chinese has no spaces to
# split words on, and character n-grams up to 6 already cover two- and three-character words.
_CHRF = CHRF(word_order=0)


@dataclass(frozen=True)
class MetricResult:
    name: str
    value: float | None  # None: does not apply to this case
    reason: str
    details: tuple[str, ...] = ()

    @property
    def passed(self) -> bool | None:
        return None if self.value is None else self.value >= 1.0

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "reason": self.reason, **({"details": list(self.details)} if self.details else {})}


def checks(case: GoldenCase, text: str, escalate: bool) -> MetricResult:
    """1 when every check the case has passes, else 0; `details` names each failed check.
    `must_include_any`: each group needs one of its strings; `must_not_include`: none may
    appear; `expect_escalation`: the candidate's own `escalate` flag must match."""
    if not case.has_checks():
        return MetricResult("checks", None, "the case has no checks")
    failed: list[str] = []
    for i, group in enumerate(case.must_include_any or []):
        if not any(s in text for s in group):
            failed.append(f"must_include_any[{i}]: none of {'/'.join(group)}")
    present = [s for s in case.must_not_include or [] if s in text]
    if present:
        failed.append(f"must_not_include: contains {'/'.join(present)}")
    if case.expect_escalation is not None and escalate != case.expect_escalation:
        failed.append("expect_escalation: the reply " + ("does not hand over to a supervisor"
                                                          if case.expect_escalation else "hands over to a supervisor"))
    if failed:
        return MetricResult("checks", 0.0, "; ".join(failed), tuple(failed))
    return MetricResult("checks", 1.0, "all checks pass")


def intent_accuracy(expected: str, got: str) -> MetricResult:
    """1 when the pipeline understood the buyer's intent as the case labels it."""
    if got == expected:
        return MetricResult("intent", 1.0, f"intent {got}")
    return MetricResult("intent", 0.0, f"intent {got}, expected {expected}")


def numbers_in(texts: Iterable[str]) -> frozenset[float]:
    return frozenset(float(n) for text in texts for n in NUMBER.findall(text))


def grounding(text: str, violations: list[dict[str, Any]], supported: frozenset[float]) -> MetricResult:
    """1 when the guardrails found no grounding problem (block or warn) and every Arabic
    number in the reply appears in what it may rest on: the product's facts, the shop's
    policy and handbook, or the conversation (`supported`). Numbers written in Chinese
    characters (两袋, 一份) are not parsed."""
    problems = [f"{v['rule']}: {v['message']}" for v in violations if v.get("category") == "grounding"]
    unsupported = sorted({n for n in NUMBER.findall(text) if float(n) not in supported}, key=float)
    if unsupported:
        problems.append(f"numbers nothing supports: {', '.join(unsupported)}")
    if problems:
        return MetricResult("grounding", 0.0, "; ".join(problems), tuple(problems))
    return MetricResult("grounding", 1.0, "no grounding violation; every number is supported")


def chrf(text: str, reference: str | None) -> MetricResult:
    """Character n-gram F-score (0-100) of the reply against the person-written reference."""
    if reference is None:
        return MetricResult("chrf", None, "the case has no reference")
    score = _CHRF.sentence_score(text, [reference]).score
    return MetricResult("chrf", round(score, 2), f"chrF {score:.1f} against the reference")


def citation_hit(citations: list[dict[str, Any]], sources: list[str] | None) -> MetricResult:
    """1 when the reply cites at least one of the documents the case labels as its sources."""
    if sources is None:
        return MetricResult("citation", None, "the case labels no sources")
    cited = [c["source_id"] for c in citations]
    hit = [s for s in cited if s in sources]
    if hit:
        return MetricResult("citation", 1.0, f"cites {', '.join(hit)}")
    return MetricResult("citation", 0.0, f"cites {', '.join(cited) or 'nothing'}; expected one of {', '.join(sources)}")


def blocked_ready(candidates: list[dict[str, Any]]) -> MetricResult:
    """How many candidates were offered as ready to send with a block verdict (must be 0)."""
    ids = [str(i) for i, c in enumerate(candidates) if c.get("verdict") == "block"]
    if ids:
        return MetricResult("blocked_ready", float(len(ids)), f"candidates {', '.join(ids)} are blocked", tuple(ids))
    return MetricResult("blocked_ready", 0.0, "no blocked candidate offered")


def best_of_n(case: GoldenCase, candidates: list[dict[str, Any]]) -> MetricResult:
    """1 when any candidate, not only the top one, passes the case's checks."""
    if not case.has_checks():
        return MetricResult("best_of_n", None, "the case has no checks")
    for i, c in enumerate(candidates):
        if checks(case, c["text"], bool(c.get("escalate"))).value == 1.0:
            return MetricResult("best_of_n", 1.0, f"candidate {i} passes the checks")
    return MetricResult("best_of_n", 0.0, f"none of {len(candidates)} candidates passes the checks")
