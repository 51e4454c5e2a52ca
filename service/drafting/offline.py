"""The offline drafter: replies composed from the shop's own scripts and facts, no LLM.

Sources, in order of preference:
0. a reply the shop's agents approved for the same intent, product and request (kind
   `approved`, retrieved like any document); the guardrails check it against today's facts;
1. the sample replies (「…」) of the shop's handbook section for the buyer's intent, when
   they pass the guardrails for this product (they speak in the shop's voice);
2. built-in templates per intent (`knowledge/builtin/scripts.yaml`), three styles each,
   filled with the product's facts and the shop's policy; a template whose slots have no
   value is skipped, so no reply ever shows an empty slot or template syntax.
A request beyond the agent's authority gets the `beyond` templates instead: decline kindly,
offer what is allowed, hand over to the supervisor.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from service.guardrails.context import ProductFacts
from service.knowledge.models import Policy
from service.understanding.buyer import Understanding
from service.understanding.intents import BUILTIN_DIR

SCRIPTS_FILE = BUILTIN_DIR / "scripts.yaml"
SAMPLE = re.compile(r"「([^」]+)」")
STYLES = ("concise", "warm", "next_step")
STATE_CLAIM = re.compile(r"(已经|已确认|确认了|您选的|您的订单|这次|刚才|马上给您安排|给您安排)")
# Which policy rule a slot quotes: the citation for a filled template.
SLOT_POLICY = {
    "threshold": "free-shipping", "gap": "free-shipping", "dispatch_hours": "dispatch",
    "days_same": "delivery-days", "days_other": "delivery-days", "days_remote": "delivery-days",
    "carriers": "carriers", "gift": "gifts", "gifts": "gifts", "compensation_max": "compensation",
    "return_days": "returns-no-reason", "return_condition": "returns-no-reason",
    "escalation": "escalation", "claim_hours": "returns-quality",
}
PRODUCT_SLOTS = {"product", "price", "spec", "shelf_life", "storage", "usage", "not_suitable_for",
                 "origin", "stock"}
FACT_LABELS = {"spec": "规格", "shelf_life": "保质期", "storage": "储存方法", "usage": "食用方法",
               "not_suitable_for": "不适宜人群", "origin": "产地", "stock": "库存"}
# Which fact answers which question.
FACT_CUES = [
    ("stock", re.compile(r"(有货|有没有货|缺货|没货|库存|还有吗|补货|断货|能拍吗)")),
    ("shelf_life", re.compile(r"(保质期|能放多久|放多久|过期|多久坏)")),
    ("storage", re.compile(r"(保存|储存|存放|冰箱|冷藏|受潮|放哪)")),
    ("usage", re.compile(r"(怎么吃|怎么泡|吃法|用法|怎么用|吃多少|一天|每天|泡水|煮)")),
    ("not_suitable_for", re.compile(r"(孕妇|宝宝|小孩|孩子|老人|糖尿病|感冒|上火|哺乳|过敏|能吃吗|能喝吗|能不能吃|适合)")),
    ("origin", re.compile(r"(产地|哪里产|哪产|哪里的|哪儿的|产自)")),
    ("spec", re.compile(r"(规格|多重|几克|多少克|净含量|多大|几斤|一斤|容量)")),
    ("price", re.compile(r"(多少钱|价格|几块|什么价|啥价|贵)")),
]


@dataclass
class Draft:
    text: str
    style: str
    citations: list[dict[str, str]] = field(default_factory=list)
    escalate: bool = False


@lru_cache
def builtin_scripts(path: Path = SCRIPTS_FILE) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "intents" not in data:
        raise ValueError(f"{path}: expected `intents`, `beyond` and `facts`")
    return data


def short_name(name: str, shop: dict[str, Any]) -> str:
    """The product's name without the brand in front ("杞源堂 宁夏…" -> "宁夏…")."""
    parts = name.split()
    brand = str(shop.get("brand") or "")
    if len(parts) > 1 and (parts[0] == brand or parts[0] in str(shop.get("name", ""))):
        parts = parts[1:]
    return " ".join(parts)


