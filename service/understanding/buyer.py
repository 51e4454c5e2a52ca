"""Understanding a buyer's message without an LLM: intent, stage, mood, the product, and
whether the buyer asks for more than the agent may grant.

Both drafters read this: the LLM drafter states it in the prompt, the offline drafter picks
its script by it, and either must hand a request beyond authority to the supervisor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml

from service.knowledge.models import Policy
from service.understanding.intents import BUILTIN_DIR, IntentClassifier, IntentResult, default_classifier

Stage = Literal["pre_sale", "in_sale", "after_sale"]
Mood = Literal["calm", "impatient", "angry"]

STAGE_OF_INTENT: dict[str, Stage] = {
    "greeting": "pre_sale", "product_question": "pre_sale", "authenticity": "pre_sale",
    "stock": "pre_sale", "bargain": "pre_sale", "gift_request": "pre_sale",
    "free_shipping_request": "pre_sale", "payment": "in_sale", "order_change": "in_sale",
    "shipping_time": "in_sale", "logistics": "after_sale", "return_exchange": "after_sale",
    "quality_issue": "after_sale", "complaint": "after_sale", "bad_review": "after_sale",
}
# Words about the order's state decide the stage when the intent does not.
STAGE_CUES: list[tuple[Stage, re.Pattern[str]]] = [
    ("after_sale", re.compile(r"(收到了?|签收|到货了|拆开|吃了|用了|打开一看)")),
    ("in_sale", re.compile(r"(已拍|拍了|拍下|付款了|付了|下单了|已付|订单)")),
]
NUM = r"(\d+(?:\.\d+)?|[一二两三四五六七八九十]+)"
CN = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}


@dataclass(frozen=True)
class Request:
    """Something the buyer asks for, and whether the agent may grant it alone."""

    kind: Literal["discount", "gift", "free_shipping", "compensation", "speed"]
    text: str
    allowed: bool
    detail: str = ""


@dataclass
class Understanding:
    intent: str
    intents: dict[str, float]
    stage: Stage
    mood: Mood
    product: str | None = None
    products: list[str] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)

    @property
    def beyond_authority(self) -> list[Request]:
        return [r for r in self.requests if not r.allowed]


@lru_cache
def _mood_cues(path: Path = BUILTIN_DIR / "mood.yaml") -> dict[str, tuple[float, dict[str, float]]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {mood: (float(spec["threshold"]), {str(k): float(v) for k, v in spec["cues"].items()})
            for mood, spec in data.items()}


def mood_of(text: str) -> Mood:
    for mood in ("angry", "impatient"):
        threshold, cues = _mood_cues()[mood]
        if sum(w for cue, w in cues.items() if cue in text) >= threshold:
            return mood  # type: ignore[return-value]
    return "calm"


def stage_of(intent: str, messages: list[str]) -> Stage:
    if intent in STAGE_OF_INTENT:
        return STAGE_OF_INTENT[intent]
    for message in reversed(messages):
        for stage, cue in STAGE_CUES:
            if cue.search(message):
                return stage
    return "pre_sale"


def _number(raw: str) -> float | None:
    try:
        return float(raw)
    except ValueError:
        if raw == "十":
            return 10.0
        if "十" in raw:
            tens, _, ones = raw.partition("十")
            return float(CN.get(tens, 1) * 10 + CN.get(ones, 0))
        return float(CN[raw]) if raw in CN else None


def requests_in(text: str, policy: Policy, price: float | None, intent: IntentResult) -> list[Request]:
    """What the buyer asks for that touches the agent's authority."""
    found: list[Request] = []
    scores = intent.scores
    if scores.get("bargain", 0) >= 1.5 or re.search(r"(打折|折扣|改价|便宜|优惠|抹零|少点|少一点|\d+折)", text):
        rate = re.search(rf"{NUM}\s*折", text)
        wanted = None
        if rate and (r := _number(rate.group(1))) is not None:
            wanted = (10 - (r / 10 if r > 10 else r)) * 10
        allowed = policy.price_adjustable and (wanted is None or wanted <= policy.max_discount_percent)
        if policy.max_discount_percent > 0 and wanted is not None and wanted <= policy.max_discount_percent:
            allowed = True
        found.append(Request("discount", rate.group(0) if rate else "便宜/优惠", allowed,
                             f"客服可给折扣上限 {policy.max_discount_percent:g}%"))
    gift = re.search(rf"(多送|再送|送{NUM}?(个|份|袋|罐|盒)?|赠品|小礼物|送点|送啥|送什么)", text)
    if gift or scores.get("gift_request", 0) >= 1.5:
        qty = re.search(rf"(多送|再送|送){NUM}\s*(个|份|袋|罐|盒|包)", text)
        amount = _number(qty.group(2)) if qty else 1.0
        extra = bool(re.search(r"(多送|再送|多给|再给|都要|全要)", text))
        allowed = bool(policy.gifts.allowed) and (amount or 1) <= policy.gifts.max_per_order and not extra
        found.append(Request("gift", gift.group(0) if gift else "赠品", allowed,
                             f"可送:{'、'.join(policy.gifts.allowed) or '无'},每单 {policy.gifts.max_per_order} 份"))
    if re.search(r"(包邮|免邮|免运费|运费)", text):
        threshold = policy.free_shipping_min_order
        allowed = threshold is not None and (price is None or price >= threshold)
        found.append(Request("free_shipping", "包邮", allowed,
                             f"满 {threshold:g} 元包邮" if threshold is not None else "不包邮"))
    comp = re.search(rf"(赔|补偿|返|红包)[^，。！？]{{0,4}}?{NUM}\s*(元|块)|{NUM}\s*(元|块)[^，。！？]{{0,3}}(补偿|红包)|假一赔十", text)
    if comp:
        amounts = [a for a in (_number(x) for x in re.findall(rf"{NUM}\s*(?:元|块)", comp.group(0))) if a is not None]
        amount = max(amounts) if amounts else float("inf")
        found.append(Request("compensation", comp.group(0), amount <= policy.compensation_max_cny,
                             f"客服可补偿上限 {policy.compensation_max_cny:g} 元"))
    speed = re.search(r"(今天(就)?(能)?发|马上发|加急|明天(就)?(能)?到|今天(能)?到|当天到|\d+小时内发)", text)
    if speed:
        found.append(Request("speed", speed.group(0), False,
                             f"付款后 {policy.dispatch_within_hours} 小时内发货"))
    return found


def understand(messages: list[str], policy: Policy, catalog: object | None = None,
               product: str | None = None, price: float | None = None,
               classifier: IntentClassifier | None = None) -> Understanding:
    """`messages` are the buyer's messages, oldest first; the last one is answered.
    `catalog` (a retrieval Catalog) resolves products named in the text when none is given."""
    last = messages[-1] if messages else ""
    # Earlier messages are context: a bare "那这个呢" follows the conversation.
    result = (classifier or default_classifier()).classify(last, context=messages[:-1])
    products: list[str] = [product] if product else []
    if catalog is not None and not products:
        from service.retrieval.lexical import tokenize

        for message in reversed(messages):
            products = catalog.resolve(message, tokenize(message))  # type: ignore[attr-defined]
            if products:
                break
    return Understanding(
        intent=result.intent, intents=result.scores, stage=stage_of(result.intent, messages),
        mood=mood_of(last), product=products[0] if products else None, products=products,
        requests=requests_in(last, policy, price, result),
    )
