"""Intent classification: a lexicon kept as data, backed by a learned n-gram model, and
the conversation for messages that lean on it.

The lexicon (`knowledge/builtin/intents.yaml`) gives each intent weighted cue substrings
and regular expressions; a message scores the sum of what it contains. The n-gram model
(ngram.py, trained on `intent_examples.yaml` and on the development sets' labelled
messages, `intent_examples_dialogues.yaml`) adds `model.weight` times its probability for
each intent it finds likely, which covers phrasings the lexicon does not list while
the lexicon's decisive cues still win. Earlier buyer messages add their own scores at a
discount (`context`), more when the last message is a bare follow-up ("那这个呢",
"还是不行"). The best intent at or above the threshold wins, else `other`.

Deterministic, well under a millisecond a message, and a shop owner changes the lexicon
or the examples without touching code. Malformed lexicons fail at load time with the
file and the intent named.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from service.errors import HuashuError
from service.understanding.ngram import NgramModel

INTENTS = (
    "greeting", "product_question", "authenticity", "stock", "bargain", "gift_request",
    "free_shipping_request", "shipping_time", "logistics", "payment", "order_change",
    "return_exchange", "quality_issue", "complaint", "bad_review", "off_topic_private",
    "thanks_farewell", "other",
)
BUILTIN_DIR = Path(__file__).resolve().parents[2] / "knowledge" / "builtin"


# A message's scores and what fired, frozen so that remembered results stay unchanged.
_Scored = tuple[tuple[tuple[str, float], ...], tuple[tuple[str, tuple[str, ...]], ...]]


class LexiconError(HuashuError):
    code = "invalid_lexicon"


@dataclass(frozen=True)
class IntentRule:
    intent: str
    cues: tuple[tuple[str, float], ...]
    patterns: tuple[tuple[re.Pattern[str], float], ...]
    expand: tuple[str, ...]


@dataclass(frozen=True)
class ContextRule:
    """How much earlier buyer messages count towards the last one's intent."""

    weight: float = 0.0             # an earlier message's scores count this much...
    follow_up_weight: float = 0.0   # ...or this much when the last message leans on them
    decay: float = 0.5              # each message further back counts this much less
    turns: int = 0                  # how many earlier messages are read
    carries: frozenset[str] = frozenset()   # the intents a conversation carries over
    self_contained: float = float("inf")    # own score above which a follow-up marker is moot
    follow_up: tuple[re.Pattern[str], ...] = ()


@dataclass(frozen=True)
class IntentResult:
    intent: str                              # the best intent, or "other"
    scores: dict[str, float]                 # every intent that scored, best first
    matched: dict[str, list[str]] = field(default_factory=dict)  # cues/patterns that fired

    def above(self, threshold: float) -> list[str]:
        return [i for i, s in self.scores.items() if s >= threshold]


