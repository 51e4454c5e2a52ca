"""The character n-gram intent model: its own prediction matches scikit-learn's, training is
deterministic, and what it learns is what the examples say."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from service.understanding import ngram
from service.understanding.intents import load_examples
from service.understanding.ngram import NgramModel

EXAMPLES = load_examples()


@pytest.fixture(scope="module")
def model() -> NgramModel:
    return NgramModel.train(EXAMPLES)


@pytest.mark.parametrize("text", ["能不能便宜点啊", "快递到哪了", "这锅电磁炉能用吗", "？？？", "",
                                  "黑枸杞泡出来怎么是蓝色的 是不是染的"])
def test_probabilities_are_scikit_learns(model: NgramModel, text: str) -> None:
    texts = [t for intent in sorted(EXAMPLES) for t in EXAMPLES[intent]]
    labels = [intent for intent in sorted(EXAMPLES) for _ in EXAMPLES[intent]]
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=ngram.NGRAMS, sublinear_tf=True)
    reference = LogisticRegression(C=ngram.C, solver="newton-cg", max_iter=1000)
    reference.fit(vectorizer.fit_transform(texts), labels)
    expected = dict(zip(reference.classes_, reference.predict_proba(vectorizer.transform([text]))[0], strict=True))
    got = model.probabilities(text)
    assert set(got) == set(expected)
    assert max(abs(got[k] - expected[k]) for k in got) < 1e-6
    assert sum(got.values()) == pytest.approx(1.0)


def test_training_is_deterministic(model: NgramModel) -> None:
    again = NgramModel.train(EXAMPLES)
    assert again.labels == model.labels and again.vocabulary == model.vocabulary
    assert np.array_equal(again.coef, model.coef) and np.array_equal(again.intercept, model.intercept)


def test_model_learns_what_the_examples_say() -> None:
    small = NgramModel.train({"bargain": ["便宜点", "能便宜吗", "再便宜些"],
                              "logistics": ["快递到哪了", "物流不动", "快递没更新"],
                              "greeting": ["在吗", "有人吗", "你好"]})
    p = small.probabilities("便宜一点吧")
    assert max(p, key=p.__getitem__) == "bargain"
    p = small.probabilities("快递呢")
    assert max(p, key=p.__getitem__) == "logistics"


def test_two_labels_give_a_two_way_distribution() -> None:
    pair = NgramModel.train({"bargain": ["便宜点", "能便宜吗"], "greeting": ["在吗", "有人吗"]})
    p = pair.probabilities("便宜吗")
    assert set(p) == {"bargain", "greeting"} and p["bargain"] > 0.5
    assert sum(p.values()) == pytest.approx(1.0)


def test_one_label_is_not_a_model() -> None:
    with pytest.raises(ValueError, match="at least two intents"):
        NgramModel.train({"bargain": ["便宜点", "能便宜吗"]})
