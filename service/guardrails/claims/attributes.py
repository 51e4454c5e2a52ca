"""Attribute claims (无糖, 去核, 有机, 熏硫 …), what the facts say a product is not, who may eat it,
packaging materials and grades."""

from __future__ import annotations

import re
from collections.abc import Iterator

from service.guardrails.catalog_facts import MAX_TERM_PRODUCTS, ShopCatalog
from service.guardrails.claims.base import (
    CONTRADICTED,
    UNSUPPORTED,
    Finding,
    Subjects,
    _clause,
    _FactsMemo,
    _memo,
    _question,
    _short,
    negated,
    polar_hits,
    subjects,
)
from service.guardrails.context import CheckContext
from service.guardrails.lexicon import Attribute

# --- attributes (无糖, 去核, 有机, 熏硫 …) ---------------------------------------------------


def attribute_findings(text: str, ctx: CheckContext, cat: ShopCatalog) -> Iterator[Finding]:
    memo = _memo(cat)
    by_id = {a.id: a for a in cat.lexicon.attributes}
    chars = set(text)
    for attr in cat.lexicon.attributes:
        if attr.keys is not None and attr.keys.isdisjoint(chars):
            continue
        for start, end, sign in polar_hits(attr, text):
            if _question(text, start):
                continue
            who = subjects(text, start, end, ctx, cat)
            if not who.candidates:
                continue
            said = [memo.signs(p, attr) for p in who.candidates]
            if any(sign in s for s in said):
                continue
            primary = [memo.signs(p, attr) for p in who.primary]
            conflicting = sign > 0 and any(1 in memo.signs(p, by_id[c]) for p in who.primary
                                           for c in attr.conflicts if c in by_id)
            claim = attr.name if sign > 0 else f"非{attr.name}"
            if conflicting or any(-sign in s for s in primary):
                yield Finding(start, end, CONTRADICTED, f"{_short(who.primary[0])}的商品信息与“{claim}”相反")
            elif not any(said) and attr.silent == "warn" and not _handbook_backs(memo, attr, sign, who):
                yield Finding(start, end, UNSUPPORTED, f"商品信息没有写“{claim}”")


def _handbook_backs(memo: _FactsMemo, attr: Attribute, sign: int, who: Subjects) -> bool:
    """The shop's handbook says it of a kind of product the subject is ("咱们家的枸杞不染色")."""
    words = set().union(*(memo.cat.product_words.get(p.id, frozenset()) for p in who.candidates))
    return any(s == sign and any(w in sentence for w in words) for s, sentence in memo.handbook_signs(attr))


def not_is_findings(text: str, ctx: CheckContext, cat: ShopCatalog) -> Iterator[Finding]:
    """The facts say what the product is not ("不是茶树叶子"); the reply says it is."""
    memo = _memo(cat)
    products = {p.id: p for p in ctx.products()}
    for m in cat.mentions(text):
        for pid in m.products[:MAX_TERM_PRODUCTS]:
            if pid in cat.products:
                products.setdefault(pid, cat.products[pid])
    keys = {k for p in products.values() for k in memo.not_is_keys(p)}
    for key in keys:
        for m in re.finditer(re.escape(key), text):
            if negated(text, m.start()) or text[max(0, m.start() - 1):m.start()] == "比" or _question(text, m.start()):
                continue
            who = subjects(text, m.start(), m.end(), ctx, cat)
            if who.primary and all(key in memo.not_is_keys(p) for p in who.primary):
                yield Finding(m.start(), m.end(), CONTRADICTED, f"{_short(who.primary[0])}的商品信息写明不是“{key}…”")


# --- who may eat it, packaging materials, the grade -----------------------------------------


def suitability_findings(text: str, ctx: CheckContext, cat: ShopCatalog) -> Iterator[Finding]:
    """"控糖可以放心吃" where the facts say 糖尿病人慎食."""
    safe = cat.lexicon.safe_to_eat
    if safe is None:
        return
    for m in cat.lexicon.group_re.finditer(text):
        group = cat.lexicon.group_of[m.group(0)]
        left, right = _clause(text, m.start(), m.end())
        ok = safe.search(text, m.end(), right)
        if ok is None or negated(text, ok.start(), window=3) or _question(text, m.start()):
            continue
        who = subjects(text, m.start(), m.end(), ctx, cat)
        warned = [p for p in who.primary if any(w in p.fact("不适宜人群") for w in group)]
        if warned and len(warned) == len(who.primary):
            yield Finding(m.start(), ok.end(), CONTRADICTED, f"不适宜人群:{warned[0].fact('不适宜人群')}")


PACKAGING_CLAUSE = re.compile(r"(包装|罐|瓶|袋|盒|箱|装)")


def material_findings(text: str, ctx: CheckContext, cat: ShopCatalog) -> Iterator[Finding]:
    """"二茬小罐是玻璃罐" where the packaging fact says PET透明密封罐."""
    for m in cat.lexicon.material_re.finditer(text):
        left, right = _clause(text, m.start(), m.end())
        if not PACKAGING_CLAUSE.search(text, left, right) or negated(text, m.start()) or _question(text, m.start()):
            continue
        who = subjects(text, m.start(), m.end(), ctx, cat)
        group = cat.lexicon.material_of[m.group(0)]
        packed = [p for p in who.primary if p.fact("包装")]
        if not packed or any(any(w.lower() in p.text.lower() for w in group) for p in who.candidates):
            continue
        yield Finding(m.start(), m.end(), CONTRADICTED, "包装是" + "、".join(p.fact("包装") for p in packed))


GRADE_CLAIM_PREFIX = re.compile(r"(是|属于|为|都是)\s*$")


def grade_findings(text: str, ctx: CheckContext, cat: ShopCatalog) -> Iterator[Finding]:
    """"这款是特优级" for a 特级 product."""
    for m in cat.grade_re.finditer(text):
        grade = m.group(0)
        if not GRADE_CLAIM_PREFIX.search(text[max(0, m.start() - 3):m.start()]) or _question(text, m.start()):
            continue
        if negated(text, m.start() - 1, window=3):
            continue
        end = m.end() + (1 if text.startswith("级", m.end()) else 0)
        who = subjects(text, m.start(), end, ctx, cat)
        overlapping = [cat.products[p] for x in cat.mentions(text) if x.start < end and m.start() < x.end
                       for p in x.products[:MAX_TERM_PRODUCTS] if p in cat.products]
        candidates = [*who.candidates, *overlapping]
        graded = [p for p in candidates if cat.grades_of(p)]
        if who.primary and graded and all(grade not in cat.grades_of(p) for p in graded):
            yield Finding(m.start(), end, CONTRADICTED,
                          "等级是" + "、".join(p.fact("等级") for p in who.primary))