class IntentClassifier:
    def __init__(self, rules: list[IntentRule], threshold: float, pattern_weight: float,
                 model: NgramModel | None = None, model_weight: float = 0.0, model_floor: float = 0.0,
                 context: ContextRule | None = None, model_defer: float = float("inf"),
                 model_damping: float = 1.0) -> None:
        self.rules = rules
        self.threshold = threshold
        self.pattern_weight = pattern_weight
        self.expansions = {r.intent: r.expand for r in rules}
        self.model = model
        self.model_weight = model_weight
        self.model_floor = model_floor
        self.model_defer = model_defer      # a lexicon score this high is decisive...
        self.model_damping = model_damping  # ...and the model then counts only this much
        self.context = context or ContextRule()
        self._remembered = lru_cache(maxsize=4096)(self._score_uncached)
        self._cues_by_char: dict[str, list[tuple[int, str, float]]] = {}
        for number, rule in enumerate(rules):
            for cue, weight in rule.cues:
                if cue:
                    self._cues_by_char.setdefault(cue[0], []).append((number, cue, weight))

    @classmethod
    def from_file(cls, path: Path, with_model: bool = True) -> IntentClassifier:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise LexiconError(f"{path}: cannot load the intent lexicon: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("intents"), dict):
            raise LexiconError(f"{path}: expected a mapping with `intents`")
        pattern_weight = _number(data.get("pattern_weight", 2), f"{path.name}: pattern_weight")
        rules = []
        for intent, spec in data["intents"].items():
            where = f"{path.name}: intents.{intent}"
            if intent not in INTENTS:
                raise LexiconError(f"{where}: unknown intent (expected one of {', '.join(INTENTS)})")
            spec = spec or {}
            try:
                cues = tuple((str(k).lower(), float(v)) for k, v in (spec.get("cues") or {}).items())
            except (TypeError, ValueError) as exc:
                raise LexiconError(f"{where}.cues: weights must be numbers ({exc})") from exc
            patterns = tuple(_pattern(raw, pattern_weight, f"{where}.patterns")
                             for raw in spec.get("patterns") or [])
            rules.append(IntentRule(intent, cues, patterns, tuple(spec.get("expand") or ())))
        model, weight, floor, defer, damping = None, 0.0, 0.0, float("inf"), 1.0
        if with_model and (spec := data.get("model")):
            where = f"{path.name}: model"
            if not isinstance(spec, dict) or not spec.get("examples"):
                raise LexiconError(f"{where}: expected a mapping with `examples` (files next to the lexicon)")
            files = spec["examples"] if isinstance(spec["examples"], list) else [spec["examples"]]
            examples: dict[str, list[str]] = {}
            for name in files:
                try:
                    for intent, messages in load_examples(path.parent / str(name)).items():
                        examples.setdefault(intent, []).extend(messages)
                except LexiconError as exc:
                    raise LexiconError(f"{where}.examples: {exc.message}") from exc
            unknown = sorted(set(examples) - set(INTENTS))
            if unknown:
                raise LexiconError(f"{where}.examples: unknown intents {', '.join(unknown)}")
            model = NgramModel.train(examples)
            weight = _number(spec.get("weight", 3), f"{where}.weight")
            floor = _number(spec.get("floor", 0.1), f"{where}.floor")
            defer = _number(spec.get("defer_at", float("inf")), f"{where}.defer_at")
            damping = _number(spec.get("damping", 1.0), f"{where}.damping")
        return cls(rules, _number(data.get("threshold", 1.5), f"{path.name}: threshold"), pattern_weight,
                   model, weight, floor, _context(data.get("context"), f"{path.name}: context"), defer, damping)

    def classify(self, text: str, context: Sequence[str] = ()) -> IntentResult:
        """`context`: the buyer's earlier messages, oldest first (only the last
        `context.turns` are read)."""
        scores, matched = self._score(text)
        rule = self.context
        if context and rule.turns > 0:
            carried: dict[str, float] = {}
            for age, message in enumerate(reversed(context[-rule.turns:])):
                earlier, _ = self._score(message)
                for intent, score in earlier.items():
                    if intent in rule.carries:
                        carried[intent] = max(carried.get(intent, 0.0), score * rule.decay ** age)
            best_own = max(scores.values(), default=0.0)
            leans = best_own < self.threshold or (
                best_own < rule.self_contained and any(p.search(text) for p in rule.follow_up))
            weight = rule.follow_up_weight if leans else rule.weight
            for intent, score in carried.items():
                if weight * score > 0:
                    scores[intent] = scores.get(intent, 0.0) + weight * score
                    matched.setdefault(intent, []).append(f"context {weight * score:.2f}")
        ordered = dict(sorted(scores.items(), key=lambda kv: kv[1], reverse=True))
        best = next(iter(ordered), "other")
        if ordered.get(best, 0) < self.threshold:
            best = "other"
        return IntentResult(intent=best, scores=ordered, matched=matched)

    def lexicon_scores(self, text: str) -> tuple[dict[str, float], dict[str, list[str]]]:
        lowered = text.lower()
        # Cues by first character: a short message meets a few dozen, not all thousand.
        # A cue counts once however often it occurs.
        present: dict[int, dict[str, float]] = {}
        for pos, char in enumerate(lowered):
            for number, cue, weight in self._cues_by_char.get(char, ()):
                if lowered.startswith(cue, pos):
                    present.setdefault(number, {})[cue] = weight
        scores: dict[str, float] = {}
        matched: dict[str, list[str]] = {}
        for number, rule in enumerate(self.rules):
            found = present.get(number, {})
            hits = list(found)
            score = sum(found.values())
            for pattern, weight in rule.patterns:
                if pattern.search(lowered):
                    score += weight
                    hits.append(pattern.pattern)
            if hits:
                scores[rule.intent] = score
                matched[rule.intent] = hits
        return scores, matched

    def _score(self, text: str) -> tuple[dict[str, float], dict[str, list[str]]]:
        # One suggestion classifies the same messages several times (understanding, then
        # retrieval; each earlier turn again on every new message): remember recent ones.
        scores, matched = self._remembered(text)
        return dict(scores), {i: list(m) for i, m in matched}

    def _score_uncached(self, text: str) -> _Scored:
        scores, matched = self.lexicon_scores(text)
        if self.model is not None and self.model_weight > 0:
            weight = self.model_weight
            if max(scores.values(), default=0.0) >= self.model_defer:
                weight *= self.model_damping  # a decisive cue: the model only breaks ties
            for intent, p in self.model.probabilities(text).items():
                if p >= self.model_floor:
                    scores[intent] = scores.get(intent, 0.0) + weight * p
                    matched.setdefault(intent, []).append(f"model {p:.2f}")
        return (tuple((i, s) for i, s in scores.items() if s > 0),
                tuple((i, tuple(m)) for i, m in matched.items()))


def _number(raw: Any, where: str) -> float:
    try:
        return float(raw)
    except (TypeError, ValueError) as exc:
        raise LexiconError(f"{where}: must be a number, got {raw!r}") from exc


def _pattern(raw: Any, default_weight: float, where: str) -> tuple[re.Pattern[str], float]:
    """A pattern is a regular expression, or `{re: EXPR, weight: W}` to weigh it apart."""
    weight = default_weight
    if isinstance(raw, dict):
        if "re" not in raw:
            raise LexiconError(f"{where}: a weighted pattern needs `re` and `weight`, got {raw!r}")
        weight = _number(raw.get("weight", default_weight), f"{where}: {raw['re']!r} weight")
        raw = raw["re"]
    try:
        return re.compile(str(raw), re.IGNORECASE), weight
    except re.error as exc:
        raise LexiconError(f"{where}: {raw!r} does not compile: {exc}") from exc


def _context(spec: Any, where: str) -> ContextRule:
    if not spec:
        return ContextRule()
    if not isinstance(spec, dict):
        raise LexiconError(f"{where}: expected a mapping")
    carries = frozenset(str(i) for i in spec.get("carries") or ())
    unknown = sorted(carries - set(INTENTS))
    if unknown:
        raise LexiconError(f"{where}.carries: unknown intents {', '.join(unknown)}")
    follow_up = []
    for raw in spec.get("follow_up") or []:
        try:
            follow_up.append(re.compile(str(raw), re.IGNORECASE))
        except re.error as exc:
            raise LexiconError(f"{where}.follow_up: {raw!r} does not compile: {exc}") from exc
    return ContextRule(weight=_number(spec.get("weight", 0), f"{where}.weight"),
                       follow_up_weight=_number(spec.get("follow_up_weight", 0), f"{where}.follow_up_weight"),
                       decay=_number(spec.get("decay", 0.5), f"{where}.decay"),
                       turns=int(_number(spec.get("turns", 0), f"{where}.turns")),
                       self_contained=_number(spec.get("self_contained", float("inf")), f"{where}.self_contained"),
                       carries=carries, follow_up=tuple(follow_up))


@lru_cache
def default_classifier(path: Path = BUILTIN_DIR / "intents.yaml") -> IntentClassifier:
    return IntentClassifier.from_file(path)


def load_examples(path: Path = BUILTIN_DIR / "intent_examples.yaml") -> dict[str, list[str]]:
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise LexiconError(f"{path}: cannot load the intent examples: {exc}") from exc
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise LexiconError(f"{path}: expected a mapping of intent to a list of messages")
    return {str(k): [str(m) for m in v] for k, v in data.items()}
