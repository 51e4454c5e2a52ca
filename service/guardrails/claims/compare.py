"""Comparison claims (比灰枣更甜, 和骏枣一样大, sizes from pieces per weight) and identity claims
(山核桃就是纸皮核桃), judged against the comparisons the facts state."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from service.guardrails.catalog_facts import MAX_TERM_PRODUCTS, ShopCatalog, base_weight
from service.guardrails.claims.base import (
    CONTRADICTED,
    SUPPORTED,
    UNSUPPORTED,
    Finding,
    Subjects,
    _clause,
    _memo,
    _question,
    subjects,
)
from service.guardrails.claims.spec import GRADE_COUNT_CLAIM
from service.guardrails.context import CheckContext, ProductFacts

# --- comparisons (比灰枣更甜, 和骏枣一样大) and identity (山核桃就是纸皮核桃) ---------------------

MODIFIERS = re.compile(r"(常规|普通|其他|其它|一般|别的|同款|这款|那款|纯|的)*")
ADVERBS = r"(还要|还|更加|更|要|略|稍微|稍|会|明显|要更)?"
EQUAL = r"(是)?(完全)?(一样|相同|同样|差不多|相当|接近|同一(款|种|批|个)|同等级|同级|同等)"
DIFFER = r"(是)?(不是同一(款|种|批|个)|不一样|不同|不相同)"


@dataclass(frozen=True)
class Comparison:
    start: int
    end: int
    objects: frozenset[str]  # product ids, or "grade:特级"
    dim: str | None  # None for "the same thing"
    sign: int  # +1 more, -1 less, 0 equal; for kind "differ" the sign is unused
    kind: str  # "cmp" | "same" | "differ"


def _object_at(text: str, pos: int, cat: ShopCatalog) -> tuple[int, frozenset[str]] | None:
    """The compared thing starting at `pos` (after optional 常规/其他…): its end and ids."""
    skip = MODIFIERS.match(text, pos)
    begin = skip.end() if skip else pos
    for m in cat.mentions(text):
        if begin <= m.start <= begin + 2 and m.start - pos <= 4:
            return m.end, frozenset(m.products)
        if m.start > begin + 2:
            break
    g = cat.grade_re.match(text, begin)
    if g:
        end = g.end()
        return end + (1 if text.startswith("级", end) else 0), frozenset({f"grade:{g.group(0)}"})
    return None


def comparisons(text: str, cat: ShopCatalog) -> list[Comparison]:
    lex = cat.lexicon
    adjectives, nouns = lex.adjective_re, lex.noun_re
    found: list[Comparison] = []
    for m in re.finditer(r"比|不如|和|跟|与|同|于", text):
        marker = m.group(0)
        obj = _object_at(text, m.end(), cat)
        if obj is None:
            continue
        end, objects = obj
        left, _ = _clause(text, m.start(), m.start())
        noun_scope = text[max(left, m.start() - 5):m.start()]
        tail = text[end:end + 14]
        if marker in ("比", "不如"):
            # "比其他红枸杞单价更低": a dimension noun may stand between the thing and the word.
            a = re.match(rf"(的|款|装)?({nouns})?{ADVERBS}({adjectives})", tail)
            if a:
                dim = lex.adjective(a.group(4), noun_scope + a.group(0))
                if dim:
                    sign = dim[1] * (-1 if marker == "不如" else 1)
                    found.append(Comparison(m.start(), end + a.end(), objects, dim[0], sign, "cmp"))
        elif marker == "于":
            a = re.search(rf"({adjectives})$", text[max(left, m.start() - 3):m.start()])
            if a:
                dim = lex.adjective(a.group(1), noun_scope)
                if dim:
                    found.append(Comparison(m.start() - len(a.group(1)), end, objects, dim[0], dim[1], "cmp"))
        else:
            d = re.match(rf"(的|款|装)?{DIFFER}", tail)
            if d:
                found.append(Comparison(m.start(), end + d.end(), objects, None, 0, "differ"))
                continue
            e = re.match(rf"(的|款|装)?{EQUAL}({adjectives})?", tail)
            if e:
                adj = e.group(e.lastindex) if e.lastindex and e.group(e.lastindex) in lex.adjectives else None
                dim = lex.adjective(adj, noun_scope) if adj else None
                found.append(Comparison(m.start(), end + e.end(), objects, dim[0] if dim else None, 0, "same"))
    return found


def _facts_comparisons(product: ProductFacts, cat: ShopCatalog) -> list[Comparison]:
    memo = _memo(cat).comparisons
    if product.id not in memo:
        memo[product.id] = _read_comparisons(product, cat)
    return memo[product.id]


def _read_comparisons(product: ProductFacts, cat: ShopCatalog) -> list[Comparison]:
    found = comparisons(product.text, cat)
    # "和纸皮核桃不是同一种，个头小很多": a size difference stated after the "differ".
    for c in list(found):
        if c.kind == "differ":
            _, right = _clause(product.text, c.end, c.end)
            nxt = product.text[right + 1:right + 12]
            lex = cat.lexicon
            for adj in lex.adjectives:
                a = re.search(rf"{re.escape(adj)}(很多|不少|一些|得多|一点)", nxt)
                if a:
                    dim = lex.adjective(adj, nxt[:a.start()])
                    if dim:
                        found.append(Comparison(c.start, c.end, c.objects, dim[0], dim[1], "cmp"))
                    break
    return found


def _overlap(a: frozenset[str], b: frozenset[str], cat: ShopCatalog) -> bool:
    if a & b:
        return True
    grades_a = {x for x in a if x.startswith("grade:")}
    grades_b = {x for x in b if x.startswith("grade:")}
    # A grade compared with a product of that grade ("比特级" vs P003 特级).
    for g in grades_a:
        if cat.grades.get(g[6:], frozenset()) & b:
            return True
    return any(cat.grades.get(g[6:], frozenset()) & a for g in grades_b)


def comparison_findings(text: str, ctx: CheckContext, cat: ShopCatalog) -> Iterator[Finding]:
    for claim in comparisons(text, cat):
        if claim.kind == "differ" or _question(text, claim.start):
            continue
        who = subjects(text, claim.start, claim.start, ctx, cat)
        own = frozenset(p.id for p in who.candidates)
        if not who.primary or _overlap(claim.objects, own, cat) and claim.kind == "same":
            continue
        snippet = text[claim.start:claim.end]
        if any(snippet in p.text for p in who.candidates):
            continue  # the facts say it in these words
        stated: list[Comparison] = []
        for p in who.candidates:
            stated += [c for c in _facts_comparisons(p, cat) if _overlap(c.objects, claim.objects, cat)]
        # The other side's facts, turned around ("骏枣…甜度比灰枣略低" answers "灰枣比骏枣甜").
        for pid in claim.objects:
            other = cat.products.get(pid)
            if other is not None:
                stated += [Comparison(c.start, c.end, own, c.dim, -c.sign, c.kind)
                           for c in _facts_comparisons(other, cat) if _overlap(c.objects, own, cat)]
        verdict = _judge_comparison(claim, stated)
        if verdict == UNSUPPORTED and claim.dim == "size":
            verdict = _size_from_counts(claim, who, cat) or verdict
        if verdict != SUPPORTED:
            detail = "商品信息里的比较与此相反" if verdict == CONTRADICTED else "商品信息里没有这样的比较"
            yield Finding(claim.start, claim.end, verdict, detail)
    yield from _identity_findings(text, ctx, cat)


def _judge_comparison(claim: Comparison, stated: list[Comparison]) -> str:
    if claim.dim is None:  # "是同一款"
        if any(c.kind == "same" and c.dim is None for c in stated):
            return SUPPORTED
        return CONTRADICTED if any(c.kind == "differ" for c in stated) else UNSUPPORTED
    same_dim = [c for c in stated if c.dim == claim.dim and c.kind != "differ"]
    if any(c.sign == claim.sign for c in same_dim):
        return SUPPORTED
    return CONTRADICTED if same_dim else UNSUPPORTED


def _counts_per(products: Sequence[ProductFacts], grades: Sequence[str], cat: ShopCatalog) -> dict[str, float]:
    """Pieces per base weight ("每500克约55-65颗" -> {"500g": 60}): fewer pieces, bigger ones."""
    found: dict[str, list[float]] = {}
    for p in products:
        for m in GRADE_COUNT_CLAIM.finditer(p.fact("等级")):
            base = base_weight(m)
            low, _, high = m.group(4).partition("-")
            found.setdefault(base, []).append((float(low) + float(high or low)) / 2)
    for g in grades:
        for (grade, base), values in cat.grade_counts.items():
            if grade == g:
                found.setdefault(base, []).extend(
                    (float(v.partition("-")[0]) + float(v.partition("-")[2] or v.partition("-")[0])) / 2 for v in values)
    return {b: sum(v) / len(v) for b, v in found.items() if v}


def _size_from_counts(claim: Comparison, who: Subjects, cat: ShopCatalog) -> str | None:
    """A size comparison the facts imply through pieces per weight (特级 370粒/50g is
    bigger-grained than 甲级 580粒/50g)."""
    mine = _counts_per(who.primary, [], cat)
    others = [cat.products[p] for p in claim.objects if p in cat.products]
    theirs = _counts_per(others, [o[6:] for o in claim.objects if o.startswith("grade:")], cat)
    for base, count in mine.items():
        if base in theirs and theirs[base] != count:
            bigger = 1 if count < theirs[base] else -1
            if claim.sign == 0:
                return CONTRADICTED
            return SUPPORTED if claim.sign == bigger else CONTRADICTED
    return None


IDENTITY = re.compile(r"(其实|也)?(就是|即是|等于)")


def _identity_findings(text: str, ctx: CheckContext, cat: ShopCatalog) -> Iterator[Finding]:
    """"山核桃就是纸皮核桃": two different products said to be one."""
    mentions = cat.mentions(text)
    for m in IDENTITY.finditer(text):
        left = next((x for x in reversed(mentions) if x.end <= m.start() and m.start() - x.end <= 1), None)
        right = next((x for x in mentions if m.end() <= x.start <= m.end() + 1), None)
        if left is None or right is None or set(left.products) & set(right.products):
            continue
        if len(left.products) > MAX_TERM_PRODUCTS or len(right.products) > MAX_TERM_PRODUCTS:
            continue
        claim = Comparison(left.start, right.end, frozenset(right.products), None, 0, "same")
        stated = [c for pid in left.products if pid in cat.products
                  for c in _facts_comparisons(cat.products[pid], cat) if c.objects & claim.objects]
        stated += [c for pid in right.products if pid in cat.products
                   for c in _facts_comparisons(cat.products[pid], cat) if c.objects & set(left.products)]
        verdict = _judge_comparison(claim, stated)
        if verdict != SUPPORTED:
            yield Finding(left.start, right.end, verdict, "这是两款不同的商品")
