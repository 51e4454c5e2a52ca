"""Run golden cases through the real suggestion pipeline and score each one.

Cases keep their order; a case that cannot run (an unknown shop, a cassette without its
request, a bug) becomes a failed result with the reason, never a dropped line, and its
metrics count as 0 wherever they apply, so a broken case lowers the scores it used to
raise. Drafts are not stored: the pipeline is called directly.

Each shop's state (index, rules, the numbers its policy and handbook quote) is loaded once,
before any case is timed, so latencies measure suggestions rather than start-up.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from service.drafting.pipeline import Suggestion, SuggestionPipeline
from service.errors import HuashuError
from service.evaluation import metrics
from service.evaluation.cassette import Cassette
from service.evaluation.golden import GoldenCase
from service.evaluation.judge import Judge, Judgement
from service.evaluation.metrics import MetricResult
from service.evaluation.pricing import Pricing
from service.tokens import count_tokens

log = logging.getLogger("huashu.eval")


@dataclass
class CaseResult:
    case: GoldenCase
    metrics: dict[str, MetricResult]
    error: str | None = None
    intent: str | None = None
    backend: str | None = None
    model: str | None = None
    prompt_version: str | None = None
    reply: str = ""
    verdict: str | None = None
    escalate: bool | None = None
    violations: list[dict[str, Any]] = field(default_factory=list)
    citations: list[str] = field(default_factory=list)
    candidates: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    latency_ms: float | None = None
    usage: dict[str, int] = field(default_factory=dict)
    cost: float = 0.0
    judgement: Judgement | None = None
    judge_cost: float = 0.0

    @property
    def passed(self) -> bool:
        """Ran, passed every check it has, and offered no blocked candidate."""
        return (self.error is None and self.metrics["checks"].value != 0.0
                and self.metrics["blocked_ready"].value == 0.0)

    @property
    def failed_checks(self) -> list[str]:
        if self.error is not None:
            return [f"error: {self.error}"]
        failed = list(self.metrics["checks"].details)
        if self.metrics["blocked_ready"].value:
            failed.append(f"blocked_ready: {self.metrics['blocked_ready'].reason}")
        return failed

    def as_dict(self) -> dict[str, Any]:
        c = self.case
        return {
            "id": c.id, "line": c.line, "shop": c.shop, "product": c.product, "history": c.history,
            "expected_intent": c.intent, "intent": self.intent, "reference": c.reference,
            "passed": self.passed, "error": self.error, "failed_checks": self.failed_checks,
            "reply": self.reply, "verdict": self.verdict, "escalate": self.escalate,
            "violations": self.violations, "citations": self.citations, "candidates": self.candidates,
            "metrics": {name: m.as_dict() for name, m in self.metrics.items()},
            "backend": self.backend, "model": self.model, "prompt_version": self.prompt_version,
            "notes": self.notes, "latency_ms": self.latency_ms, "usage": self.usage, "cost": self.cost,
            "judge": self.judgement.as_dict() if self.judgement else None, "judge_cost": self.judge_cost,
        }


def failed_metrics(case: GoldenCase, reason: str) -> dict[str, MetricResult]:
    """A case that did not run scores 0 on every metric that applies to it."""
    def zero(name: str, applies: bool = True) -> MetricResult:
        return MetricResult(name, 0.0 if applies else None, reason)

    return {"checks": zero("checks", case.has_checks()), "intent": zero("intent"), "grounding": zero("grounding"),
            "chrf": zero("chrf", case.reference is not None), "citation": zero("citation", case.sources is not None),
            "blocked_ready": MetricResult("blocked_ready", 0.0, "nothing was offered"),
            "best_of_n": zero("best_of_n", case.has_checks())}


class GoldenRunner:
    def __init__(self, pipeline: SuggestionPipeline, pricing: Pricing, judge: Judge | None = None,
                 cassette: Cassette | None = None, n: int = 3) -> None:
        self.pipeline = pipeline
        self.guardrails = pipeline.guardrails
        self.retriever = pipeline.retriever
        self.pricing = pricing
        self.judge = judge
        self.cassette = cassette
        self.n = n
        self._shop_numbers: dict[str, frozenset[float]] = {}
        self.warm_seconds = 0.0  # loading the shops before the first case, not in wall time

    def run(self, cases: list[GoldenCase], jobs: int = 1,
            on_result: Callable[[CaseResult], None] | None = None) -> list[CaseResult]:
        """Every case's result, in the cases' order. `jobs` > 1 runs cases on a thread pool
        (worth it while an LLM is awaited; offline drafting holds the GIL)."""
        began = time.perf_counter()
        for shop in dict.fromkeys(c.shop for c in cases):
            self._warm(shop)
        self.warm_seconds = time.perf_counter() - began

        def one(case: GoldenCase) -> CaseResult:
            result = self.run_case(case)
            if on_result is not None:
                on_result(result)
            return result

        if jobs <= 1:
            return [one(c) for c in cases]
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="huashu-eval") as pool:
            return list(pool.map(one, cases))

    def _warm(self, shop: str) -> None:
        """Load the shop's index, rules and numbers (and the token counter) untimed; an unknown
        shop is left for its cases to report. Retrieval and checks only: no LLM is called here."""
        count_tokens("你好")
        try:
            self.pipeline.prepare(shop, [{"role": "buyer", "text": "你好"}], None, 1)
            self.guardrails.check(shop, "亲，您好")
            self._numbers_of_shop(shop)
        except HuashuError:
            pass

    def _numbers_of_shop(self, shop: str) -> frozenset[float]:
        """Numbers the shop itself states: its policy rules, handbook and shop.yaml."""
        state = self.retriever.state(shop)
        key = f"{shop}@{state.pack_hash}"
        if key not in self._shop_numbers:
            ctx = self.guardrails.context(shop)
            self._shop_numbers[key] = metrics.numbers_in(
                [ctx.policy_text, ctx.handbook_text, json.dumps(state.shop, ensure_ascii=False)])
        return self._shop_numbers[key]

    def run_case(self, case: GoldenCase) -> CaseResult:
        if self.cassette is not None:
            self.cassette.take_misses()  # start clean: misses are counted per case
        try:
            result = self._score(case)
        except HuashuError as exc:
            result = CaseResult(case, failed_metrics(case, exc.message), error=exc.message)
        except Exception as exc:  # a bug must fail its case, not the run
            log.exception("golden case %s failed", case.id)
            message = f"internal error: {type(exc).__name__}: {exc}"
            result = CaseResult(case, failed_metrics(case, message), error=message)
        if self.cassette is not None and (misses := self.cassette.take_misses()):
            message = (f"the cassette {self.cassette.path.name} has no recorded response for "
                       f"{len(misses)} LLM request(s) ({', '.join(m[:12] for m in misses)}); record it again")
            result = CaseResult(case, failed_metrics(case, message), error=message)
        return result

    def _score(self, case: GoldenCase) -> CaseResult:
        s: Suggestion = self.pipeline.suggest(case.shop, case.history, product=case.product, n=self.n)
        candidates = [{"text": c.text, "verdict": c.verdict, "escalate": c.escalate,
                       "citations": [x["source_id"] for x in c.citations],
                       "violations": [v["rule"] for v in c.violations]} for c in s.candidates]
        top = s.candidates[0]  # the pipeline always offers at least a holding reply
        product = s.understanding.product if s.understanding else case.product
        ctx = self.guardrails.context(case.shop, product, case.history, top.text)
        supported = (self._numbers_of_shop(case.shop) | ctx.known_numbers()
                     | metrics.numbers_in(t["text"] for t in case.history))
        scores = {
            "checks": metrics.checks(case, top.text, top.escalate),
            "intent": metrics.intent_accuracy(case.intent, s.intent),
            "grounding": metrics.grounding(top.text, top.violations, supported),
            "chrf": metrics.chrf(top.text, case.reference),
            "citation": metrics.citation_hit(top.citations, case.sources),
            "blocked_ready": metrics.blocked_ready(candidates),
            "best_of_n": metrics.best_of_n(case, candidates),
        }
        result = CaseResult(
            case, scores, intent=s.intent, backend=s.backend, model=s.model, prompt_version=s.prompt_version,
            reply=top.text, verdict=top.verdict, escalate=top.escalate, violations=top.violations,
            citations=[x["source_id"] for x in top.citations], candidates=candidates, notes=s.notes,
            latency_ms=s.latency_ms, usage=s.usage,
            cost=self.pricing.cost(s.model, s.usage) if s.backend == "llm" else 0.0,
        )
        if self.judge is not None:
            shop_name = str(self.retriever.state(case.shop).shop.get("name", case.shop))
            result.judgement = self.judge.judge(shop_name, case.history, top.text, case.reference)
            result.judge_cost = self.pricing.cost(self.judge.model, result.judgement.usage)
        return result
