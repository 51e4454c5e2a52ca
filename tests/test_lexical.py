"""Tokens cached per jieba block are the tokens of cutting whole lines."""

from __future__ import annotations

import jieba

from service.knowledge.documents import build_documents
from service.knowledge.ingest import pack_words
from service.knowledge.pack import load_pack
from service.retrieval import lexical
from tests.conftest import DEMO_PACK, ROOT


def _whole_lines(text: str) -> list[str]:
    """The tokenizer before per-block caching: jieba on each whole line."""
    out = []
    for line in text.lower().splitlines():
        for token in jieba.lcut_for_search(line):
            token = token.strip()
            if token and token not in lexical.STOPWORDS and not lexical._PUNCT.match(token):
                out.append(token)
    return out


def test_block_cache_gives_the_tokens_of_whole_lines() -> None:
    pack = load_pack(DEMO_PACK)
    lexical.add_words(pack_words(pack))
    texts = [d.text for d in build_documents(pack)]
    texts += (ROOT / "eval" / "retrieval-demo.jsonl").read_text(encoding="utf-8").splitlines()[:80]
    texts += ["宁夏中宁特级红枸杞 500g罐装 款00001(商品编号 S00001)\n价格:58.0元",
              "Ａ１２３ 全角ＡＢＣ", "emoji😀测试", "a-b_c.d+e#f&g%h", "  空格  开头\t制表", "中宁枸杞\r\n第二行",
              "", "\n\n", "亲,这个多少钱?能便宜点吗~~~"]
    for text in texts:
        assert lexical.tokenize(text) == _whole_lines(text), text
    assert lexical.tokenize("宁夏中宁特级红枸杞 500g罐装")[:3] == _whole_lines("宁夏中宁特级红枸杞 500g罐装")[:3]


def test_new_words_clear_both_caches() -> None:
    before = lexical.tokenize("测一测新词汇枸杞王")
    lexical.add_words(["新词汇枸杞王"])
    after = lexical.tokenize("测一测新词汇枸杞王")
    assert "新词汇枸杞王" in after and after != before
