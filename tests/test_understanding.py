"""Intent lexicon, homophone correction and product resolution: tables of text in, result out."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.retrieval.catalog import Catalog
from service.retrieval.lexical import tokenize
from service.retrieval.spelling import PinyinCorrector
from service.understanding.intents import (
    BUILTIN_DIR,
    INTENTS,
    IntentClassifier,
    LexiconError,
    default_classifier,
    load_examples,
)


def test_lexicon_covers_every_intent() -> None:
    classifier = default_classifier()
    assert {r.intent for r in classifier.rules} == set(INTENTS)


def test_lexicon_examples_are_classified() -> None:
    classifier = default_classifier()
    examples = load_examples()
    total = sum(len(v) for v in examples.values())
    wrong = [(m, i, classifier.classify(m).intent) for i, ms in examples.items() for m in ms
             if classifier.classify(m).intent != i]
    assert total >= 100
    assert len(wrong) / total <= 0.05, wrong


@pytest.mark.parametrize(("text", "intent"), [
    ("坏了能退吗", "quality_issue"),
    ("快递三天没动 搞什么", "logistics"),
    ("不解决我就给差评", "bad_review"),
    ("运费能便宜点吗", "free_shipping_request"),
    ("私下转账便宜点", "off_topic_private"),
    ("改成50块我就拍", "bargain"),
    ("收货电话换成138开头那个", "order_change"),
    ("补偿最多给几块钱", "quality_issue"),   # 最多给 is not asking for more gifts
    ("是不是全网最好的", "other"),            # 最好的 is not 好的
    ("拍完多长时间能发出去", "shipping_time"),  # 多长时间 is not a size
    ("今天天气不错", "off_topic_private"),     # chit-chat unrelated to shopping
    ("嗯", "thanks_farewell"),
])
def test_intent_table(text: str, intent: str) -> None:
    assert default_classifier().classify(text).intent == intent


def test_runner_up_intent_is_reported() -> None:
    result = default_classifier().classify("快递三天没动 搞什么")
    assert list(result.scores)[:2] == ["logistics", "complaint"]
    assert result.matched["logistics"]


@pytest.mark.parametrize(("content", "message"), [
    ("intents: {shopping: {cues: {买: 1}}}", "unknown intent"),
    ("intents: {bargain: {cues: {便宜: lots}}}", "weights must be numbers"),
    ("intents: {bargain: {patterns: ['(unclosed']}}", "does not compile"),
    ("just: [a, list", "cannot load"),
])
def test_malformed_lexicon_fails_at_load(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "intents.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(LexiconError, match=message) as caught:
        IntentClassifier.from_file(path)
    assert "intents.yaml" in caught.value.message


CORRECTOR_VOCAB = ["开心果", "碧根果", "桂圆干", "枸杞", "包邮", "发货", "诺木洪", "一点", "几号"]


@pytest.mark.parametrize(("text", "fixed"), [
    ("开新果是不是漂白过的", "开心果是不是漂白过的"),
    ("碧跟果壳上有裂缝", "碧根果壳上有裂缝"),
    ("桂元干要冷藏吗", "桂圆干要冷藏吗"),
    ("狗杞包油吗", "枸杞包邮吗"),
    ("诺木红的有货吗", "诺木洪的有货吗"),
    ("能便宜点不", "能便宜点不"),            # 宜点 sounds like 一点 but cuts through 便宜
    ("留个手机号", "留个手机号"),            # 机号 sounds like 几号 but cuts through 手机号
    ("时间来得及吗", "时间来得及吗"),
])
def test_homophone_correction(text: str, fixed: str) -> None:
    assert PinyinCorrector(CORRECTOR_VOCAB).correct(text) == fixed


def test_ambiguous_sounds_are_not_corrected() -> None:
    corrector = PinyinCorrector(["实践", "时间"])  # same pinyin: no way to know which was meant
    assert corrector.correct("事件") == "事件"


CATALOG = [
    ("P1", "宁夏中宁红枸杞 特级 袋装", ["中宁枸杞", "特级枸杞"]),
    ("P2", "宁夏中宁红枸杞 甲级 家庭经济装", ["甲级枸杞", "家庭装枸杞"]),
    ("P3", "青海诺木洪黑枸杞 特级大果 罐装", ["黑枸杞", "诺木洪黑枸杞", "大果黑枸杞"]),
    ("P4", "新疆黑枸杞 中果 尝鲜小罐", ["黑枸杞尝鲜装", "小罐黑枸杞"]),
    ("P5", "美国加州开心果 本色", ["开心果", "本色开心果"]),
]


@pytest.mark.parametrize(("query", "expected"), [
    ("黑枸杞孕妇能吃吗", ["P3"]),
    ("黑枸杞尝鲜装和诺木洪大果有啥区别", ["P4", "P3"]),   # longest alias first, then name words
    ("特级袋装跟甲级家庭装差多少", ["P2", "P1"]),
    ("本色开心果多少钱", ["P5"]),
    ("包邮吗", []),
    ("枸杞怎么泡", []),                                  # a word every product shares names none
])
def test_catalog_resolution(query: str, expected: list[str]) -> None:
    catalog = Catalog(CATALOG, tokenize=tokenize)
    assert sorted(catalog.resolve(query, tokenize(query))) == sorted(expected)
    if expected:
        assert catalog.resolve(query, tokenize(query))[0] == expected[0]


def test_builtin_dir_holds_the_lexicon() -> None:
    assert (BUILTIN_DIR / "intents.yaml").is_file()