def slot_values(shop: dict[str, Any], policy: Policy, product: ProductFacts | None) -> dict[str, str]:
    values: dict[str, str] = {"agent": str(shop.get("agent_name", "客服")), "shop": str(shop.get("name", "")),
                              "escalation": policy.escalation_to,
                              "dispatch_hours": f"{policy.dispatch_within_hours}",
                              "compensation_max": f"{policy.compensation_max_cny:g}",
                              "return_days": f"{policy.returns.no_reason_days}"}
    if policy.returns.condition:
        values["return_condition"] = policy.returns.condition
    if policy.free_shipping_min_order is not None:
        values["threshold"] = f"{policy.free_shipping_min_order:g}"
    if policy.gifts.allowed and policy.gifts.max_per_order > 0:
        values["gift"] = policy.gifts.allowed[0]
        values["gifts"] = "、".join(policy.gifts.allowed)
    if policy.carriers:
        values["carriers"] = "、".join(policy.carriers)
    for key, slot in (("same_province", "days_same"), ("other", "days_other"), ("remote", "days_remote")):
        if policy.delivery_days.get(key):
            values[slot] = str(policy.delivery_days[key])
    claim = (policy.returns.model_extra or {}).get("quality_claim_within_hours")
    if claim:
        values["claim_hours"] = str(claim)
    if product is not None:
        values["product"] = short_name(product.name, shop)
        if product.price is not None:
            values["price"] = f"{product.price:g}"
            threshold = policy.free_shipping_min_order
            if threshold is not None and product.price < threshold:
                values["gap"] = f"{threshold - product.price:.1f}".rstrip("0").rstrip(".")
        for slot, label in FACT_LABELS.items():
            value = product.fact(label).strip().rstrip("。；;")
            if value:
                values[slot] = value
    return values


def fill(template: str, values: dict[str, str]) -> tuple[str, set[str]] | None:
    """The template with its slots filled, and the slots it used; None if one is missing."""
    used = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    if not used <= values.keys():
        return None
    return template.format(**{k: values[k] for k in used}), used


def citations_for(used: set[str], product: ProductFacts | None, values: dict[str, str]) -> list[dict[str, str]]:
    cites: list[dict[str, str]] = []
    if product is not None and used & PRODUCT_SLOTS:
        labels = {**FACT_LABELS, "price": "价格"}  # price is read from the document, not a fact line
        excerpt = "；".join(f"{labels.get(s, s)}:{values[s]}" for s in sorted(used & PRODUCT_SLOTS)
                           if s not in ("product",))
        cites.append({"source_id": f"product:{product.id}", "kind": "fact", "excerpt": excerpt[:120]})
    for rule in sorted({SLOT_POLICY[s] for s in used if s in SLOT_POLICY}):
        cites.append({"source_id": f"policy:{rule}", "kind": "policy", "excerpt": ""})
    return cites


