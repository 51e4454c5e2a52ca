"""Aggregate metrics of a golden run, over all cases and per intent.

Rates are means of the per-case values that apply (a case without a reference has no chrF);
`blocked_ready` counts candidates offered as ready with a block verdict, across every
candidate of every case (it must stay 0). Latency percentiles leave out cases that did not
run. Every aggregate is None when no case measured it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from service.evaluation.runner import CaseResult

# Rate metrics: aggregate name -> the per-case metric it averages.
RATES = {
    "check_pass_rate": "checks",
    "intent_accuracy": "intent",
    "grounding_rate": "grounding",
    "citation_hit_rate": "citation",
    "best_of_n_pass_rate": "best_of_n",
    "chrf_mean": "chrf",
}


def _mean(values: Iterable[float]) -> float | None:
    found = list(values)
    return round(float(np.mean(found)), 4) if found else None


def _percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None


def aggregate(results: list[CaseResult]) -> dict[str, Any]:
    """The run's aggregates: counts, rates, latency, tokens, cost, and the judge's means."""
    ran = [r for r in results if r.error is None]
    passed = sum(r.passed for r in results)
    out: dict[str, Any] = {
        "cases": len(results), "passed": passed, "failed": len(results) - passed,
        "errors": len(results) - len(ran),
        "pass_rate": round(passed / len(results), 4) if results else None,
    }
    for name, metric in RATES.items():
        out[name] = _mean(v for r in results if (v := r.metrics[metric].value) is not None)
    out["blocked_ready"] = int(sum(r.metrics["blocked_ready"].value or 0 for r in results))
    latencies = [r.latency_ms for r in ran if r.latency_ms is not None]
    out["latency_p50_ms"] = _percentile(latencies, 50)
    out["latency_p95_ms"] = _percentile(latencies, 95)
    tokens = [r.usage.get("total_tokens", 0) for r in ran]
    out["tokens_mean"] = _mean(tokens)
    out["tokens_total"] = int(sum(tokens))
    out["cost_total"] = round(sum(r.cost for r in results), 6)
    judged = [r.judgement for r in results if r.judgement is not None]
    if judged:
        ok = [j for j in judged if j.error is None]
        out["judge_helpfulness_mean"] = _mean(j.helpfulness for j in ok if j.helpfulness is not None)
        out["judge_tone_mean"] = _mean(j.tone for j in ok if j.tone is not None)
        out["judge_failures"] = len(judged) - len(ok)
        out["judge_cost_total"] = round(sum(r.judge_cost for r in results), 6)
    return out


def per_intent(results: list[CaseResult]) -> dict[str, dict[str, Any]]:
    """The same aggregates for the cases of each labelled intent, intents in first-seen order."""
    groups: dict[str, list[CaseResult]] = {}
    for r in results:
        groups.setdefault(r.case.intent, []).append(r)
    return {intent: aggregate(group) for intent, group in groups.items()}


def backends(results: list[CaseResult]) -> dict[str, int]:
    """How many cases each backend answered (an LLM run can fall back to offline)."""
    counts: dict[str, int] = {}
    for r in results:
        if r.backend:
            counts[r.backend] = counts.get(r.backend, 0) + 1
    return counts
