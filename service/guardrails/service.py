"""Checks for a given shop: its policy, its overrides and the product's facts from the index."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from service.errors import PackError, ProductNotFound
from service.guardrails.checker import RuleError, RuleSet, validate_text
from service.guardrails.context import CheckContext, ProductFacts
from service.guardrails.models import CheckResult
from service.guardrails.repair import Repair, repair
from service.knowledge.models import Pack, Policy
from service.retrieval.hybrid import HybridRetriever


@lru_cache
def builtin_rules() -> RuleSet:
    return RuleSet.builtin()


def validate_pack_rules(pack: Pack) -> None:
    """Ingest hook: a pack's guardrails.yaml must load on top of the built-in rules."""
    try:
        builtin_rules().with_overrides(pack.guardrails)
    except RuleError as exc:
        raise PackError([exc.message]) from exc


class Guardrails:
    def __init__(self, retriever: HybridRetriever, rules: RuleSet | None = None) -> None:
        self.retriever = retriever
        self.rules = rules or builtin_rules()
        self._shop_cache: dict[tuple[str, str], tuple[RuleSet, Policy, str]] = {}
        # Product facts by (shop, pack hash, product): a new pack makes old entries unreachable.
        self._facts: dict[tuple[str, str, str], ProductFacts | None] = {}

    def _shop(self, shop: str) -> tuple[RuleSet, Policy, str]:
        state = self.retriever.state(shop)  # raises ShopNotFound
        key = (shop, state.pack_hash)
        cached = self._shop_cache.get(key)
        if cached is None:
            meta = state.collection.metadata or {}
            overrides = json.loads(meta.get("guardrails_json", "{}") or "{}")
            rules = self.rules.with_overrides(overrides, where=f"{shop}/guardrails.yaml")
            policy = Policy.model_validate(state.shop.get("policy", {}))
            policy_ids = [i for i in state.lexical.ids if i.startswith("policy:")]
            policy_text = "\n".join(h.text for h in self.retriever.index.get(state.collection, policy_ids))
            cached = (rules, policy, policy_text)
            self._shop_cache[key] = cached
        return cached

    def context(self, shop: str, product: str | None = None,
                history: list[dict[str, Any]] | None = None) -> CheckContext:
        rules, policy, policy_text = self._shop(shop)
        facts = None
        if product is not None:
            state = self.retriever.state(shop)
            if product not in state.catalog:
                raise ProductNotFound(f"shop {shop!r} has no product {product!r}")
            key = (shop, state.pack_hash, product)
            if key not in self._facts:
                if len(self._facts) > 10_000:
                    self._facts.clear()
                hits = self.retriever.index.get(state.collection, [f"product:{product}"])
                self._facts[key] = (ProductFacts.from_document(product, state.catalog.names[product], hits[0].text)
                                    if hits else None)
            facts = self._facts[key]
        buyer = tuple(str(t.get("text", "")) for t in history or [] if t.get("role") == "buyer")
        return CheckContext(policy=policy, product=facts, policy_text=policy_text, history=buyer)

    def check(self, shop: str, text: str, product: str | None = None,
              history: list[dict[str, Any]] | None = None) -> CheckResult:
        validate_text(text)
        rules, _, _ = self._shop(shop)
        return rules.check(text, self.context(shop, product, history))

    def check_and_repair(self, shop: str, text: str, product: str | None = None,
                         history: list[dict[str, Any]] | None = None) -> Repair:
        """Check, apply the safe repairs, and check the repaired text again."""
        validate_text(text)
        rules, _, _ = self._shop(shop)
        ctx = self.context(shop, product, history)
        return repair(rules, rules.check(text, ctx), ctx)
