"""Per-pack knowledge the claim checks need beyond the products in the chat: every
product's facts, the words that name a product or a kind of food, and the shop's grade
table. Built once per pack (the service caches it with the pack's other rule data)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from service.guardrails.context import ProductFacts
from service.guardrails.lexicon import ClaimLexicon

# A term shared by more products than this names none of them (as in the catalog resolver).
MAX_TERM_PRODUCTS = 3
GRADE_COUNT = re.compile(r"每\s*(\d*)\s*(克|g|磅|斤)\s*(不超过|约|大约)?\s*(\d+(?:-\d+)?)\s*(粒|颗)")


def base_weight(m: re.Match[str]) -> str:
    """"每50克" -> "50g", "每磅" -> "1磅": the weight a piece count is given for."""
    return (m.group(1) or "1") + ("g" if m.group(2) in ("克", "g") else m.group(2))


@dataclass(frozen=True)
class Mention:
    start: int
    end: int
    term: str
    products: tuple[str, ...]


@dataclass
class ShopCatalog:
    """Product facts by id and the vocabulary built from them. Terms come from the catalog
    (names, name parts, aliases); kinds of food from each product's category (品类 a/b)."""

    products: Mapping[str, ProductFacts]
    terms: Mapping[str, Sequence[str]]  # lower-cased term -> product ids (the catalog's)
    lexicon: ClaimLexicon
    handbook: str = ""
    _mention_cache: dict[str, tuple[Mention, ...]] = field(default_factory=dict, repr=False)

    @cached_property
    def naming_terms(self) -> dict[str, tuple[str, ...]]:
        return {t: tuple(p) for t, p in self._terms.items() if len(p) <= MAX_TERM_PRODUCTS}

    @cached_property
    def _terms(self) -> dict[str, Sequence[str]]:
        """Catalog terms less grade words: a name part "特优级" names a grade, not a product."""
        grades = {g.lower() for g in self.grades} | {g.lower() + "级" for g in self.grades}
        return {t: p for t, p in self.terms.items() if t not in grades}

    @cached_property
    def kinds(self) -> dict[str, frozenset[str]]:
        """Words for a kind of food (红枣, 枸杞, 原浆) -> the products of that kind."""
        found: dict[str, set[str]] = defaultdict(set)
        for pid, product in self.products.items():
            for part in re.split(r"[/／>、]", product.fact("品类")):
                part = part.strip().lower()
                if len(part) >= 2 and not re.search(r"(礼盒|礼包|制品|其他)", part):
                    found[part].add(pid)
        return {k: frozenset(v) for k, v in found.items()}

    @cached_property
    def component_terms(self) -> dict[str, frozenset[str]]:
        """Every word that can name a food inside a box or a mix -> its products."""
        out: dict[str, set[str]] = defaultdict(set)
        for term, pids in self._terms.items():
            out[term].update(pids)
        for kind, pids in self.kinds.items():
            out[kind].update(pids)
        return {t: frozenset(p) for t, p in out.items()}

    @cached_property
    def product_words(self) -> dict[str, frozenset[str]]:
        """Product id -> every word that names it or its kind."""
        out: dict[str, set[str]] = defaultdict(set)
        for term, pids in self.component_terms.items():
            for pid in pids:
                out[pid].add(term)
        return {p: frozenset(w) for p, w in out.items()}

    @cached_property
    def accessory_groups(self) -> dict[str, tuple[str, ...]]:
        return {word: group for group in self.lexicon.accessories for word in group}

    @cached_property
    def grades(self) -> dict[str, frozenset[str]]:
        """Grade word (特优, 特级, 5A, W320) -> the products of that grade."""
        out: dict[str, set[str]] = defaultdict(set)
        for pid, product in self.products.items():
            for grade in self.grades_of(product):
                out[grade].add(pid)
        return {g: frozenset(p) for g, p in out.items() if g}

    @cached_property
    def grade_re(self) -> re.Pattern[str]:
        words = sorted(self.grades, key=len, reverse=True)
        return re.compile("|".join(re.escape(w) for w in words)) if words else re.compile(r"(?!)")

    @staticmethod
    def grades_of(product: ProductFacts) -> list[str]:
        found = []
        for part in re.split(r"[；;]", product.fact("等级")):
            word = re.split(r"[（(]", part.strip())[0]
            word = re.sub(r"(大果|中果|小果)$", "", word)
            # "红枸杞特优级": the grade is what follows a kind of food.
            word = re.sub(r"^[\u4e00-\u9fff]+?(特优级?|特级|甲级|乙级|[一二三]级|[0-9]A级?)$", r"\1", word)
            if len(word) > 2 and word.endswith("级"):
                word = word[:-1]
            if 2 <= len(word) <= 4:
                found.append(word)
        return found

    @cached_property
    def grade_counts(self) -> dict[tuple[str, str], frozenset[str]]:
        """(grade, base weight) -> the counts the shop states ("特级", "50克") -> {"370"}."""
        out: dict[tuple[str, str], set[str]] = defaultdict(set)
        for product in self.products.values():
            grades = self.grades_of(product)
            for m in GRADE_COUNT.finditer(product.fact("等级")):
                base = base_weight(m)
                for grade in grades[:1]:
                    out[(grade, base)].add(m.group(4))
        return {k: frozenset(v) for k, v in out.items()}

    @cached_property
    def _lengths_by_first(self) -> dict[str, tuple[int, ...]]:
        """First character -> lengths of the terms that start with it, longest first."""
        found: dict[str, set[int]] = defaultdict(set)
        for t in self.component_terms:
            found[t[0]].add(len(t))
        return {c: tuple(sorted(v, reverse=True)) for c, v in found.items()}

    def mentions(self, text: str) -> tuple[Mention, ...]:
        """Product and food words in `text`, longest first at each position, not overlapping.
        A mention's products are the catalog's for a product term, or every product of a
        kind of food ("红枣")."""
        cached = self._mention_cache.get(text)
        if cached is not None:
            return cached
        lower = text.lower() if len(text.lower()) == len(text) else text
        found: list[Mention] = []
        i = 0
        terms = self.component_terms
        starts = self._lengths_by_first
        while i < len(lower):
            hit = None
            for length in starts.get(lower[i], ()):
                if i + length <= len(lower) and lower[i:i + length] in terms:
                    hit = lower[i:i + length]
                    break
            if hit is None:
                i += 1
                continue
            found.append(Mention(i, i + len(hit), hit, tuple(sorted(terms[hit]))))
            i += len(hit)
        result = tuple(found)
        if len(self._mention_cache) > 4096:
            self._mention_cache.clear()
        self._mention_cache[text] = result
        return result

    def names_product(self, mention: Mention) -> bool:
        """Does the mention single out a product (an alias), not a kind of food?"""
        return mention.term in self.naming_terms
