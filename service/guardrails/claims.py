"""Open-world claims about a product, judged against its facts (detector type `claims`).

A reply says things rules over numbers cannot check: 无糖, 去核, what a gift box holds, 比灰枣
更甜, a 250g罐, 开瓶后常温放一周. Each finder below reads one kind of claim, finds the
product it is about (the product named nearest before it in the sentence, else the chat's
product) and returns a verdict:

- supported: the facts say so (same wording, a synonym, or the same polarity);
- contradicted: the facts say the opposite (rule `grounding.claim`, block);
- unsupported: the facts are silent (rule `grounding.unsupported_claim`, warn).

Every finder fails open: with no product in play, or a fact field the pack lacks, it says
nothing. The words come from `knowledge/builtin/claims.yaml` and from the pack itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

from service.guardrails.catalog_facts import MAX_TERM_PRODUCTS, Mention, ShopCatalog, base_weight
from service.guardrails.context import CheckContext, ProductFacts
from service.guardrails.lexicon import Attribute, required_chars
from service.guardrails.rules import RuleSpec, detector, to_number

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


# --- attributes (无糖, 去核, 有机, 熏硫 …) ---------------------------------------------------


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


# --- dates, storage after opening, brewing temperature -------------------------------------

RESTOCK = re.compile(r"(下个?月|下周|下星期|月底|月初|过几天|过两天|这几天|这周|本周|明天|后天|(\d{1,2})(号|日))"
                     r"[^，。！？]{0,6}?(就)?(能|会|可以)?(补货|到货|补上|有货|上架|恢复)")
FACT_DATE = re.compile(r"(\d{1,2})月(\d{1,2})日")
HARVEST = re.compile(r"(\d{1,2})月(上|中|下)?(上|中|下)?旬?[^，。！？]{0,6}(采摘|采的|摘的|采收|收获|上市)")
OPENED = re.compile(r"(开(瓶|袋|罐|封|盖|包)|拆(开|封|袋))")
ROOM = re.compile(r"(常温|室温|不用冷藏|不需要冷藏|不用放冰箱|随便放)")
CHILLED = re.compile(r"(冷藏|冰箱|冷冻)")
DURATION = re.compile(rf"(放|存|保存|存放|搁|喝|吃)[^，。！？]{{0,3}}?{CN_NUM}\s*(个)?(小时|天|周|星期|礼拜|月|年)")
DURATION_FACT = re.compile(rf"{CN_NUM}\s*(个)?(小时|天|周|星期|月|年)(内|之内|以内)")
HOURS = {"小时": 1, "天": 24, "周": 168, "星期": 168, "礼拜": 168, "月": 720, "年": 8760}
BOILING = re.compile(r"(开水|沸水|滚水|刚烧开的水|热开水|100\s*℃|100度)")
DEGREES = re.compile(r"(\d+)\s*(?:-\s*(\d+)\s*)?(℃|度)")


def date_findings(text: str, ctx: CheckContext, cat: ShopCatalog) -> Iterator[Finding]:
    for m in RESTOCK.finditer(text):
        if negated(text, m.start()):
            continue
        who = subjects(text, m.start(), m.end(), ctx, cat)
        out = [p for p in who.primary if p.stock == 0]
        if not out:
            continue
        dates = {(int(a), int(b)) for p in out for a, b in FACT_DATE.findall(p.text)}
        exact = re.search(r"(\d{1,2})月(\d{1,2})(日|号)", text[max(0, m.start() - 6):m.end()])
        if exact and (int(exact.group(1)), int(exact.group(2))) in dates:
            continue  # "12月12日左右补货": the policy rule checks stated dates
        if exact:
            continue
        day = re.search(r"(\d{1,2})(号|日)", m.group(0))  # "下个月1号": the day can be checked
        verdict = CONTRADICTED if dates and day and all(int(day.group(1)) != d for _, d in dates) else UNSUPPORTED
        yield Finding(m.start(), m.end(), verdict,
                      "预计补货日期:" + "、".join(f"{a}月{b}日" for a, b in sorted(dates)) if dates else "商品信息没有补货日期")
    for m in HARVEST.finditer(text):
        who = subjects(text, m.start(), m.end(), ctx, cat)
        stated = {int(h.group(1)) for p in who.candidates for h in HARVEST.finditer(p.text)}
        if stated and int(m.group(1)) not in stated:
            yield Finding(m.start(), m.end(), CONTRADICTED, "采摘时间是" + "、".join(f"{s}月" for s in sorted(stated)))
        elif not stated and who.primary:
            yield Finding(m.start(), m.end(), UNSUPPORTED, "商品信息没有写采摘时间")


def storage_findings(text: str, ctx: CheckContext, cat: ShopCatalog) -> Iterator[Finding]:
    """"开瓶后常温能放一周" where the facts say 开瓶后冷藏，48小时内喝完."""
    for m in OPENED.finditer(text):
        if negated(text, m.start(), window=2):
            continue  # 未开封 is the unopened product
        left, right = _clause(text, m.start(), m.end())
        clause = text[left:right]
        who = subjects(text, m.start(), m.end(), ctx, cat)
        rules = [_opened_rule(p) for p in who.candidates]
        rules = [r for r in rules if r is not None]
        if not rules:
            continue
        room = ROOM.search(clause)
        if room and not negated(clause, room.start()) and all(chilled for chilled, _ in rules):
            yield Finding(left + room.start(), left + room.end(), CONTRADICTED, "开封后要冷藏")
            continue
        d = DURATION.search(clause)
        if d:
            value = _number(d.group(2))
            limits = [h for _, h in rules if h is not None]
            if value is not None and limits and value * HOURS[d.group(4)] > max(limits) + 1e-9:
                yield Finding(left + d.start(), left + d.end(), CONTRADICTED, f"开封后 {max(limits):g} 小时内吃完")


def _opened_rule(product: ProductFacts) -> tuple[bool, float | None] | None:
    """(chilled after opening?, hours to finish) from the storage facts; None if silent."""
    storage = product.fact("储存方法")
    chilled, hours, said = False, None, False
    for clause in re.split(r"[；;。]", storage):
        for m in OPENED.finditer(clause):
            if negated(clause, m.start(), window=2):
                continue
            said = True
            chilled = chilled or bool(CHILLED.search(clause[m.end():]))
            d = DURATION_FACT.search(clause)
            if d and (value := _number(d.group(1))) is not None:
                h = value * HOURS[d.group(3)]
                hours = h if hours is None else min(hours, h)
            elif re.search(r"(当天|一次)(吃|喝)完", clause):
                hours = 24.0 if hours is None else min(hours, 24.0)
    return (chilled, hours) if said else None


def temperature_findings(text: str, ctx: CheckContext, cat: ShopCatalog) -> Iterator[Finding]:
    """Brewing hotter than the usage facts allow ("开水冲泡" for 40-60℃)."""
    for m in list(BOILING.finditer(text)) + list(DEGREES.finditer(text)):
        left, right = _clause(text, m.start(), m.end())
        if not re.search(r"(泡|冲|焖|沏)", text[left:right]) or negated(text, m.start()):
            continue
        who = subjects(text, m.start(), m.end(), ctx, cat)
        limits = [_max_temperature(p) for p in who.candidates]
        limits = [x for x in limits if x is not None]
        if not limits:
            continue
        claimed = 100.0 if m.re is BOILING else float(m.group(2) or m.group(1))
        if claimed > max(limits) + 10:
            yield Finding(m.start(), m.end(), CONTRADICTED, f"冲泡水温不超过 {max(limits):g}℃")


def _max_temperature(product: ProductFacts) -> float | None:
    usage = product.fact("食用方法")
    found = [float(m.group(2) or m.group(1)) for m in DEGREES.finditer(usage)]
    if re.search(r"(不要|别|勿)用?(刚烧开|开水|沸水)", usage):
        found.append(min(found) if found else 90.0)
    return max(found) if found else None


# --- how much to eat, who may eat it, the grade ---------------------------------------------

# "每天吃3袋", "每次5-10粒": the words between may only say how it is eaten (not "每日坚果30袋").
AMOUNT_CLAIM = re.compile(rf"(每天|每次|一天|一次|每日)\s*(?:[^，。！？；\d]{{0,3}}?(?:吃|喝|泡|冲|嚼|食用|放))?\s*"
                          rf"(?:约|大约|最多)?{CN_NUM}(?:\s*[-~到至]\s*{CN_NUM})?\s*(小)?(克|g|粒|颗|个|袋|瓶)")
STEEPS = re.compile(rf"(续泡|冲泡|泡)\s*{CN_NUM}(?:\s*[-~到至]\s*{CN_NUM})?\s*次")
AMOUNT_FACT = re.compile(rf"{CN_NUM}(?:\s*[-~到至]\s*{CN_NUM})?\s*(小)?(克|g|粒|颗|个|袋|瓶)")
COUNT_UNITS = {"克": "g", "g": "g", "粒": "count", "颗": "count", "个": "count", "袋": "袋", "瓶": "瓶"}


def amount_findings(text: str, ctx: CheckContext, cat: ShopCatalog) -> Iterator[Finding]:
    """"每天吃50克" where the usage facts say 10-20克: more than the facts advise."""
    for m in AMOUNT_CLAIM.finditer(text):
        unit = COUNT_UNITS[m.group(5)]
        claimed = _number(m.group(3) or m.group(2))
        who = subjects(text, m.start(), m.end(), ctx, cat)
        highs = [h for p in who.candidates for f in AMOUNT_FACT.finditer(p.fact("食用方法"))
                 if COUNT_UNITS[f.group(4)] == unit and (h := _number(f.group(2) or f.group(1))) is not None]
        if claimed is not None and highs and claimed > max(highs) + 1e-9:
            yield Finding(m.start(), m.end(), CONTRADICTED, f"食用方法写的是最多 {max(highs):g}{m.group(5)}")
    for m in STEEPS.finditer(text):  # "可以续泡10次" where the facts say 4-5次
        claimed = _number(m.group(3) or m.group(2))
        who = subjects(text, m.start(), m.end(), ctx, cat)
        highs = [h for p in who.candidates for f in STEEPS.finditer(p.fact("食用方法"))
                 if (h := _number(f.group(3) or f.group(2))) is not None]
        if claimed is not None and highs and claimed > max(highs) + 1e-9:
            yield Finding(m.start(), m.end(), CONTRADICTED, f"食用方法写的是最多续泡 {max(highs):g} 次")


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


# --- the detector --------------------------------------------------------------------------

FINDERS = {
    "attributes": attribute_findings,
    "not_is": not_is_findings,
    "contents": contents_findings,
    "comparisons": comparison_findings,
    "spec": spec_findings,
    "dates": date_findings,
    "storage": storage_findings,
    "temperature": temperature_findings,
    "amounts": amount_findings,
    "suitability": suitability_findings,
    "grades": grade_findings,
    "materials": material_findings,
}

def _finder_patterns(cat: ShopCatalog) -> dict[str, list[re.Pattern[str]]]:
    """The patterns each finder needs to match before it can say anything."""
    lex = cat.lexicon
    return {
        "contents": [lex.containers, INSIDE, EACH],
        "comparisons": [re.compile(r"比|不如|和|跟|与|同|于"), IDENTITY],
        "spec": [PER_PACK_A, PER_PACK_B, SPEC_STRING, COPULA_WEIGHT, COUNT_CLAIM, PRICE_PER_UNIT,
                 GRADE_COUNT_CLAIM, PERCENT],
        "dates": [RESTOCK, HARVEST],
        "storage": [OPENED],
        "temperature": [BOILING, DEGREES],
        "amounts": [AMOUNT_CLAIM, STEEPS],
        "suitability": [lex.group_re],
        "grades": [cat.grade_re],
        "materials": [lex.material_re],
    }


def _finder_keys(cat: ShopCatalog) -> dict[str, frozenset[str] | None]:
    """Per finder, characters one of which a reply must hold for any of its patterns to
    match (None: no such set); a reply without them skips the finder."""
    memo = _memo(cat)
    if memo.finder_keys is None:
        keys: dict[str, frozenset[str] | None] = {}
        for kind, patterns in _finder_patterns(cat).items():
            found = [required_chars(p) for p in patterns]
            keys[kind] = None if any(f is None for f in found) else frozenset().union(*found)  # type: ignore[arg-type]
        memo.finder_keys = keys
    return memo.finder_keys


_last: tuple[CheckContext, str, tuple[Finding, ...]] | None = None


def find_claims(text: str, ctx: CheckContext) -> tuple[Finding, ...]:
    """Every judged claim in `text` (memoised for the two rules that read it)."""
    global _last
    memo = _last
    if memo is not None and memo[0] is ctx and memo[1] == text:
        return memo[2]
    cat = ctx.catalog
    found: list[Finding] = []
    if isinstance(cat, ShopCatalog) and (ctx.products() or cat.mentions(text)):
        seen: set[tuple[int, int]] = set()
        keys, chars = _finder_keys(cat), set(text)
        for kind, finder in FINDERS.items():
            needed = keys.get(kind)
            if needed is not None and needed.isdisjoint(chars):
                continue
            for f in finder(text, ctx, cat):
                if (f.start, f.end) not in seen:
                    seen.add((f.start, f.end))
                    found.append(Finding(f.start, f.end, f.verdict, f.detail, kind))
    result = tuple(found)
    _last = (ctx, text, result)
    return result


@detector("claims")
def claims(rule: RuleSpec, text: str, ctx: CheckContext) -> Iterator[tuple[int, int, str]]:
    """Open-world claims about products (attributes, contents, comparisons, spec, dates,
    storage, brewing temperature) judged against the facts. Params: `verdict` (contradicted
    or unsupported: which findings this rule reports), `kinds` (optional subset of finders).
    Fails open without products in play or without the pack's catalog."""
    verdict = rule.params.get("verdict", CONTRADICTED)
    kinds = set(rule.params.get("kinds") or FINDERS)
    for f in find_claims(text, ctx):
        if f.verdict == verdict and f.kind in kinds:
            yield f.start, f.end, f.detail

