"""Resolve the products a buyer is talking about from the words of the question.

Names and aliases come from the pack. Three signals, in order:
1. an exact mention of a name or alias, the longest first ("黑枸杞礼盒" before "黑枸杞");
2. distinctive words of a product's name and aliases ("甲级 … 家庭装"), weighted by how
   few products share them, so a comparison of two products pins both;
3. for small catalogs, a fuzzy match of a long alias (a typo that is not a homophone).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Sequence

from rapidfuzz import fuzz, process

# Substring and fuzzy scans are linear in the catalog; above this many terms the
# resolver uses jieba tokens (exact dictionary words) only.
SCAN_LIMIT = 3000
FUZZY_MIN_LEN = 4
FUZZY_CUTOFF = 75.0
SIZE_WORD = re.compile(r"\d+(\.\d+)?\s*(L|l|ml|升|毫升|寸|档|Bar|张|件)")
SIZE_ASKED = re.compile(r"(\d+(?:\.\d+)?)\s*(L|l|升|ml|毫升)")
SIZE_PICK = re.compile(r"(?:(小号|小的|小一点的|小一号|小款|小尺寸)|(大号|大的|大一点的|大一号|大款|大尺寸))")
CN_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(毫升|升)")
# "有没有6升以上的", "还有更大的吗": of one line in several sizes, the largest.
BEYOND = re.compile(r"\d+(?:\.\d+)?\s*(?:L|l|升)\s*(?:以上|往上|还大|更大)|更大的|最大的|大点的")
# Word-overlap resolution: a product needs this much IDF mass from distinct name words,
# in units of a word no other product has (so about two fairly distinctive words), and at
# least this share of the best product's mass.
WORD_MIN_SCORE = 1.05
MAX_SHARED = 50
WORD_RELATIVE = 0.6


class Catalog:
    def __init__(self, entries: Sequence[Sequence[object]],
                 tokenize: Callable[[str], list[str]] | None = None) -> None:
        self.names: dict[str, str] = {}
        self.terms: dict[str, list[str]] = defaultdict(list)
        words: dict[str, set[str]] = defaultdict(set)
        for entry in entries:
            pid, name, aliases = str(entry[0]), str(entry[1]), [str(a) for a in entry[2]]  # type: ignore[union-attr]
            self.names[pid] = name
            # Name parts separated by spaces ("宁夏中宁红枸杞 特级 袋装") count as terms too.
            parts = [p for p in name.split() if len(p) >= 3] if " " in name.strip() else []
            for term in {name, *parts, *aliases}:
                term = term.lower().strip()
                if len(term) >= 2 and pid not in self.terms[term]:
                    self.terms[term].append(pid)
            # Tokens of the name and aliases: precomputed at ingest (4th field), or cut here.
            if len(entry) > 3:
                tokens = str(entry[3]).split()
            elif tokenize is not None:
                tokens = tokenize(" ".join([name, *aliases]))
            else:
                tokens = []
            for token in tokens:
                if len(token) >= 2:
                    words[token].add(pid)
        n = max(len(self.names), 1)
        # Words shared by many products ("枸杞", "宁夏") carry little; IDF weighs them down.
        unique = math.log(n) if n > 1 else 1.0
        # A word shared by more than MAX_SHARED products cannot single one out.
        self.words = {w: (pids, math.log(n / len(pids)) / unique) for w, pids in words.items()
                      if len(pids) <= max(3, min(n // 10, MAX_SHARED))}
        self._fuzzy_terms = [t for t in self.terms if len(t) >= FUZZY_MIN_LEN]
        self._order = {pid: i for i, pid in enumerate(self.names)}   # ties go to the catalog's order

    def __contains__(self, product_id: str) -> bool:
        return product_id in self.names

    def siblings(self, product_id: str) -> list[str]:
        """Products sold in other sizes under the same name ("智能电饭煲 3L" / "智能电饭煲 5L")."""
        def core(name: str) -> str:
            return next((p for p in name.split() if len(p) >= 3 and not SIZE_WORD.fullmatch(p)), name)

        mine = core(self.names.get(product_id, ""))
        return [pid for pid, name in self.names.items() if core(name) == mine]

    def sized_sibling(self, product_id: str, text: str) -> str | None:
        """"那5L的呢" of the 3L one: the sibling in the size the text names, if another."""
        sizes = {m.group(1) + ("ml" if m.group(2) in ("ml", "毫升") else "L") for m in SIZE_ASKED.finditer(text)}
        if len(sizes) != 1:
            return None    # none named, or "3升和5升哪个…" comparing sizes: it asks of none in particular
        wanted = next(iter(sizes))
        same = re.compile(rf"(?<![\d.]){re.escape(wanted)}(?![\d.])", re.IGNORECASE)
        if same.search(self.names.get(product_id, "")):
            return None
        return next((pid for pid in self.siblings(product_id) if same.search(self.names[pid])), None)

    def resolve(self, query: str, tokens: Sequence[str] = (), limit: int = 3, fuzzy: bool = True) -> list[str]:
        """Products mentioned in `query`, most specific mention first."""
        text = query.lower()
        plain = text.replace("的", "")   # "电饭煲的内胆" names the alias 电饭煲内胆
        if len(self.terms) <= SCAN_LIMIT:
            found = [t for t in self.terms if t in text or t in plain]
        else:
            found = [t for t in set(tokens) if t in self.terms]
        products = self._from_terms(found, limit)
        # "3升的小炸锅": names write sizes as 3L / 350ml, buyers as 3升 / 350毫升.
        sizes = [f"{n}{'ml' if unit == '毫升' else 'l'}" for n, unit in CN_SIZE.findall(text)]
        for pid in self._by_words([*tokens, *sizes]):
            if pid not in products:
                products.append(pid)
        if not products and (size := SIZE_PICK.search(text)):
            products = self._by_size(tokens, small=size.group(1) is not None)
        if products and BEYOND.search(text) and set(products) <= set(line := self.siblings(products[0])):
            sized = [(float(m.group(1)), pid) for pid in line if (m := SIZE_ASKED.search(self.names[pid]))]
            products = [max(sized)[1]] if len(sized) == len(line) > 1 else products
        if fuzzy and not products and self._fuzzy_terms and len(self.terms) <= SCAN_LIMIT:
            match = process.extractOne(text, self._fuzzy_terms, scorer=fuzz.partial_ratio,
                                       score_cutoff=FUZZY_CUTOFF)
            if match:
                products = self._from_terms([match[0]], limit)
        return products[:limit]

    def _by_size(self, tokens: Sequence[str], small: bool) -> list[str]:
        """"小号的炸锅": of the sizes of one product line that a word of the query names
        ("炸锅" in 空气炸锅 and 迷你空气炸锅), the smallest (or the largest)."""
        words = [t for t in tokens if len(t) >= 2]
        line = dict.fromkeys(pid for term, pids in self.terms.items() if any(w in term for w in words) for pid in pids)
        sized = [(float(m.group(1)), pid) for pid in line
                 if (m := SIZE_ASKED.search(self.names[pid])) and m.group(2) in ("L", "l", "升")]
        if len(sized) < 2 or len({v for v, _ in sized}) != len(sized):
            return []   # not one line in different sizes (accessories without a size aside)
        return [min(sized)[1] if small else max(sized)[1]]

    def _from_terms(self, found: list[str], limit: int) -> list[str]:
        # Drop terms contained in a longer found term ("枸杞" inside "黑枸杞").
        found = sorted(found, key=len, reverse=True)
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
        return products

    def _by_words(self, tokens: Sequence[str]) -> list[str]:
        matched: dict[str, list[str]] = defaultdict(list)
        for token in dict.fromkeys(tokens):   # in the query's order: a set's order varies by run
            entry = self.words.get(token)
            if entry:
                for pid in entry[0]:
                    matched[pid].append(token)
        scores = {}
        for pid, words in matched.items():
            # Search-mode cuts yield 家庭 and 家庭装 alike: count the longer one only.
            kept = [w for w in words if not any(w != o and w in o for o in words)]
            scores[pid] = sum(self.words[w][1] for w in kept)
        if not scores:
            return []
        best = max(scores.values())
        # Ties go to the catalog's order, the same on every run.
        return [pid for pid, score in sorted(scores.items(), key=lambda kv: (-kv[1], self._order.get(kv[0], 0)))
                if score >= WORD_MIN_SCORE and score >= WORD_RELATIVE * best]
