"""Checks for a given shop: its policy, its overrides and the product's facts from the index."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from service.errors import PackError, ProductNotFound
from service.guardrails.catalog_facts import ShopCatalog
from service.guardrails.checker import RuleError, RuleSet, validate_text
from service.guardrails.context import CheckContext, ProductFacts
from service.guardrails.models import CheckResult
from service.guardrails.repair import Repair, repair
from service.guardrails.lexicon import builtin_lexicon
from service.guardrails.rules import quantities
from service.knowledge.models import Pack, Policy
from service.retrieval.hybrid import HybridRetriever
from service.retrieval.lexical import tokenize


@dataclass(frozen=True)
class _ShopRules:
    """Everything a check needs that changes only when the shop's pack does."""

    rules: RuleSet
    policy: Policy
    policy_text: str
    prices: frozenset[float]
    handbook: str
    numbers: frozenset[float]
    quantities: frozenset[tuple[float, str]]
    catalog: ShopCatalog


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
        self._shop_cache: dict[tuple[str, str], _ShopRules] = {}
        # Product facts by (shop, pack hash, product): a new pack makes old entries unreachable.
        self._facts: dict[tuple[str, str, str], ProductFacts | None] = {}

    def _shop(self, shop: str) -> _ShopRules:
        state = self.retriever.state(shop)  # raises ShopNotFound
        key = (shop, state.pack_hash)
        cached = self._shop_cache.get(key)
        if cached is None:
            meta = state.collection.metadata or {}
            overrides = json.loads(meta.get("guardrails_json", "{}") or "{}")
            rules = self.rules.with_overrides(overrides, where=f"{shop}/guardrails.yaml")
            policy = Policy.model_validate(state.shop.get("policy", {}))
            policy_ids = [i for i in state.lexical.ids if i.startswith("policy:")]
            policy_text = "\n".join(h.text for h in state.get(policy_ids))
            fact_ids = [i for i in state.lexical.ids if i.startswith("product:")]
            products = {}
            for h in state.get(fact_ids):
                pid = h.id.removeprefix("product:")
                products[pid] = ProductFacts.from_document(pid, state.catalog.names.get(pid, ""), h.text)
            prices = frozenset(p.price for p in products.values() if p.price is not None)
            script_ids = [i for i in state.lexical.ids if i.startswith("script:")]
            handbook = "\n".join(h.text for h in state.get(script_ids))
            catalog = ShopCatalog(products=products, terms=state.catalog.terms, lexicon=builtin_lexicon(),
                                  handbook=handbook)
            cached = _ShopRules(rules, policy, policy_text, prices, handbook,
                                frozenset(float(n) for n in re.findall(r"\d+(?:\.\d+)?", policy_text)),
                                quantities(policy_text) | quantities(handbook), catalog)
            self._shop_cache[key] = cached
        return cached

    def product_facts(self, shop: str, product: str) -> ProductFacts | None:
        """The product's facts document, parsed (cached per pack)."""
        return self._facts_for(shop, product)

    def _facts_for(self, shop: str, product: str) -> ProductFacts | None:
        state = self.retriever.state(shop)
        key = (shop, state.pack_hash, product)
        if key not in self._facts:
            if len(self._facts) > 10_000:
                self._facts.clear()
            known = self._shop(shop).catalog.products.get(product)
            if known is not None:
                self._facts[key] = known
                return known
            hits = state.get([f"product:{product}"])
            self._facts[key] = (ProductFacts.from_document(product, state.catalog.names.get(product, ""), hits[0].text)
                                if hits else None)
        return self._facts[key]

    def context(self, shop: str, product: str | None = None,
                history: list[dict[str, Any]] | None = None, text: str = "") -> CheckContext:
        """Policy, the chat's product, and the products the reply itself names."""
        shop_rules = self._shop(shop)
        state = self.retriever.state(shop)
        facts = None
        if product is not None:
            if product not in state.catalog:
                raise ProductNotFound(f"shop {shop!r} has no product {product!r}")
            facts = self._facts_for(shop, product)
        mentioned: list[ProductFacts] = []
        if text:
            # No fuzzy matching here: a reply that names no product is the common case.
            for pid in state.catalog.resolve(text, tokenize(text), fuzzy=False):
                if pid != product and (found := self._facts_for(shop, pid)) is not None:
                    mentioned.append(found)
        buyer = tuple(str(t.get("text", "")) for t in history or [] if t.get("role") == "buyer")
        return CheckContext(policy=shop_rules.policy, product=facts, policy_text=shop_rules.policy_text,
                            handbook_text=shop_rules.handbook, history=buyer, mentioned=tuple(mentioned),
                            shop_prices=shop_rules.prices, shop=state.shop, shop_numbers=shop_rules.numbers,
                            shop_quantities=shop_rules.quantities, catalog=shop_rules.catalog)

    def check(self, shop: str, text: str, product: str | None = None,
              history: list[dict[str, Any]] | None = None) -> CheckResult:
        validate_text(text)
        rules = self._shop(shop).rules
        return rules.check(text, self.context(shop, product, history, text))

    def check_and_repair(self, shop: str, text: str, product: str | None = None,
                         history: list[dict[str, Any]] | None = None) -> Repair:
        """Check, apply the safe repairs, and check the repaired text again."""
        validate_text(text)
        rules = self._shop(shop).rules
        ctx = self.context(shop, product, history, text)
        return repair(rules, rules.check(text, ctx), ctx)
