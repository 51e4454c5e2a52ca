"""The shop's own sample replies (「…」 in the handbook) that fit the buyer's message.

The retrieved handbook sections are the candidates; every sample of them is scored by what
it shares with the buyer's last message (its section's scenario line counts too, and the
earlier buyer messages a little), plus a prior for the section's rank and intent. A sample
speaks in the shop's voice and holds the shop's rules, but it was written for another
buyer, so samples that would say something untrue here are left out: a claim about that
buyer's order ("已经确认包裹丢失", "您选的赠品"), another product than the one in the chat,
a hand-over to the supervisor the case does not need.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from service.drafting.match import Scorer, grams
from service.knowledge.models import Policy
from service.understanding.buyer import gift_named

SAMPLE = re.compile(r"「([^」]+)」")
SCENARIO = re.compile(r"适用场景[:：]([^\n]*)")
STATE_CLAIM = re.compile(r"(已经|已确认|确认了|您选的|您说的|您的订单|这次|刚才|马上给您安排|给您安排|您现在的订单|看到您拍下|"
                         r"看到您在看|目前显示|正在运输|卡在|记下了)")
# A buyer asking which product to pick may be answered with products the chat has not named.
CHOOSING = re.compile(r"((选|买|要|拿)[^，。！？]{0,8}还是|推荐|哪款|哪个[^，。！？]{0,4}好|买哪|选哪|哪一款|哪种|怎么选|区别|比较|不一样|送(人|礼|长辈|客户|朋友)|左右|预算|有没有[^，。！？]{0,6}(款|礼盒)|实惠|划算)")
HISTORY_WEIGHT = 0.35
SCENARIO_WEIGHT = 0.6
RANK_PRIOR = (1.5, 1.0, 0.6, 0.3)   # by the section's rank among the retrieved scripts
INTENT_PRIOR = 1.0
NAME_WEIGHT = 0.5
OFF_INTENT = 3.0


@dataclass(frozen=True)
class Sample:
    text: str
    score: float
    source_id: str
    intent: str


def _sections(retrieved: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in retrieved if d.get("kind") == "script"]


def pick(question: str, earlier: str, intent: str, retrieved: list[dict[str, Any]], policy: Policy,
         product: str | None, mentioned: list[str], escalate: bool,
         resolve: Callable[[str], list[str]] | None = None, names: list[str] | None = None,
         intents: dict[str, float] | None = None, min_score: float = 0.0) -> list[Sample]:
    """Fitting samples, best first. `names` are the chat product's name and aliases: a
    sample sharing only them with the message ("榨汁杯的话先充满电") fits it less."""
    sections = _sections(retrieved)
    pool: list[tuple[int, dict[str, Any], str, str]] = []
    for rank, doc in enumerate(sections):
        scenario = SCENARIO.search(doc["text"])
        for sample in SAMPLE.findall(doc["text"]):
            pool.append((rank, doc, sample.strip(), (scenario.group(1) if scenario else "") + doc.get("title", "")))
    if not pool:
        return []
    scorer = Scorer([grams(s) for _, _, s, _ in pool] + [grams(c) for _, _, _, c in pool])
    q, h = grams(question), grams(earlier)
    named = grams(" ".join(names or []))
    choosing = bool(CHOOSING.search(question + earlier))

    def fit(query: frozenset[str], doc: frozenset[str]) -> float:
        return sum(scorer.weight(g) * (NAME_WEIGHT if g in named else 1.0) for g in query & doc)

    out: list[Sample] = []
    for rank, doc, sample, scene in pool:
        g = grams(sample)
        score = (fit(q, g) + SCENARIO_WEIGHT * fit(q, grams(scene)) + HISTORY_WEIGHT * fit(h, g)
                 + (RANK_PRIOR[rank] if rank < len(RANK_PRIOR) else 0.0)
                 + _intent_prior(str(doc.get("intent", "")).split("|"), intent, intents))
        # Scored first, guarded second: resolving the products a sample names costs most.
        if score < min_score or not _usable(sample, question, policy, product, mentioned, escalate, choosing,
                                            resolve):
            continue
        out.append(Sample(sample, score, doc["source_id"], str(doc.get("intent", ""))))
    return sorted(out, key=lambda s: s.score, reverse=True)


def _intent_prior(section: list[str], intent: str, scores: dict[str, float] | None) -> float:
    """A section written for the buyer's intent fits better; one for an intent the message
    shows no sign of (a quality complaint's sample for a question) fits worse."""
    if intent in section:
        return INTENT_PRIOR
    if scores and not any(i in scores for i in section):  # no signal at all judges nothing
        return -OFF_INTENT
    return 0.0


def _usable(sample: str, question: str, policy: Policy, product: str | None, mentioned: list[str],
            escalate: bool, choosing: bool, resolve: Callable[[str], list[str]] | None) -> bool:
    if STATE_CLAIM.search(sample):
        return False
    # A sample naming one gift as noted down speaks of another buyer's choice.
    named = [name for g in policy.gifts.allowed if (name := gift_named(sample, g))]
    if len(named) == 1 and named[0] not in question and re.search(r"(备注好|已备注|给您备注|备注上了)", sample):
        return False
    if policy.escalation_to in sample and not escalate:
        return False
    if resolve is not None:
        products = resolve(sample)
        known = {p for p in [product, *mentioned] if p}
        if products and not (set(products) & known) and not choosing:
            return False
    return True
