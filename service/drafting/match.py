"""How well a piece of shop text answers a buyer's message, without an LLM.

Chinese chat has no spaces and buyers write colloquially, so texts are compared by their
characters and character pairs, each weighted by how rare it is among the texts competing
to answer (idf): "盐" or "核" in a question picks the clause that mentions it, "枸杞" in
every clause picks none. Microseconds per text.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache

# Particles, pronouns and question words: they carry no topic.
STOP_CHARS = frozenset("的了吗呢吧啊呀哦噢嘛么哈嗯亲您你我他她它们是在有和与就都也还又这那个一下请问可以能会要想"
                       "给把被让啦呗哇诶喔么怎什多少样吧呐哟嗷得地着过很太最更再才")
# Pairs that say how, not what: they match everywhere and pick nothing.
STOP_PAIRS = frozenset("一起 一下 一个 一点 一些 什么 怎么 为什么 时候 现在 还是 就是 不是 没有 有没 是不 能不 可不 "
                       "这个 那个 这样 那样 这么 那么 已经 知道 觉得 问问 看看 收到 东西 是否 如果 但是 因为 所以 "
                       "然后 可能 应该 需要 大家 自己 真的 一直 不会 不能 不要 不用 能否 多少 几个 这款 那款 这次 直接 "
                       "马上 今天 明天 一定 肯定 还有 给我 帮我 我们 你们 他们 可是 而且 或者 以后".split())
# Characters of everyday wording (生 of 生产 and 医生, 期 of 日期 and 孕期): alone they hint at
# little, so they weigh less than a rare character such as 盐 or 核.
COMMON_CHARS = frozenset("生期一不人上下中大小来去到说出时年地后前里面天日月点过起还发成事作想看开手用方本见经头公同已"
                         "从动两长样现分外些高意进把法实回理明其种全工己话向情部正名定问力给等几最间新打便位因被走次"
                         "真听少并内加由先别处才比目通表原常提感何更合放做或受及今各任至直度请让认算每条变言往该近留"
                         "完即求量告单据失拿似若谁切整须买卖家店件信息")
RUN = re.compile(r"[\u4e00-\u9fff]+|[a-z0-9]+")


@lru_cache(maxsize=16384)
def grams(text: str) -> frozenset[str]:
    """Content characters and character pairs (pairs of two stop characters left out).
    Cached: the shop's samples and fact clauses come back with every message."""
    out: set[str] = set()
    for run in RUN.findall(text.lower()):
        if run.isascii():
            out.add(run)
            continue
        for i, ch in enumerate(run):
            if ch not in STOP_CHARS:
                out.add(ch)
            pair = run[i:i + 2]
            if len(pair) == 2 and not (ch in STOP_CHARS and pair[1] in STOP_CHARS) and pair not in STOP_PAIRS:
                out.add(pair)
    return frozenset(out)


class Scorer:
    """Overlap with a query, weighted by rarity among the candidate texts."""

    def __init__(self, candidates: Iterable[frozenset[str]]) -> None:
        self.docs = list(candidates)
        self.df: Counter[str] = Counter(g for doc in self.docs for g in doc)
        self.n = len(self.docs)

    def weight(self, gram: str) -> float:
        idf = math.log(1 + (self.n + 1) / (self.df.get(gram, 0) + 0.5))
        if gram.isdigit():
            return idf * 0.6  # "5袋", "30": mostly an amount, seldom the topic ("e1", "3c" are)
        if len(gram) > 1 or gram.isascii():
            return idf
        return idf * (0.15 if gram in COMMON_CHARS else 0.5)

    def score(self, query: frozenset[str], doc: frozenset[str]) -> float:
        return sum(self.weight(g) for g in query & doc)