class OfflineDrafter:
    name = "offline"

    def __init__(self, scripts: dict[str, Any] | None = None) -> None:
        self.scripts = scripts or builtin_scripts()

    def draft(self, understanding: Understanding, question: str, shop: dict[str, Any], policy: Policy,
              product: ProductFacts | None, retrieved: list[dict[str, Any]], n: int) -> list[Draft]:
        """More candidates than `n`, best first; the pipeline keeps the first `n` that pass."""
        values = slot_values(shop, policy, product)
        drafts: list[Draft] = self._approved(understanding, retrieved)
        beyond = understanding.beyond_authority
        if beyond:
            for request in beyond:
                for variant in self.scripts.get("beyond", {}).get(request.kind, []):
                    drafts += self._from_template(variant, values, product, escalate_word=policy.escalation_to)
            return drafts
        intent = understanding.intent
        if intent in ("product_question", "stock") and product is not None:
            drafts += self._fact_answers(question, values, product)
        templates: list[Draft] = []
        for variant in self.scripts.get("intents", {}).get(intent, []):
            templates += self._from_template(variant, values, product)
        # The built-in templates lead; the shop's own sample is offered second (see below).
        samples = self._shop_samples(intent, retrieved, question, policy)
        drafts += templates[:1] + samples + templates[1:]
        if not drafts:
            for variant in self.scripts.get("intents", {}).get("other", []):
                drafts += self._from_template(variant, values, product)
        return drafts

    def _from_template(self, variant: dict[str, Any], values: dict[str, str], product: ProductFacts | None,
                       escalate_word: str | None = None) -> list[Draft]:
        filled = fill(str(variant.get("text", "")), values)
        if filled is None:
            return []
        text, used = filled
        escalate = bool(escalate_word) and escalate_word in text
        return [Draft(text=text, style=str(variant.get("style", "")), escalate=escalate,
                      citations=citations_for(used, product, values))]

    def _fact_answers(self, question: str, values: dict[str, str], product: ProductFacts) -> list[Draft]:
        facts = self.scripts.get("facts", {})
        wanted = [slot for slot, cue in FACT_CUES if cue.search(question)] or ["price", "spec"]
        sentences, used = [], set()
        for slot in wanted:
            key = slot if slot != "stock" else ("stock_out" if product.stock == 0 else "stock_in")
            filled = fill(str(facts.get(key, "")), values) if facts.get(key) else None
            if filled:
                sentences.append(filled[0])
                used |= filled[1]
        if not sentences:
            return []
        body = "".join(sentences)
        # One fact answer; the other candidates come from the templates, so they differ in
        # more than a greeting.
        return [Draft(text=body if body.startswith("亲") else f"亲，{body}", style="facts",
                      citations=citations_for(used | {"product"}, product, values))]

    @staticmethod
    def _approved(understanding: Understanding, retrieved: list[dict[str, Any]]) -> list[Draft]:
        """Approved replies that answered the same kind of request: same intent, and the same
        requests beyond authority (a reply that declined a discount does not answer a gift)."""
        asked = sorted(r.kind for r in understanding.beyond_authority)
        out = []
        for doc in retrieved:
            extra = doc.get("extra") or {}
            if doc["kind"] != "approved" or doc.get("intent") != understanding.intent:
                continue
            if sorted(b for b in str(extra.get("beyond", "")).split("|") if b) != asked:
                continue
            out.append(Draft(text=doc["text"], style="approved", citations=[
                {"source_id": doc["source_id"], "kind": "approved", "excerpt": doc["text"][:80]}]))
        return out

    @staticmethod
    def _shop_samples(intent: str, retrieved: list[dict[str, Any]], question: str = "",
                      policy: Policy | None = None) -> list[Draft]:
        """The first sample reply of the top-ranked document, when that is the shop's script
        for this intent. A lower-ranked section may be another sub-scenario (a lost parcel
        for a late one) and its samples assert facts of that scenario, so none is used; the
        later samples of a section often continue the first rather than stand alone."""
        if not retrieved:
            return []
        top = retrieved[0]
        if top["kind"] != "script" or intent not in str(top.get("intent", "")).split("|"):
            return []
        samples = SAMPLE.findall(top["text"])
        if not samples:
            return []
        sample = samples[0].strip()
        # A sample written for another buyer may state what happened to that order (已经确认
        # 包裹丢失) or which gift they chose; nothing can check that here, so it is left out.
        if STATE_CLAIM.search(sample):
            return []
        if policy is not None and any(g[:2] in sample and g[:2] not in question for g in policy.gifts.allowed):
            return []
        return [Draft(text=sample, style="shop", citations=[
            {"source_id": top["source_id"], "kind": "script", "excerpt": sample[:80]}])]
