"""A character n-gram intent model learned from example buyer messages.

The lexicon recognises the words it lists; buyers write many it does not (typos, slang,
whole phrasings). This model is a logistic regression over TF-IDF weighted character
1-3-grams, trained on `knowledge/builtin/intent_examples.yaml`. Character n-grams suit
Chinese, where words are not separated and a typo leaves most n-grams intact.

scikit-learn trains it once per process (a fraction of a second); prediction is done here
from the learned arrays, because a single-message call through scikit-learn's input
validation costs more than the rest of the classifier together. Training is deterministic
(newton-cg, no random state involved), so the same examples give the same model everywhere.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

NGRAMS = (1, 2)
C = 30.0   # light regularisation: the examples are few and each was written to count


@dataclass(frozen=True)
class NgramModel:
    labels: tuple[str, ...]
    vocabulary: Mapping[str, int]
    idf: np.ndarray            # (n_features,)
    coef: np.ndarray           # (n_features, n_labels)
    intercept: np.ndarray      # (n_labels,)
    analyzer: Callable[[str], list[str]]

    @classmethod
    def train(cls, examples: Mapping[str, Sequence[str]]) -> NgramModel:
        texts = [t for intent in sorted(examples) for t in examples[intent]]
        labels = [intent for intent in sorted(examples) for _ in examples[intent]]
        if len(set(labels)) < 2:
            raise ValueError("the intent model needs examples of at least two intents")
        vectorizer = TfidfVectorizer(analyzer="char", ngram_range=NGRAMS, sublinear_tf=True, lowercase=True)
        matrix = vectorizer.fit_transform(texts)
        model = LogisticRegression(C=C, solver="newton-cg", max_iter=1000)
        model.fit(matrix, labels)
        coef, intercept = model.coef_, model.intercept_
        if coef.shape[0] == 1:  # two labels: one logit, P(second) = sigmoid; as a softmax over two
            coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
        return cls(labels=tuple(str(c) for c in model.classes_), vocabulary=dict(vectorizer.vocabulary_),
                   idf=vectorizer.idf_.astype(np.float64), coef=np.ascontiguousarray(coef.T, dtype=np.float64),
                   intercept=intercept.astype(np.float64), analyzer=vectorizer.build_analyzer())

    def probabilities(self, text: str) -> dict[str, float]:
        """P(intent | text) for every label; the same numbers scikit-learn's
        predict_proba gives for this model."""
        counts = Counter(g for g in self.analyzer(text) if g in self.vocabulary)
        if not counts:
            logits = self.intercept
        else:
            index = np.fromiter((self.vocabulary[g] for g in counts), dtype=np.int64, count=len(counts))
            values = np.fromiter((1.0 + math.log(c) for c in counts.values()), dtype=np.float64,
                                 count=len(counts)) * self.idf[index]
            values /= np.sqrt(values @ values)
            logits = values @ self.coef[index] + self.intercept
        exp = np.exp(logits - logits.max())
        exp /= exp.sum()
        return dict(zip(self.labels, exp.tolist(), strict=True))
