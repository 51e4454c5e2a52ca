"""What a check knows besides the text: the shop's policy and the product's facts."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from service.knowledge.models import Policy

_NUMBER = re.compile(r"\d+(?:\.\d+)?")


@dataclass(frozen=True)
class ProductFacts:
    id: str
    name: str
    price: float | None
    text: str  # the product's facts document, "标签:值" lines
    stock: int | None = None

    @classmethod
    def from_document(cls, product_id: str, name: str, text: str) -> ProductFacts:
        price = stock = None
        for line in text.splitlines():
            label, _, value = line.partition(":")
            number = _NUMBER.search(value)
            if label == "价格" and number:
                price = float(number.group(0))
            elif label == "库存" and number:
                stock = int(float(number.group(0)))
        return cls(id=product_id, name=name, price=price, text=text, stock=stock)

    @cached_property
    def number_set(self) -> frozenset[float]:
        return frozenset(float(n) for n in _NUMBER.findall(self.text))

    def numbers(self) -> frozenset[float]:
        return self.number_set

    def fact(self, label: str) -> str:
        for line in self.text.splitlines():
            key, _, value = line.partition(":")
            if key == label:
                return value
        return ""


@dataclass(frozen=True)
class CheckContext:
    policy: Policy = field(default_factory=Policy)
    product: ProductFacts | None = None
    policy_text: str = ""  # the shop's policy rules as rendered for retrieval
    handbook_text: str = ""  # the shop's handbook scripts: shop-authored, so their numbers count
    # Precomputed once per pack by the service: numbers and (value, unit) pairs of the
    # policy and the handbook. Empty means "compute from the texts above".
    shop_numbers: frozenset[float] = frozenset()
    shop_quantities: frozenset[tuple[float, str]] = frozenset()
    history: tuple[str, ...] = ()  # the buyer's messages, oldest first
    mentioned: tuple[ProductFacts, ...] = ()  # other products the reply names
    shop_prices: frozenset[float] = frozenset()  # every listed price in the shop
    shop: dict[str, Any] = field(default_factory=dict)  # shop.yaml, for fields beyond the policy
    # The pack's ShopCatalog (every product's facts and the words naming them), built once
    # per pack; None leaves the claim rules silent.
    catalog: Any = None

    def products(self) -> tuple[ProductFacts, ...]:
        return ((self.product,) if self.product is not None else ()) + self.mentioned

    def prices(self) -> set[float]:
        return {p.price for p in self.products() if p.price is not None}

    def known_numbers(self) -> set[float]:
        """Every number the reply may quote: the product's facts and the policy's."""
        found = set(self.shop_numbers or {float(n) for n in _NUMBER.findall(self.policy_text)})
        for product in self.products():
            found |= product.numbers()
        return found
