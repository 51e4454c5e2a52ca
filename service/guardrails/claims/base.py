"""What every claim finder shares: verdicts, negation, clause and sentence scope, numbers, the
product a claim is about (`subjects`), attribute polarity and the per-pack memo of the facts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from service.guardrails.catalog_facts import MAX_TERM_PRODUCTS, Mention, ShopCatalog
from service.guardrails.context import CheckContext, ProductFacts
from service.guardrails.lexicon import Attribute
from service.guardrails.rules import to_number

if TYPE_CHECKING:
    from service.guardrails.claims.compare import Comparison

SUPPORTED, CONTRADICTED, UNSUPPORTED = "supported", "contradicted", "unsupported"

# Negators for claims. 不过/不错/不少/不同, 没关系, 无花果, 未来, 特别/区别, 非常 … contain one
# and negate nothing.
NEG = re.compile(r"(不(?!过|错|少|仅|但|久|管|如|好|客|满|够|同|论|止|然|断|光|只|单|妨)(?!适(?!合|宜|用))|"
                 r"没(?!关|事|问题)|未(?!来)|无(?!论|限|花果)|非(?!常|洲)|(?<![特区分类级])别(?!的|人|家|处)|勿|"
                 r"从不|绝不|拒绝|避免|禁止)")
CLAUSE = re.compile(r"[，。！？,.!?；;\n~～（）()]")
SCOPE = re.compile(r"[。！？!?；;\n]")
HAN = re.compile(r"[\u4e00-\u9fff]")
CN_NUM = r"(\d+(?:\.\d+)?|[一二两三四五六七八九十半]+)"
QUESTION = re.compile(r"(还是|吗|呢|是否|要不要|有没有)")


@dataclass(frozen=True)
class Finding:
    start: int
    end: int
    verdict: str
    detail: str
    kind: str = ""


# --- shared helpers ------------------------------------------------------------------------


def _clause(text: str, start: int, end: int) -> tuple[int, int]:
    left = max((m.end() for m in CLAUSE.finditer(text, 0, start)), default=0)
    right = CLAUSE.search(text, end)
    return left, right.start() if right else len(text)


def _scope_start(text: str, start: int) -> int:
    return max((m.end() for m in SCOPE.finditer(text, 0, start)), default=0)


def negated(text: str, start: int, window: int = 6) -> bool:
    """A negator shortly before `start`, in the same clause ("不加糖", "没有额外加糖")."""
    left, _ = _clause(text, start, start)
    return bool(NEG.search(text[max(left, start - window):start]))


def _question(text: str, start: int) -> bool:
    """A clause that asks ("要带壳的还是去壳的？") claims nothing."""
    left, right = _clause(text, start, start)
    sentence_end = SCOPE.search(text, start)
    return bool(QUESTION.search(text[left:right])) or bool(sentence_end and sentence_end.group(0) in "？?")


def _number(raw: str) -> float | None:
    return to_number(raw) if raw else None


def _object_of_comparison(text: str, m: Mention) -> bool:
    """The compared thing in "比灰枣更甜", "和纸皮核桃不是同一种" is not the claim's subject."""
    before = text[max(0, m.start - 2):m.start]
    return before.endswith(("比", "和", "跟", "与", "同", "像", "不如", "于"))


@dataclass(frozen=True)
class Subjects:
    primary: tuple[ProductFacts, ...]  # the product the claim is about
    candidates: tuple[ProductFacts, ...]  # primary plus others that may be meant: any may back it


def subjects(text: str, start: int, end: int, ctx: CheckContext, cat: ShopCatalog,
             following: bool = False) -> Subjects:
    """The product a claim at [start, end) is about: the one whose name contains it, else the
    one named nearest before it in the sentence, else the chat's product."""
    mentions = cat.mentions(text)
    primary: list[str] = []
    for m in mentions:
        if m.start <= start and end <= m.end and len(m.products) <= MAX_TERM_PRODUCTS:
            facts = [cat.products[p] for p in m.products if p in cat.products]
            return Subjects(tuple(facts), tuple(facts))  # "原味无盐腰果仁": the name's own claim
    scope = _scope_start(text, start)
    before = [m for m in mentions if scope <= m.start and m.end <= start
              and len(m.products) <= MAX_TERM_PRODUCTS and not _object_of_comparison(text, m)]
    if before:
        primary = list(before[-1].products)
    found = [cat.products[p] for p in primary if p in cat.products]
    if not found and ctx.product is not None:
        found = [ctx.product]
    # Other products named earlier in the sentence, and the chat's product, may be meant too;
    # so may the product a quantity modifies ("一盒30袋经典款") when `following` is asked.
    others = [cat.products[p] for m in before[:-1] for p in m.products if p in cat.products]
    if ctx.product is not None:
        others.append(ctx.product)
    if following:
        others += [cat.products[p] for m in mentions if end <= m.start <= end + 1
                   and len(m.products) <= MAX_TERM_PRODUCTS for p in m.products if p in cat.products]
    candidates = list(found)
    for product in others:
        if all(c.id != product.id for c in candidates):
            candidates.append(product)
    return Subjects(tuple(found), tuple(candidates))


