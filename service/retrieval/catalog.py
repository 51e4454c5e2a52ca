"""Resolve the product a buyer is talking about from the words of the question.

Names and aliases come from the pack. An exact mention wins, the longest first ("黑枸杞
礼盒" before "黑枸杞"); for small catalogs a fuzzy match catches typos such as "黑狗杞".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from rapidfuzz import fuzz, process

# Substring and fuzzy scans are linear in the catalog; above this many terms the
# resolver uses jieba tokens (exact dictionary words) only.
SCAN_LIMIT = 3000
FUZZY_MIN_LEN = 4
FUZZY_CUTOFF = 75.0


class Catalog:
    def __init__(self, entries: Sequence[Sequence[object]]) -> None:
        self.names: dict[str, str] = {}
        self.terms: dict[str, list[str]] = defaultdict(list)
        for pid, name, aliases in entries:
            pid, name = str(pid), str(name)
            self.names[pid] = name
            for term in {name, *[str(a) for a in aliases]}:  # type: ignore[union-attr]
                term = term.lower().strip()
                if len(term) >= 2 and pid not in self.terms[term]:
                    self.terms[term].append(pid)
        self._fuzzy_terms = [t for t in self.terms if len(t) >= FUZZY_MIN_LEN]

    def __contains__(self, product_id: str) -> bool:
        return product_id in self.names

    def resolve(self, query: str, tokens: Sequence[str] = (), limit: int = 3) -> list[str]:
        """Products mentioned in `query`, most specific mention first."""
        text = query.lower()
        if len(self.terms) <= SCAN_LIMIT:
            found = [t for t in self.terms if t in text]
        else:
            found = [t for t in set(tokens) if t in self.terms]
        if not found and self._fuzzy_terms and len(self.terms) <= SCAN_LIMIT:
            match = process.extractOne(text, self._fuzzy_terms, scorer=fuzz.partial_ratio,
                                       score_cutoff=FUZZY_CUTOFF)
            if match:
                found = [match[0]]
        # Drop terms contained in a longer found term ("枸杞" inside "黑枸杞").
        found.sort(key=len, reverse=True)
        kept: list[str] = []
        for term in found:
            if not any(term in longer for longer in kept):
                kept.append(term)
        products: list[str] = []
        for term in kept:
            # An alias shared by many products names none of them in particular.
            if len(self.terms[term]) > limit:
                continue
            for pid in self.terms[term]:
                if pid not in products:
                    products.append(pid)
        return products[:limit]
