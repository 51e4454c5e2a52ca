"""Contents claims: what a box or mix holds and how many of each (礼盒里有…, 配了…, 三罐…, 各400g)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from service.guardrails.catalog_facts import MAX_TERM_PRODUCTS, Mention, ShopCatalog
from service.guardrails.claims.base import (
    CN_NUM,
    CONTRADICTED,
    UNSUPPORTED,
    Finding,
    _clause,
    _is_food,
    _number,
    _question,
    _short,
    negated,
    subjects,
)
from service.guardrails.context import CheckContext, ProductFacts

# --- contents (礼盒里有…, 配了…, 各400g) -----------------------------------------------------

COUNT_BEFORE = re.compile(rf"{CN_NUM}\s*(小|大)?(罐|袋|盒|瓶|只|个|把|张|包|支)[\u4e00-\u9fff]{{0,4}}$")
FACT_COUNT = r"[×xX*]?\s*(\d+)\s*(小|大)?({unit})"
EACH = re.compile(rf"各\s*{CN_NUM}\s*(g|克|罐|袋|盒|瓶|包|颗)")
SEGMENT = re.compile(r"[+＋、，,；;：:]")


def _support_words(cat: ShopCatalog, item: Mention) -> frozenset[str]:
    """Words in a box's facts that count as the item: its own word and the names of its
    products, but not broader kinds ("枸杞" does not stand for 黑枸杞)."""
    group = set(item.products)
    words = {item.term}
    # "中宁红枸杞" names one product but means the kind in it: the longest kind word inside.
    inner = [k for k in cat.kinds if k in item.term]
    if inner:
        words.add(max(inner, key=len))
    for pid in group:
        for w in cat.product_words.get(pid, frozenset()):
            pids = cat.component_terms.get(w, frozenset())
            if pids <= group or len(pids) <= MAX_TERM_PRODUCTS:
                words.add(w)
    return frozenset(words)


def _contents_fields(product: ProductFacts) -> str:
    return "\n".join(product.fact(label) for label in ("规格", "礼盒", "产地", "备注", "包装")) + "\n" + product.name


def _closed_list(product: ProductFacts) -> bool:
    """The facts enumerate what the box holds, so anything else is not in it."""
    return product.fact("礼盒").startswith("是") or bool(re.search(r"[+＋：:]", product.fact("规格")))


def _items(text: str, start: int, end: int, cat: ShopCatalog) -> list[tuple[int, int, str, Mention | None]]:
    found: list[tuple[int, int, str, Mention | None]] = [
        (m.start, m.end, m.term, m) for m in cat.mentions(text) if start <= m.start and m.end <= end and _is_food(m)]
    for m in cat.lexicon.accessory_re.finditer(text, start, end):
        s, e = m.start(), m.end()
        if not any(s < fe and fs < e for fs, fe, _, _ in found):
            found.append((s, e, m.group(0), None))
    return sorted(found)


INSIDE = re.compile(r"里(面|头)?(还|也)?(有|是|含有?|装(了|的是|着)?)")


def _triggers(text: str, cat: ShopCatalog) -> list[re.Match[str]]:
    """Where a reply starts saying what something holds: the lexicon's container wording, or
    "里有/里是" right after a product's name ("每日坚果里有…")."""
    found = list(cat.lexicon.containers.finditer(text))
    ends = {m.end for m in cat.mentions(text)}
    found += [m for m in INSIDE.finditer(text) if m.start() in ends
              and not any(f.start() <= m.start() < f.end() for f in found)]
    return found


def contents_findings(text: str, ctx: CheckContext, cat: ShopCatalog) -> Iterator[Finding]:
    gifts = " ".join(ctx.policy.gifts.allowed)
    for trigger in _triggers(text, cat):
        if negated(text, trigger.start()) or _question(text, trigger.start()):
            continue
        _, right = _clause(text, trigger.end(), trigger.end())
        who = subjects(text, trigger.start(), trigger.start(), ctx, cat)
        if not who.primary:
            continue
        own = {p.id for p in who.primary}
        for s, e, word, mention in _items(text, trigger.end(), right, cat):
            if mention is not None and own & set(mention.products):
                continue  # the box itself
            if mention is None:
                if word in gifts:
                    continue  # an allowed gift is the gift rule's business
                words = frozenset(cat.accessory_groups[word])
            else:
                words = _support_words(cat, mention)
            backing = [p for p in who.candidates if any(w in _contents_fields(p) for w in words)]
            if not backing:
                closed = any(_closed_list(p) for p in who.primary)
                yield Finding(s, e, CONTRADICTED if closed else UNSUPPORTED,
                              f"{_short(who.primary[0])}里没有写“{word}”")
                continue
            count = COUNT_BEFORE.search(text[max(trigger.end(), s - 10):s])
            if count:
                value, unit = _number(count.group(1)), count.group(3)
                stated = _fact_counts(backing, words, unit)
                if value is not None and stated and value not in stated:
                    yield Finding(max(trigger.end(), s - 10) + count.start(), e, CONTRADICTED,
                                  f"商品信息写的是 {'/'.join(f'{v:g}' for v in sorted(stated))}{unit}")
    yield from _each_findings(text, ctx, cat)


def _fact_counts(products: Sequence[ProductFacts], words: frozenset[str], unit: str) -> set[float]:
    pattern = re.compile(FACT_COUNT.format(unit=re.escape(unit)))
    found: set[float] = set()
    for product in products:
        for field in (product.fact("规格"), product.fact("礼盒")):
            for segment in SEGMENT.split(field):
                if any(w in segment for w in words):
                    found |= {float(m.group(1)) for m in pattern.finditer(segment)}
    return found


def _each_findings(text: str, ctx: CheckContext, cat: ShopCatalog) -> Iterator[Finding]:
    """"红枣、桂圆、枸杞各400g": each listed item must have that amount in the spec."""
    for m in EACH.finditer(text):
        value, unit = _number(m.group(1)), m.group(2)
        if value is None:
            continue
        left, _ = _clause(text, m.start(), m.start())
        listed = [x for x in cat.mentions(text[left:m.start()]) if _is_food(x)]
        if len(listed) < 2:
            continue  # "12种坚果果干各1袋" is not a list of items with one amount each
        who = subjects(text, left, left, ctx, cat)
        amount = re.compile(rf"(\d+(?:\.\d+)?)\s*({'g|克' if unit in ('g', '克') else re.escape(unit)})")
        for item in listed:
            words = _support_words(cat, item)
            stated: set[float] = set()
            for product in who.primary:
                for segment in SEGMENT.split(product.fact("规格")):
                    if any(w in segment for w in words):
                        stated |= {float(a.group(1)) for a in amount.finditer(segment)}
            if stated and value not in stated:
                yield Finding(m.start(), m.end(), CONTRADICTED,
                              f"{item.term}是 {'/'.join(f'{v:g}' for v in sorted(stated))}{unit}")
                break
