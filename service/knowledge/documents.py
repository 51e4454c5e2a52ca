"""Turn a validated pack into retrievable documents.

One document per product (all its facts), one per handbook `##` section, one per policy
rule. Ids are stable and readable, because citations and eval labels use them:
`product:P003`, `script:bargain-first`, `policy:free-shipping`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property

from service.knowledge.models import Pack, Policy, Product

KINDS = ("fact", "script", "policy", "approved")

# Chinese labels for common column names; other columns keep their header as written.
FACT_LABELS = {
    "category": "品类", "spec": "规格", "net_weight": "净含量", "grade": "等级",
    "origin": "产地", "package": "包装", "gift_box": "礼盒", "shelf_life": "保质期",
    "storage": "储存方法", "usage": "食用方法", "not_suitable_for": "不适宜人群",
    "stock": "库存", "notes": "备注", "ingredients": "配料", "size": "尺寸",
    "sizes": "尺码", "color": "颜色", "colors": "颜色", "material": "材质",
    "weight": "重量", "power": "功率", "capacity": "容量", "warranty": "保修",
    "voltage": "电压", "model": "型号",
}
PARTY = {"seller": "店铺", "buyer": "买家"}
# The buyer intents each policy rule answers ("|"-separated in metadata, like scripts').
POLICY_INTENTS = {
    "price": "bargain", "gifts": "gift_request", "free-shipping": "free_shipping_request",
    "compensation": "quality_issue|complaint", "dispatch": "shipping_time|logistics",
    "carriers": "shipping_time", "delivery-days": "shipping_time|logistics",
    "returns-no-reason": "return_exchange", "returns-quality": "quality_issue|return_exchange",
    "escalation": "complaint|bargain",
}


@dataclass(frozen=True)
class Document:
    id: str
    kind: str
    text: str
    product: str = ""
    title: str = ""
    source: str = ""
    intent: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @cached_property
    def hash(self) -> str:
        payload = json.dumps(
            [self.kind, self.text, self.product, self.title, self.source, self.intent, self.extra],
            ensure_ascii=False, sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:32]

    def metadata(self, shop: str) -> dict[str, str]:
        return {"shop": shop, "kind": self.kind, "product": self.product, "title": self.title,
                "source": self.source, "intent": self.intent, "hash": self.hash, **self.extra}


def product_text(product: Product) -> str:
    lines = [f"{product.name}(商品编号 {product.id})", f"价格:{_money(product.price)}元"]
    if product.aliases:
        lines.append("又称:" + "、".join(product.aliases))
    lines += [f"{FACT_LABELS.get(key, key)}:{value}" for key, value in product.facts.items()]
    return "\n".join(lines)


def build_documents(pack: Pack) -> list[Document]:
    docs = [
        Document(id=f"product:{p.id}", kind="fact", text=product_text(p), product=p.id,
                 title=p.name, source=p.source, extra={"aliases": "|".join(p.aliases)})
        for p in pack.products
    ]
    docs += [
        Document(id=f"script:{s.id}", kind="script",
                 text=f"{s.context} · {s.title}\n{s.text}" if s.context else f"{s.title}\n{s.text}",
                 title=s.title, source=s.source, intent=s.intent or "")
        for s in pack.sections
    ]
    for rule_id, key, title, text in policy_rules(pack.shop.policy, pack.shop.agent_name):
        line = pack.shop_source.get(f"policy.{key}")
        docs.append(Document(id=f"policy:{rule_id}", kind="policy", text=f"{title}:{text}",
                             title=title, source=f"shop.yaml:{line}" if line else "shop.yaml",
                             intent=POLICY_INTENTS.get(rule_id, "")))
    return docs


def policy_rules(policy: Policy, agent_name: str = "客服") -> Iterator[tuple[str, str, str, str]]:
    """Each policy rule as (rule id, shop.yaml key, title, sentence an agent can quote)."""
    boss = policy.escalation_to
    if policy.price_adjustable:
        price = "客服可以按店铺规定调整价格。"
    else:
        price = "商品价格以页面标价为准,客服不能改价,也不能私下给优惠。"
    if policy.max_discount_percent > 0:
        price += f"客服最多可以给{_money(policy.max_discount_percent)}%的折扣,超出需要{boss}批准。"
    else:
        price += f"客服没有打折的权限,买家坚持要优惠时请{boss}处理。"
    yield "price", "price_adjustable", "价格与优惠权限", price

    gifts = policy.gifts
    if gifts.allowed and gifts.max_per_order > 0:
        text = (f"客服可以赠送的礼品:{'、'.join(gifts.allowed)};每单最多{gifts.max_per_order}份。"
                f"其他赠品或更多数量需要{boss}同意。")
    else:
        text = f"客服不能自行赠送礼品,赠品需要{boss}同意。"
    yield "gifts", "gifts", "赠品", text

    if policy.free_shipping_min_order is None:
        text = "本店不设包邮,运费按实际结算。"
    else:
        text = (f"订单实付满{_money(policy.free_shipping_min_order)}元包邮;不满的订单需要买家承担运费,"
                f"客服不能对不满额的订单承诺包邮。")
    yield "free-shipping", "free_shipping_min_order", "包邮规则", text

    yield ("compensation", "compensation_max_cny", "补偿权限",
           f"商品有问题时,客服最多可以自行补偿{_money(policy.compensation_max_cny)}元(退款或优惠券);"
           f"超过这个金额需要{boss}审批。")
    yield ("dispatch", "dispatch_within_hours", "发货时间",
           f"付款后{policy.dispatch_within_hours}小时内发货,客服不能承诺比这更快的发货。")
    if policy.carriers:
        yield "carriers", "carriers", "快递", "合作快递:" + "、".join(policy.carriers) + "。"
    if policy.delivery_days:
        labels = {"same_province": "同省", "other": "外省", "remote": "偏远地区"}
        days = ";".join(f"{labels.get(k, k)}约{v}天" for k, v in policy.delivery_days.items())
        yield "delivery-days", "delivery_days", "到货时间", f"发货后一般到货时间:{days}。具体以物流为准。"
    r = policy.returns
    yield ("returns-no-reason", "returns", "七天无理由退换",
           f"支持{r.no_reason_days}天无理由退换货,条件:{r.condition or '商品完好'};"
           f"无理由退换的运费由{PARTY[r.no_reason_shipping_paid_by]}承担。")
    yield ("returns-quality", "returns", "质量问题退换",
           f"商品有质量问题可以退换,来回运费由{PARTY[r.quality_issue_shipping_paid_by]}承担;"
           "请买家提供照片以便核实。")
    yield ("escalation", "escalation_to", "转交上级",
           f"超出客服权限的要求(改价、额外赠品、超额补偿等)由{boss}决定;"
           f"{agent_name}应礼貌说明会帮买家申请,不要自行答应。")


def _money(value: float) -> str:
    return f"{value:g}"
