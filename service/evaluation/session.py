"""One golden-set evaluation from inputs to verdict, shared by `huashu eval run` and
POST /v1/evals.

`prepare()` checks everything that can be checked before the first case runs: the golden
set, the tolerances and pricing files, the baseline, that the report folder and the baseline
to save can be written, the cassette, and that an LLM is there for --record and --judge.
`run()` then runs the cases, aggregates, compares with the baseline, writes the reports
and returns the report (a plain dict, the same as report.json).

Which drafter serves: with --replay the LLM drafter answers from the cassette (set up from
the cassette's model and base URL when no LLM is configured; no retries, as a replayed
failure would only fail again); with --record it talks to the configured endpoint through
the recording transport; otherwise the configured backend (offline without an LLM).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from service.config import Settings
from service.container import Services
from service.drafting.llm import LLMDrafter
from service.drafting.pipeline import SuggestionPipeline
from service.errors import EvalInputError
from service.evaluation import summary
from service.evaluation.baseline import (
    DEFAULT_TOLERANCES,
    Baseline,
    Comparison,
    Tolerance,
    baseline_data,
    compare,
    load_baseline,
    load_tolerances,
    verdict,
)
from service.evaluation.cassette import Cassette
from service.evaluation.golden import GoldenCase, cases_from_objects, load_golden
from service.evaluation.judge import Judge
from service.evaluation.pricing import DEFAULT_PRICING, Pricing
from service.evaluation.report import REPORT_VERSION, ensure_writable, write_reports
from service.evaluation.runner import CaseResult, GoldenRunner

REPLAY_BASE_URL = "http://cassette.invalid/v1"  # never contacted: the replay transport answers


@dataclass
class EvalOptions:
    golden: Path | None = None                 # a golden JSONL file, or
    cases: list[dict[str, Any]] | None = None  # inline case objects
    name: str | None = None                    # the set's name in reports (default: the file name)
    baseline: Path | None = None
    save_baseline: Path | None = None
    tolerances: Path = DEFAULT_TOLERANCES
    pricing: Path = DEFAULT_PRICING
    report_dir: Path | None = None
    record: Path | None = None
    replay: Path | None = None
    judge: bool = False
    jobs: int = 1
    n: int = 3


class EvalSession:
    def __init__(self, services: Services, options: EvalOptions) -> None:
        self.services = services
        self.options = options
        self.cases: list[GoldenCase] = []
        self.input_errors: list[str] = []
        self._runner: GoldenRunner | None = None
        self._baseline: Baseline | None = None
        self._cassette: Cassette | None = None
        self._tolerances: dict[str, Tolerance] = {}
        self._http: httpx.Client | None = None

    @property
    def total(self) -> int:
        return len(self.cases)

    def prepare(self) -> EvalSession:
        o = self.options
        if o.record is not None and o.replay is not None:
            raise EvalInputError("--record and --replay exclude each other")
        if not 1 <= o.jobs <= 32:
            raise EvalInputError(f"jobs: must be between 1 and 32, got {o.jobs}")
        if not 1 <= o.n <= 10:
            raise EvalInputError(f"n: must be between 1 and 10, got {o.n}")
        self._tolerances = load_tolerances(o.tolerances)
        pricing = Pricing.load(o.pricing)
        if o.baseline is not None:
            self._baseline = load_baseline(o.baseline)
        if o.report_dir is not None:
            ensure_writable(o.report_dir)
        if o.save_baseline is not None:
            ensure_writable(o.save_baseline.parent, "baseline")
        if o.record is not None:
            ensure_writable(o.record.parent, "cassette")
        settings, http_client = self._llm_settings()
        self._http = http_client
        if o.judge and not settings.llm_base_url:
            raise EvalInputError("--judge needs an LLM: set HUASHU_LLM_BASE_URL (or replay a cassette)")
        if o.golden is not None:
            self.cases, self.input_errors = load_golden(o.golden)
            where = str(o.golden)
        else:
            self.cases, self.input_errors = cases_from_objects(o.cases or [])
            where = "the request"
        if not self.cases:
            detail = f": {self.input_errors[0]}" if self.input_errors else ""
            raise EvalInputError(f"{where}: no valid golden case to run{detail}")
        llm = LLMDrafter(settings, http_client=http_client) if settings.llm_base_url else None
        pipeline = SuggestionPipeline(self.services.retriever, self.services.guardrails, llm=llm,
                                      max_message_chars=settings.retrieval.max_query_chars)
        judge = Judge.from_settings(settings, http_client) if o.judge else None
        self._runner = GoldenRunner(pipeline, pricing, judge=judge, cassette=self._cassette, n=o.n)
        return self

    def _llm_settings(self) -> tuple[Settings, httpx.Client | None]:
        """The settings the drafter and judge use, and the HTTP client they share."""
        o, settings = self.options, self.services.settings
        if o.replay is not None:
            self._cassette = Cassette.load(o.replay)
            configured = settings.llm_base_url is not None
            settings = settings.model_copy(update={
                "llm_base_url": settings.llm_base_url or self._cassette.base_url or REPLAY_BASE_URL,
                "llm_model": settings.llm_model if configured else (self._cassette.model or settings.llm_model),
                "timeouts": settings.timeouts.model_copy(update={"retries": 0}),
            })
            return settings, httpx.Client(transport=self._cassette.player())
        if o.record is not None:
            if not settings.llm_base_url:
                raise EvalInputError("--record needs an LLM: set HUASHU_LLM_BASE_URL")
            self._cassette = Cassette(o.record, model=settings.llm_model, base_url=settings.llm_base_url)
            return settings, httpx.Client(transport=self._cassette.recorder())
        return settings, None

    def run(self, on_result: Callable[[CaseResult], None] | None = None) -> dict[str, Any]:
        if self._runner is None:
            self.prepare()
        assert self._runner is not None
        o = self.options
        started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        began = time.perf_counter()
        try:
            results = self._runner.run(self.cases, jobs=o.jobs, on_result=on_result)
        finally:
            if o.record is not None and self._cassette is not None:
                self._cassette.save()  # what was recorded is kept even if the run broke off
            if self._http is not None:
                self._http.close()
        warm = self._runner.warm_seconds
        report = self.report(results, started, time.perf_counter() - began - warm, warm)
        if o.report_dir is not None:
            report["reports"] = write_reports(o.report_dir, report)
        if o.save_baseline is not None:
            self.save_baseline(report)
        return report

    def report(self, results: list[CaseResult], started: str, wall: float, warm: float = 0.0) -> dict[str, Any]:
        """The run as report.json holds it; `wall` counts the cases only, `warm` the loading before."""
        o = self.options
        aggregates = summary.aggregate(results)
        passed = {r.case.id: r.passed for r in results}
        comparison: Comparison | None = None
        if self._baseline is not None:
            comparison = compare(self._baseline, aggregates, passed, self._tolerances)
        cases = [r.as_dict() for r in results]
        if comparison is not None:
            flips = {**{i: "pass → fail" for i in comparison.flipped_to_fail},
                     **{i: "fail → pass" for i in comparison.flipped_to_pass}, **{i: "new" for i in comparison.new}}
            for c in cases:
                c["change"] = flips.get(c["id"], "unchanged")
                c["baseline_passed"] = self._baseline.cases.get(c["id"]) if self._baseline else None
        models = sorted({r.model for r in results if r.model})
        return {
            "version": REPORT_VERSION,
            "set": o.name or (o.golden.name if o.golden else "inline"),
            "started_at": started, "wall_seconds": round(wall, 3), "warmup_seconds": round(warm, 3),
            "cases_per_second": round(len(results) / wall, 2) if wall else None,
            "jobs": o.jobs, "n": o.n, "backends": summary.backends(results), "models": models,
            "prompt_versions": sorted({r.prompt_version for r in results if r.prompt_version}),
            "replayed": str(o.replay) if o.replay else None, "recorded": str(o.record) if o.record else None,
            "judge": o.judge, "errors": self.input_errors,
            "aggregates": aggregates, "per_intent": summary.per_intent(results),
            "verdict": verdict(aggregates, comparison, self.input_errors).as_dict(),
            "comparison": comparison.as_dict() if comparison else None,
            "cases": cases,
        }

    def save_baseline(self, report: dict[str, Any]) -> None:
        path = self.options.save_baseline
        assert path is not None
        data = baseline_data(
            report["aggregates"], {c["id"]: c["passed"] for c in report["cases"]},
            {c["id"]: c["failed_checks"] for c in report["cases"]},
            {"set": report["set"], "backends": report["backends"], "models": report["models"],
             "per_intent": report["per_intent"]})
        try:
            path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
        except OSError as exc:
            raise EvalInputError(f"{path}: cannot write the baseline: {exc.strerror or exc}") from exc
