"""The typed shape of a knowledge pack (CONTRACTS §1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Gifts(BaseModel):
    model_config = ConfigDict(extra="allow")

    allowed: list[str] = Field(default_factory=list, description="Gifts an agent may add alone.")
    max_per_order: int = Field(0, ge=0)


class Returns(BaseModel):
    model_config = ConfigDict(extra="allow")

    no_reason_days: int = Field(7, ge=0)
    condition: str = ""
    quality_issue_shipping_paid_by: Literal["seller", "buyer"] = "seller"
    no_reason_shipping_paid_by: Literal["seller", "buyer"] = "buyer"


class Policy(BaseModel):
    """What an agent may promise without asking a supervisor."""

    model_config = ConfigDict(extra="allow")

    price_adjustable: bool = False
    max_discount_percent: float = Field(0, ge=0, le=100)
    free_shipping_min_order: float | None = Field(None, ge=0)
    gifts: Gifts = Gifts()
    compensation_max_cny: float = Field(0, ge=0)
    dispatch_within_hours: int = Field(48, gt=0)
    carriers: list[str] = Field(default_factory=list)
    delivery_days: dict[str, str] = Field(default_factory=dict)
    returns: Returns = Returns()
    escalation_to: str = "主管"


class Shop(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str = Field(pattern=r"^[a-z0-9-]+$", min_length=1, max_length=60)
    name: str = Field(min_length=1)
    platform: Literal["taobao", "tmall", "jd", "other"]
    agent_name: str = Field(min_length=1)
    policy: Policy = Policy()


class Product(BaseModel):
    id: str
    name: str
    price: float
    aliases: list[str] = Field(default_factory=list)
    facts: dict[str, str] = Field(default_factory=dict, description="Every other column, in order.")
    source: str = Field(description="file:line where the product is defined.")


class Section(BaseModel):
    """One `##` section of a handbook: a scenario's script or a rule."""

    id: str
    title: str
    intent: str | None = None
    context: str = Field("", description="The file's `#` title, for context.")
    text: str
    source: str


class Pack(BaseModel):
    root: Path
    shop: Shop
    products: list[Product]
    sections: list[Section]
    shop_source: dict[str, int] = Field(
        default_factory=dict, description="Line in shop.yaml of each policy key, for citations."
    )
    guardrails: dict[str, Any] | None = Field(
        None, description="The pack's guardrails.yaml: rule additions and overrides."
    )

    def product(self, product_id: str) -> Product | None:
        return next((p for p in self.products if p.id == product_id), None)
