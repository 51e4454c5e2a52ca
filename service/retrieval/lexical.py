"""BM25 over jieba-tokenised text.

Tokens are computed once, at ingest, and kept in a small per-shop file beside Chroma
(`HUASHU_DATA_DIR/lexical/<shop>.json`), so a search never re-tokenises the corpus. The
file is a cache: when it is missing or older than the index (another host ingested), it is
rebuilt from the documents stored in Chroma.

Product names and aliases from the pack are added to jieba's dictionary, and documents and
queries are cut in search mode, which also yields the dictionary words inside a long
name — "中宁枸杞" still matches "宁夏中宁特级红枸杞".
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from functools import lru_cache
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import bm25s
import jieba
import numpy as np

jieba.setLogLevel(60)
_jieba_lock = threading.Lock()
_known_words: set[str] = set()

# Particles and filler that carry no meaning for retrieval in buyer chat.
STOPWORDS = frozenset(
    "的 了 吗 呢 吧 啊 呀 哦 噢 嘛 么 哈 嗯 亲 您 你 我 我们 是 在 有 和 与 就 都 也 还 又 这 那 这个 那个 "
    "一下 请问 请 一个 可以 能 能不能 可不可以 吗? 怎么 怎么样 什么 多少 一 个 要 想 给 把 被 让 会 "
    "么 滴 啦 哇 呐 哟 诶 喔 嗷 好 好的 谢谢".split()
)
_PUNCT = re.compile(r"^[\W_]+$", re.UNICODE)


def catalog_words(products: Iterable[tuple[str, Sequence[str]]]) -> list[str]:
    """Words jieba must know for a catalog: product names and aliases, (name, aliases) pairs."""
    words = {w for name, aliases in products for w in (name, *aliases)}
    return sorted(w for w in words if 1 < len(w) <= 30)


def catalog_text(name: str, aliases: Sequence[str]) -> str:
    """What product resolution reads of a product (its name and aliases); ingest and the
    cache rebuild must tokenise exactly this."""
    return " ".join([name, *aliases])


def add_words(words: Iterable[str]) -> None:
    """Teach jieba the pack's product names and aliases (idempotent, thread-safe)."""
    new = [w.strip() for w in words if w and w.strip() and w.strip() not in _known_words]
    if not new:
        return
    with _jieba_lock:
        for word in new:
            jieba.add_word(word, freq=20000)
            _known_words.add(word)
        _tokenize_line.cache_clear()  # cached cuts predate the new words
        _tokenize_block.cache_clear()


def tokenize(text: str) -> list[str]:
    """Search-mode jieba tokens without stopwords and punctuation.

    jieba cuts each line independently, and within a line each run of word characters
    (its `re_han_default` blocks) independently, so tokens are cached per line and per
    block: product documents repeat many lines (storage, usage, origin) and, inside the
    lines that differ (names, prices, stock), most blocks. Same tokens as cutting whole
    lines, several times faster on a large catalog.
    """
    tokens: list[str] = []
    for line in text.lower().splitlines():
        tokens.extend(_tokenize_line(line))
    return tokens


@lru_cache(maxsize=200_000)
def _tokenize_line(line: str) -> tuple[str, ...]:
    out: list[str] = []
    for block in jieba.re_han_default.split(line):
        if block:
            out.extend(_tokenize_block(block))
    return tuple(out)


@lru_cache(maxsize=200_000)
def _tokenize_block(block: str) -> tuple[str, ...]:
    out = []
    for token in jieba.lcut_for_search(block):
        token = token.strip()
        if token and token not in STOPWORDS and not _PUNCT.match(token):
            out.append(token)
    return tuple(out)


SCHEMA = 3


class LexicalStore:
    """The per-shop token file: {schema, pack_hash, words, catalog, docs: {id: [kind, product,
    "space separated tokens", intents]}}. Tokens are stored joined: it makes the file several times
    faster to write and read than nested lists."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, shop: str) -> Path:
        return self.folder / f"{shop}.json"

    def load(self, shop: str) -> dict[str, Any] | None:
        try:
            with self.path(shop).open(encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("schema") != SCHEMA or "docs" not in data:
            return None
        return data

    def save(self, shop: str, data: dict[str, Any]) -> None:
        """Write atomically: a crash leaves the old file or the new one, never half of one."""
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{shop}.", suffix=".tmp")
        try:
            # dumps, then one write: json.dump streams through the pure-Python encoder,
            # several times slower on a 20,000-product shop.
            text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, self.path(shop))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class LexicalIndex:
    """An in-memory BM25 index over one shop's documents."""

    def __init__(self, ids: Sequence[str], kinds: Sequence[str], products: Sequence[str],
                 tokens: Sequence[list[str]], intents: Sequence[str] | None = None) -> None:
        self.ids = list(ids)
        self.kinds = np.asarray(kinds, dtype=object)
        self.products = np.asarray(products, dtype=object)
        self.kind_product = {i: (k, p) for i, k, p in zip(self.ids, kinds, products)}
        # intent -> (id, kind) of the scripts and policy rules written for it
        self.by_intent: dict[str, list[tuple[str, str]]] = {}
        for doc_id, kind, value in zip(self.ids, kinds, intents or [""] * len(self.ids)):
            for intent in filter(None, value.split("|")):
                self.by_intent.setdefault(intent, []).append((doc_id, kind))
        self._bm25 = bm25s.BM25()
        # bm25s needs at least one token per document.
        self._bm25.index([t or ["∅"] for t in tokens], show_progress=False)

    def search(self, tokens: list[str], n: int, mask: np.ndarray | None = None) -> list[tuple[str, float]]:
        if not tokens or not self.ids:
            return []
        n = min(n, len(self.ids))
        docs, scores = self._bm25.retrieve([tokens], k=n, show_progress=False, weight_mask=mask)
        return [(self.ids[i], float(s)) for i, s in zip(docs[0], scores[0]) if s > 0]

    def mask(self, kinds: set[str] | None, product: str | None) -> np.ndarray | None:
        """1 where a document may be returned: kind in `kinds`; no other product's facts."""
        if kinds is None and product is None:
            return None
        keep = np.ones(len(self.ids), dtype=bool)
        if kinds is not None:
            keep &= np.isin(self.kinds, list(kinds))
        if product is not None:
            keep &= (self.products == "") | (self.products == product)
        return keep.astype(np.float32)
