"""Correct homophone typos against the shop's own vocabulary.

Buyers type with pinyin input methods, so most typos sound right and look wrong: 开新果
for 开心果, 合桃 for 核桃, 桂元 for 桂圆. A window of the question whose pinyin equals a
word of the shop's vocabulary, and which is not itself a known word, is replaced by it.
Two-character windows must also line up with jieba's segmentation, so a window that cuts
through a real word is left alone ("便宜点" never becomes "便一点" through 宜点→一点).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

import jieba
from pypinyin import lazy_pinyin

_HAN_RUN = re.compile(r"[\u4e00-\u9fff]+")
MIN_LEN, MAX_LEN = 2, 6


class PinyinCorrector:
    def __init__(self, vocabulary: Iterable[str]) -> None:
        self.vocabulary = {w for w in vocabulary if MIN_LEN <= len(w) <= MAX_LEN and _HAN_RUN.fullmatch(w)}
        index: dict[tuple[str, ...], set[str]] = {}
        for word in self.vocabulary:
            index.setdefault(tuple(lazy_pinyin(word)), set()).add(word)
        # A sound shared by two different words says nothing about which one was meant.
        self._index = {key: next(iter(words)) for key, words in index.items() if len(words) == 1}

    def correct(self, text: str, min_same: float = 0.0) -> str:
        """`min_same`: the share of a window's characters that must already be right
        ("破壁鸡" → 破壁机 keeps 2 of 3; "榨果汁" → 炸锅纸 keeps none and is left alone)."""
        if not self._index:
            return text
        return _HAN_RUN.sub(lambda m: self._correct_run(m.group(0), min_same), text)

    def _correct_run(self, run: str, min_same: float = 0.0) -> str:
        sounds, bounds = _analysed(run)
        if len(sounds) != len(run):  # pinyin must map one syllable to one character
            return run
        out, i = [], 0
        while i < len(run):
            for size in range(min(MAX_LEN, len(run) - i), MIN_LEN - 1, -1):
                window = run[i : i + size]
                target = self._index.get(tuple(sounds[i : i + size]))
                aligned = size > 2 or (i in bounds and i + size in bounds)
                same = sum(a == b for a, b in zip(target or "", window, strict=False)) / size
                if target and target != window and aligned and not _is_word(window) and same >= min_same:
                    out.append(target)
                    i += size
                    break
            else:
                out.append(run[i])
                i += 1
        return "".join(out)


@lru_cache(maxsize=8192)
def _analysed(run: str) -> tuple[list[str], frozenset[int]]:
    """The run's syllables and jieba's word bounds: the costly part, shared by the
    understanding and the retrieval of one message."""
    bounds = {0}
    for token in jieba.cut(run, HMM=False):
        bounds.add(max(bounds) + len(token))
    return lazy_pinyin(run), frozenset(bounds)


def _is_word(text: str) -> bool:
    return bool(jieba.dt.FREQ.get(text))
