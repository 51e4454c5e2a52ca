"""Rule-based intent classification from a lexicon kept as data.

The lexicon (`knowledge/builtin/intents.yaml`) gives each intent weighted cue substrings
and regular expressions; a message scores the sum of what it contains, and intents at or
above the lexicon's threshold count, best first. It is deterministic, costs microseconds,
and a shop owner changes it without touching code. Malformed lexicons fail at load time
with the file and the intent named.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from service.errors import HuashuError

INTENTS = (
    "greeting", "product_question", "authenticity", "stock", "bargain", "gift_request",
    "free_shipping_request", "shipping_time", "logistics", "payment", "order_change",
    "return_exchange", "quality_issue", "complaint", "bad_review", "off_topic_private",
    "thanks_farewell", "other",
)
BUILTIN_DIR = Path(__file__).resolve().parents[2] / "knowledge" / "builtin"


class LexiconError(HuashuError):
    code = "invalid_lexicon"


@dataclass(frozen=True)
class IntentRule:
    intent: str
    cues: tuple[tuple[str, float], ...]
    patterns: tuple[re.Pattern[str], ...]
    expand: tuple[str, ...]


@dataclass(frozen=True)
class IntentResult:
    intent: str                              # the best intent, or "other"
    scores: dict[str, float]                 # every intent that scored, best first
    matched: dict[str, list[str]] = field(default_factory=dict)  # cues/patterns that fired

    def above(self, threshold: float) -> list[str]:
        return [i for i, s in self.scores.items() if s >= threshold]


class IntentClassifier:
    def __init__(self, rules: list[IntentRule], threshold: float, pattern_weight: float) -> None:
        self.rules = rules
        self.threshold = threshold
        self.pattern_weight = pattern_weight
        self.expansions = {r.intent: r.expand for r in rules}

    @classmethod
    def from_file(cls, path: Path) -> IntentClassifier:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise LexiconError(f"{path}: cannot load the intent lexicon: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("intents"), dict):
            raise LexiconError(f"{path}: expected a mapping with `intents`")
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
            patterns = []
            for raw in spec.get("patterns") or []:
                try:
                    patterns.append(re.compile(str(raw), re.IGNORECASE))
                except re.error as exc:
                    raise LexiconError(f"{where}.patterns: {raw!r} does not compile: {exc}") from exc
            rules.append(IntentRule(intent, cues, tuple(patterns), tuple(spec.get("expand") or ())))
        return cls(rules, float(data.get("threshold", 1.5)), float(data.get("pattern_weight", 2)))

    def classify(self, text: str) -> IntentResult:
        lowered = text.lower()
        scores: dict[str, float] = {}
        matched: dict[str, list[str]] = {}
        for rule in self.rules:
            hits = [cue for cue, _ in rule.cues if cue in lowered]
            score = sum(w for cue, w in rule.cues if cue in lowered)
            for pattern in rule.patterns:
                if pattern.search(lowered):
                    score += self.pattern_weight
                    hits.append(pattern.pattern)
            if score > 0:
                scores[rule.intent] = score
                matched[rule.intent] = hits
        ordered = dict(sorted(scores.items(), key=lambda kv: kv[1], reverse=True))
        best = next(iter(ordered), "other")
        if ordered.get(best, 0) < self.threshold:
            best = "other"
        return IntentResult(intent=best, scores=ordered, matched=matched)


@lru_cache
def default_classifier(path: Path = BUILTIN_DIR / "intents.yaml") -> IntentClassifier:
    return IntentClassifier.from_file(path)


def load_examples(path: Path = BUILTIN_DIR / "intent_examples.yaml") -> dict[str, list[str]]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {str(k): [str(m) for m in v] for k, v in data.items()}
