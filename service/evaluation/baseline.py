"""Baselines and the gate: compare a run with a saved one, metric by metric.

A baseline file (`--save-baseline`) holds a run's aggregates and each case's pass/fail.
The tolerances file (`eval/tolerances.yaml`) says, per metric, which way is better and how
much worse it may get; a metric past its tolerance is a regression and fails the run. Cases
that flipped pass -> fail (and fail -> pass) are listed beside it, to say which cases to
read first. Both files are validated before a run starts: a broken gate must not cost a run.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from service.config import REPO_DIR
from service.errors import EvalInputError
from service.evaluation.jsonl import read_json_file

DEFAULT_TOLERANCES = REPO_DIR / "eval" / "tolerances.yaml"
BASELINE_VERSION = 1
EPSILON = 1e-9  # float noise is not a regression


@dataclass(frozen=True)
class Tolerance:
    metric: str
    better: Literal["higher", "lower"]
    allowed: float
    relative: bool = False  # allowed is a share of the baseline value

    def limit(self, before: float) -> float:
        """The worst value that still passes."""
        margin = abs(before) * self.allowed if self.relative else self.allowed
        return before - margin if self.better == "higher" else before + margin

    def regressed(self, before: float, now: float) -> bool:
        limit = self.limit(before)
        return now < limit - EPSILON if self.better == "higher" else now > limit + EPSILON

    def describe(self) -> str:
        amount = f"{self.allowed * 100:g}%" if self.relative else f"{self.allowed:g}"
        return f"{'drop' if self.better == 'higher' else 'rise'} ≤ {amount}"


def load_tolerances(path: Path = DEFAULT_TOLERANCES) -> dict[str, Tolerance]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise EvalInputError(f"{path}: cannot read the tolerances: {exc}") from exc
    if not isinstance(raw, dict):
        raise EvalInputError(f"{path}: expected a mapping of metric -> {{better, allowed}}")
    out = {}
    for metric, spec in raw.items():
        where = f"{path.name}: {metric}"
        if not isinstance(spec, dict) or set(spec) - {"better", "allowed"}:
            raise EvalInputError(f"{where}: expected {{better: higher|lower, allowed: number or 'N%'}}")
        better = spec.get("better")
        if better not in ("higher", "lower"):
            raise EvalInputError(f"{where}: better: must be higher or lower, got {better!r}")
        allowed, relative = spec.get("allowed", 0), False
        if isinstance(allowed, str) and allowed.strip().endswith("%"):
            allowed, relative = allowed.strip()[:-1], True
        try:
            amount = float(allowed)
        except (TypeError, ValueError):
            raise EvalInputError(f"{where}: allowed: {spec.get('allowed')!r} is not a number or a percentage") from None
        if amount < 0:
            raise EvalInputError(f"{where}: allowed: must not be negative")
        out[str(metric)] = Tolerance(str(metric), better, amount / 100 if relative else amount, relative)
    return out


@dataclass
class Baseline:
    path: Path
    aggregates: dict[str, float | None]
    cases: dict[str, bool]
    meta: dict[str, Any] = field(default_factory=dict)


def baseline_data(aggregates: dict[str, Any], passed: dict[str, bool], failed_checks: dict[str, list[str]],
                  meta: dict[str, Any]) -> dict[str, Any]:
    return {"version": BASELINE_VERSION, "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **meta,
            "aggregates": aggregates,
            "cases": {cid: {"passed": ok, "failed_checks": failed_checks.get(cid, [])} for cid, ok in passed.items()}}


def load_baseline(path: Path) -> Baseline:
    """A saved baseline; EvalInputError (exit 2) names what is wrong with it."""
    data = read_json_file(path, "baseline", "save one with --save-baseline")
    if not isinstance(data, dict) or data.get("version") != BASELINE_VERSION:
        raise EvalInputError(f"{path}: not a huashu baseline (expected version {BASELINE_VERSION})")
    aggregates, cases = data.get("aggregates"), data.get("cases")
    if not isinstance(aggregates, dict):
        raise EvalInputError(f"{path}: aggregates: missing or not an object")
    for name, value in aggregates.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise EvalInputError(f"{path}: aggregates.{name}: must be a number or null, got {value!r}")
    if not isinstance(cases, dict):
        raise EvalInputError(f"{path}: cases: missing or not an object")
    passed = {}
    for cid, item in cases.items():
        if not isinstance(item, dict) or not isinstance(item.get("passed"), bool):
            raise EvalInputError(f"{path}: cases.{cid}.passed: must be true or false")
        passed[str(cid)] = item["passed"]
    meta = {k: v for k, v in data.items() if k not in ("aggregates", "cases")}
    return Baseline(path, aggregates, passed, meta)


@dataclass
class MetricDelta:
    metric: str
    before: float | None
    now: float | None
    tolerance: str | None  # None: not gated
    regressed: bool = False


@dataclass
class Comparison:
    baseline: str
    deltas: list[MetricDelta]
    flipped_to_fail: list[str]
    flipped_to_pass: list[str]
    missing: list[str]  # in the baseline, not in this run
    new: list[str]      # in this run, not in the baseline

    @property
    def regressions(self) -> list[MetricDelta]:
        return [d for d in self.deltas if d.regressed]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "regressions": [asdict(d) for d in self.regressions]}


def compare(baseline: Baseline, aggregates: dict[str, Any], passed: dict[str, bool],
            tolerances: dict[str, Tolerance]) -> Comparison:
    deltas = []
    for metric in dict.fromkeys([*baseline.aggregates, *aggregates]):
        before, now = baseline.aggregates.get(metric), aggregates.get(metric)
        tol = tolerances.get(metric)
        regressed = tol is not None and before is not None and now is not None and tol.regressed(before, now)
        deltas.append(MetricDelta(metric, before, now, tol.describe() if tol else None, regressed))
    return Comparison(
        baseline=str(baseline.path), deltas=deltas,
        flipped_to_fail=[cid for cid, ok in passed.items() if baseline.cases.get(cid) is True and not ok],
        flipped_to_pass=[cid for cid, ok in passed.items() if baseline.cases.get(cid) is False and ok],
        missing=[cid for cid in baseline.cases if cid not in passed],
        new=[cid for cid in passed if cid not in baseline.cases],
    )


@dataclass
class Verdict:
    status: Literal["pass", "fail"]
    reasons: list[str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def verdict(aggregates: dict[str, Any], comparison: Comparison | None, input_errors: list[str]) -> Verdict:
    """Fail on a regression past tolerance, on any blocked candidate offered as ready, and on
    invalid lines in the golden set (a case that silently drops out is not a pass)."""
    reasons = []
    if input_errors:
        reasons.append(f"{len(input_errors)} invalid case(s) in the golden set")
    if aggregates.get("blocked_ready"):
        reasons.append(f"{aggregates['blocked_ready']} blocked candidate(s) offered as ready to send")
    if comparison is not None:
        for d in comparison.regressions:
            reasons.append(f"{d.metric} regressed: {d.before:g} → {d.now:g} (tolerance {d.tolerance})")
    return Verdict("fail" if reasons else "pass", reasons)
