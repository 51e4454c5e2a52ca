"""Spec claims: package sizes and counts, net weight, price per unit, grade counts (每50克…粒) and
percentages, judged against 规格, 净含量, the price and the grade table."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from service.guardrails.catalog_facts import ShopCatalog, base_weight
from service.guardrails.claims.base import (
    CN_NUM,
    CONTRADICTED,
    HAN,
    Finding,
    Subjects,
    _clause,
    _number,
    _scope_start,
    subjects,
)
from service.guardrails.context import CheckContext, ProductFacts

# --- spec: package sizes, counts, price per unit, grade counts, percentages ------------------

WEIGHT = r"(g|克|ml|毫升|kg|公斤|千克|斤)"
PACKAGE = r"(罐|袋|瓶|盒|包|支)"
PER_PACK_A = re.compile(rf"(\d+(?:\.\d+)?)\s*{WEIGHT}\s*(一|每|1|/)\s*(小|大)?{PACKAGE}")
PER_PACK_B = re.compile(rf"(一|每|单)\s*(小|大)?{PACKAGE}(就)?(是|有|装|净含量)?(约|大约)?\s*{CN_NUM}\s*{WEIGHT}")
SPEC_STRING = re.compile(rf"(\d+(?:\.\d+)?)\s*(g|克|ml|毫升)\s*[×xX*]\s*(\d+)\s*(小|大)?{PACKAGE}")
COPULA_WEIGHT = re.compile(rf"(是|有|共|一共|总共|净含量|重)(就)?(约|大约)?\s*{CN_NUM}\s*{WEIGHT}(?![×xX*/一每\d])")
COUNT_CLAIM = re.compile(r"(?:(是|共|一共|总共)\s*(\d+|[一二两三四五六七八九十]+)\s*(小)?(袋|罐|瓶|包)装"
                         r"|(一|每)(盒|箱|套|礼盒)(是|有|装|共)?\s*(\d+|[一二两三四五六七八九十]+)\s*(小)?(袋|罐|瓶|包))")
PRICE_PER_UNIT = re.compile(rf"(\d+(?:\.\d+)?)\s*(元|块)(钱)?\s*(一|每|/|1)\s*(斤|公斤|千克|{PACKAGE[1:-1]})"
                            rf"|(一|每|单)\s*(斤|公斤|{PACKAGE[1:-1]})\s*(是|要|只要|才|卖)?\s*(\d+(?:\.\d+)?)\s*(元|块)")
COUNTED = re.compile(rf"{CN_NUM}\s*(袋|罐|盒|瓶|件|包|份)")
USAGE = re.compile(r"(每天|每次|一次|一天|吃|泡|放入|用量|一小把|一把|每日)")
GRADE_COUNT_CLAIM = re.compile(r"每\s*(\d*)\s*(克|g|磅|斤)\s*(不超过|约|大约|只有|有|在)?\s*(\d+(?:-\d+)?)\s*(粒|颗)")
PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")


def _grams(value: float, unit: str) -> tuple[float, str]:
    if unit in ("kg", "公斤", "千克"):
        return value * 1000, "g"
    if unit == "斤":
        return value * 500, "g"
    if unit in ("ml", "毫升"):
        return value, "ml"
    return value, "g"


@dataclass(frozen=True)
class Pack:
    amount: float
    unit: str  # g | ml
    count: int
    package: str


@lru_cache(maxsize=4096)
def packs(product: ProductFacts) -> tuple[Pack, ...]:
    spec = product.fact("规格")
    found = [Pack(*_grams(float(m.group(1)), m.group(2)), int(m.group(3)), m.group(5)) for m in SPEC_STRING.finditer(spec)]
    for m in re.finditer(rf"(\d+(?:\.\d+)?)\s*{WEIGHT}\s*/\s*{PACKAGE}", spec):
        found.append(Pack(*_grams(float(m.group(1)), m.group(2)), 1, m.group(3)))
    return tuple(found)


@lru_cache(maxsize=4096)
def net(product: ProductFacts) -> frozenset[tuple[float, str]]:
    # An appliance's "容量是350ml" or "重2.8kg" is as much the product's own figure as 净含量.
    stated = " ".join(product.fact(label) for label in ("净含量", "容量", "重量"))
    found = {_grams(float(m.group(1)), m.group(2)) for m in re.finditer(rf"(\d+(?:\.\d+)?)\s*{WEIGHT}", stated)}
    found |= {(p.amount * p.count, p.unit) for p in packs(product)}
    return frozenset(found)


def _outer_package(product: ProductFacts, package: str) -> bool:
    """"一盒" of a product in small bags in a 纸盒 is the whole listing."""
    return package in product.fact("包装") and not any(p.package == package for p in packs(product))


def spec_findings(text: str, ctx: CheckContext, cat: ShopCatalog) -> Iterator[Finding]:
    def judged(start: int, end: int) -> Subjects | None:
        who = subjects(text, start, end, ctx, cat, following=True)
        return who if who.candidates and any(packs(p) or net(p) for p in who.candidates) else None

    for m in PER_PACK_A.finditer(text):
        yield from _per_pack(text, m.start(), m.end(), float(m.group(1)), m.group(2), m.group(5), judged)
    for m in PER_PACK_B.finditer(text):
        value = _number(m.group(7))
        if value is not None:
            yield from _per_pack(text, m.start(), m.end(), value, m.group(8), m.group(3), judged)
    for m in SPEC_STRING.finditer(text):
        who = judged(m.start(), m.end())
        if who is None:
            continue
        amount, unit = _grams(float(m.group(1)), m.group(2))
        claim = Pack(amount, unit, int(m.group(3)), m.group(5))
        # "100g×2罐" of a 100g/罐 listing is two of it; of a 30ml×30袋 listing, a wrong spec.
        fits = [p for p in who.candidates if claim in packs(p) or
                Pack(amount, unit, 1, claim.package) in packs(p)]
        if not fits and any(packs(p) for p in who.primary):
            yield Finding(m.start(), m.end(), CONTRADICTED, "规格是" + "、".join(p.fact("规格") for p in who.primary))
    for m in COPULA_WEIGHT.finditer(text):
        left, _ = _clause(text, m.start(), m.start())
        if USAGE.search(text[left:m.start()]) or PER_PACK_A.match(text, m.start() + len(m.group(1))):
            continue
        value = _number(m.group(4))
        who = judged(m.start(), m.end())
        if value is None or who is None:
            continue
        claim = _grams(value, m.group(5))
        allowed = set().union(*(net(p) | {(k.amount, k.unit) for k in packs(p)} for p in who.candidates))
        if COUNTED.search(text[left:m.start()]):  # "两袋共1000g": a multiple of the listing
            allowed |= {(a * n, u) for a, u in allowed for n in range(2, 11)}
        if claim not in allowed and any(net(p) for p in who.primary):
            yield Finding(m.start(), m.end(), CONTRADICTED,
                          "净含量是" + "、".join(p.fact("净含量") or p.fact("规格") for p in who.primary))
    for m in COUNT_CLAIM.finditer(text):
        raw, package = (m.group(2), m.group(4)) if m.group(2) else (m.group(8), m.group(10))
        value = _number(raw)
        who = judged(m.start(), m.end())
        if value is None or who is None:
            continue
        stated = {float(c.group(1)) for p in who.candidates
                  for c in re.finditer(rf"(\d+)\s*{package}", p.fact("规格") + p.fact("礼盒"))}
        if stated and value not in stated:
            yield Finding(m.start(), m.end(), CONTRADICTED, "规格是" + "、".join(p.fact("规格") for p in who.primary))
    yield from _price_per_unit(text, ctx, cat)
    yield from _grade_counts(text, ctx, cat)
    yield from _percentages(text, ctx, cat)


def _per_pack(text: str, start: int, end: int, value: float, unit: str, package: str,
              judged: Callable[[int, int], Subjects | None]) -> Iterator[Finding]:
    left, _ = _clause(text, start, start)
    if USAGE.search(text[left:start]):
        return
    who = judged(start, end)
    if who is None:
        return
    claim = _grams(value, unit)

    def allowed(p: ProductFacts) -> set[tuple[float, str]]:
        own = {(k.amount, k.unit) for k in packs(p) if k.package == package}
        if not own and (_outer_package(p, package) or not packs(p)):
            own = set(net(p))
        return own or {(k.amount, k.unit) for k in packs(p)}

    if any(claim in allowed(p) for p in who.candidates):
        return
    stated = [p for p in who.primary if allowed(p)]
    if stated:
        yield Finding(start, end, CONTRADICTED, "规格是" + "、".join(p.fact("规格") for p in stated))


def _units_in(product: ProductFacts, unit: str) -> float | None:
    """How many of `unit` (斤, 袋, 罐 …) one listing holds."""
    grams = [a for a, u in net(product) if u == "g"]
    if unit in ("斤", "公斤", "千克"):
        return grams[0] / (500 if unit == "斤" else 1000) if grams else None
    own = [k.count for k in packs(product) if k.package == unit]
    if own:
        return float(sum(own))
    if _outer_package(product, unit) or product.fact("包装").endswith(unit):
        return 1.0
    return None


def _price_per_unit(text: str, ctx: CheckContext, cat: ShopCatalog) -> Iterator[Finding]:
    """"39.9元一斤" for a 1000g listing at 39.9元: the price buys two 斤."""
    for m in PRICE_PER_UNIT.finditer(text):
        value = float(m.group(1) or m.group(9))
        unit = m.group(5) or m.group(7)
        who = subjects(text, m.start(), m.end(), ctx, cat)
        fine = wrong = False
        for p in who.candidates:
            count = _units_in(p, unit)
            if p.price is None or count is None:
                continue
            if abs(value - p.price / count) < 0.06:
                fine = True
            elif abs(value - p.price) < 0.01:
                wrong = True
        if wrong and not fine:
            yield Finding(m.start(), m.end(), CONTRADICTED, f"标价是整件的价格,不是每{unit}")


def _grade_counts(text: str, ctx: CheckContext, cat: ShopCatalog) -> Iterator[Finding]:
    """"特级每50克不超过280粒": the shop's own grade table says 370."""
    for m in GRADE_COUNT_CLAIM.finditer(text):
        base = base_weight(m)
        scope = text[max(_scope_start(text, m.start()), m.start() - 15):m.start()]
        # The grade the sentence is about, not the one it is compared with ("特优比特级…").
        named = [x.group(0) for x in cat.grade_re.finditer(scope)
                 if scope[max(0, x.start() - 1):x.start()] not in ("比", "和", "跟", "与", "于", "如")]
        if named:
            grade = max(named, key=lambda g: scope.rfind(g))
            stated = cat.grade_counts.get((grade, base))
        else:
            who = subjects(text, m.start(), m.end(), ctx, cat)
            stated = frozenset(g.group(4) for p in who.primary for g in re.finditer(
                GRADE_COUNT_CLAIM.pattern, p.fact("等级")) if base_weight(g) == base)
            grade = ""
        if stated and m.group(4) not in stated:
            yield Finding(m.start(), m.end(), CONTRADICTED, f"{grade}每{m.group(1)}{m.group(2)}应为 {'/'.join(sorted(stated))} {m.group(5)}")


def _bigrams(s: str) -> set[str]:
    han = "".join(HAN.findall(s))
    return {han[i:i + 2] for i in range(len(han) - 1)}


def _percentages(text: str, ctx: CheckContext, cat: ShopCatalog) -> Iterator[Finding]:
    """"100%自然开口" where the facts say 自然开口率95%以上."""
    for m in PERCENT.finditer(text):
        left, right = _clause(text, m.start(), m.end())
        words = _bigrams(text[max(left, m.start() - 6):m.start()] + text[m.end():min(right, m.end() + 6)])
        who = subjects(text, m.start(), m.end(), ctx, cat)
        stated = []
        for p in who.candidates:
            for f in PERCENT.finditer(p.text):
                fl, _ = _clause(p.text, f.start(), f.start())
                if words & _bigrams(p.text[max(fl, f.start() - 10):f.start()]):
                    stated.append(float(f.group(1)))
        if stated and float(m.group(1)) not in stated:
            yield Finding(m.start(), m.end(), CONTRADICTED, f"商品信息写的是 {'/'.join(f'{v:g}%' for v in stated)}")