def _short(product: ProductFacts) -> str:
    """The name without the brand: "杞源堂 新疆若羌灰枣 一级" -> "新疆若羌灰枣"."""
    parts = product.name.split()
    return (parts[1] if len(parts) > 1 else parts[0]) if parts else product.id


def _is_food(m: Mention) -> bool:
    """"12袋", "30袋" name a listing by its count, not a food a box holds."""
    return not m.term[:1].isdigit()


# --- attribute polarity and the facts memo -----------------------------------------------

def polar_hits(attr: Attribute, text: str, facts: bool = False) -> list[tuple[int, int, int]]:
    """(start, end, +1/-1) for each statement of the attribute in `text`."""
    patterns = [(attr.positive, 1), (attr.negative, -1)]
    if facts:
        patterns += [(attr.facts_positive, 1), (attr.facts_negative, -1)]
    hits: list[tuple[int, int, int]] = []
    for pattern, base in patterns:
        if pattern is None:
            continue
        for m in pattern.finditer(text):
            if m.end() == m.start() or text[max(0, m.start() - 1):m.start()] == "比":
                continue  # "比纯原浆更顺口" is about the other thing
            hits.append((m.start(), m.end(), -base if negated(text, m.start()) else base))
    hits.sort(key=lambda h: (h[0], -(h[1] - h[0])))
    kept: list[tuple[int, int, int]] = []
    for hit in hits:  # a longer statement wins over one inside it (无添加糖 over 添加糖)
        if kept and hit[0] < kept[-1][1]:
            continue
        kept.append(hit)
    return kept


class _FactsMemo:
    """Per-pack caches of what the facts say, keyed by product id."""

    def __init__(self, cat: ShopCatalog) -> None:
        self.cat = cat
        self.polarity: dict[tuple[str, str], frozenset[int]] = {}
        self.not_is: dict[str, tuple[str, ...]] = {}
        self.handbook: dict[str, list[tuple[int, str]]] = {}
        self.comparisons: dict[str, list[Comparison]] = {}
        self.finder_keys: dict[str, frozenset[str] | None] | None = None

    def signs(self, product: ProductFacts, attr: Attribute) -> frozenset[int]:
        key = (product.id, attr.id)
        if key not in self.polarity:
            if len(self.polarity) > 200_000:  # a huge catalog: keep memory bounded
                self.polarity.clear()
            self.polarity[key] = frozenset(s for _, _, s in polar_hits(attr, product.text, facts=True))
        return self.polarity[key]

    def handbook_signs(self, attr: Attribute) -> list[tuple[int, str]]:
        if attr.id not in self.handbook:
            found = []
            for sentence in SCOPE.split(self.cat.handbook):
                for _, _, sign in polar_hits(attr, sentence, facts=True):
                    found.append((sign, sentence))
            self.handbook[attr.id] = found
        return self.handbook[attr.id]

    def not_is_keys(self, product: ProductFacts) -> tuple[str, ...]:
        if product.id not in self.not_is:
            keys = []
            for m in self.cat.lexicon.not_is.finditer(product.text):
                rest = re.sub(r"^(是|的|特别|很|太|会)+", "", product.text[m.end():m.end() + 12])
                word = re.match(r"[\u4e00-\u9fff]{2}", rest)
                if word:
                    keys.append(word.group(0))
            self.not_is[product.id] = tuple(keys)
        return self.not_is[product.id]


_MEMOS: dict[int, tuple[ShopCatalog, _FactsMemo]] = {}


def _memo(cat: ShopCatalog) -> _FactsMemo:
    entry = _MEMOS.get(id(cat))
    if entry is None or entry[0] is not cat:
        if len(_MEMOS) > 64:
            _MEMOS.clear()
        entry = (cat, _FactsMemo(cat))
        _MEMOS[id(cat)] = entry
    return entry[1]
