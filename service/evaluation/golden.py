"""Golden dialogue sets (CONTRACTS §2): one conversation per JSONL line, with what a good
reply must and must not say.

A case names its shop, the conversation (the last turn is the buyer's message to answer),
the buyer's intent, and optionally the product, a reference reply written by a person and
three checks (`must_include_any`, `must_not_include`, `expect_escalation`). One extension:
`sources`, the document ids a good reply cites (e.g. `["policy:gifts"]`).

Every problem is reported as `file:line: field: reason` and never stops the other lines;
unknown fields are allowed (sets may carry notes), but a near-miss of a known field
(`must_include`, `expect_escalate`) is an error, since a misspelt check would silently pass.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service.errors import EvalInputError, HuashuError
from service.evaluation.jsonl import read_cases
from service.understanding.intents import INTENTS

FIELDS = ("id", "shop", "product", "history", "intent", "reference", "must_include_any",
          "must_not_include", "expect_escalation", "sources")


@dataclass(frozen=True)
class GoldenCase:
    id: str
    shop: str
    history: list[dict[str, str]]
    intent: str
    product: str | None = None
    reference: str | None = None
    must_include_any: list[list[str]] | None = None
    must_not_include: list[str] | None = None
    expect_escalation: bool | None = None
    sources: list[str] | None = None
    line: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str:
        """The buyer's message to answer."""
        return self.history[-1]["text"]

    def has_checks(self) -> bool:
        return (self.must_include_any is not None or self.must_not_include is not None
                or self.expect_escalation is not None)

    def as_dict(self) -> dict[str, Any]:
        """The case as written (the fields it has), for reports and baselines."""
        data: dict[str, Any] = {"id": self.id, "shop": self.shop, "history": self.history, "intent": self.intent}
        for name in ("product", "reference", "must_include_any", "must_not_include", "expect_escalation",
                     "sources"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        return data


def _string(data: dict[str, Any], name: str, required: bool = True) -> str | None:
    if name not in data or data[name] is None:
        if required:
            raise ValueError(f"{name}: missing")
        return None
    value = data[name]
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name}: must be a non-empty string, got {value!r}")
    return value


def _strings(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{name}: must be a non-empty list of non-empty strings")
    return list(value)


def _history(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise ValueError("history: must be a non-empty list of turns")
    turns = []
    for i, turn in enumerate(value):
        if not isinstance(turn, dict):
            raise ValueError(f"history[{i}]: must be an object with role and text")
        if turn.get("role") not in ("buyer", "agent"):
            raise ValueError(f"history[{i}].role: must be buyer or agent, got {turn.get('role')!r}")
        text = turn.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"history[{i}].text: must be a non-empty string")
        turns.append({"role": turn["role"], "text": text})
    if turns[-1]["role"] != "buyer":
        raise ValueError(f"history[{len(turns) - 1}].role: the last turn must be the buyer's message to answer")
    return turns


def parse_case(data: dict[str, Any], line: int = 0) -> GoldenCase:
    """One case from its JSON object; ValueError names the field that is wrong."""
    for key in data:
        if key not in FIELDS:
            # A truncated field name (must_include) first, then a misspelt one (expect_escalate).
            close = ([f for f in FIELDS if len(key) >= 4 and f.startswith(key)]
                     or difflib.get_close_matches(key, FIELDS, n=1, cutoff=0.8))
            if close:
                raise ValueError(f"{key}: unknown field; did you mean {close[0]!r}?")
    case_id = _string(data, "id")
    shop = _string(data, "shop")
    history = _history(data.get("history"))
    intent = _string(data, "intent")
    if intent not in INTENTS:
        raise ValueError(f"intent: {intent!r} is not one of {', '.join(INTENTS)}")
    # An empty list, like a missing field, means no such check: a group inside must_include_any
    # must not be empty, though (nothing could satisfy it).
    include = data.get("must_include_any")
    if include is not None:
        if not isinstance(include, list):
            raise ValueError("must_include_any: must be a list of lists of strings")
        include = [_strings(group, f"must_include_any[{i}]") for i, group in enumerate(include)] or None
    exclude = data.get("must_not_include")
    if exclude is not None:
        exclude = _strings(exclude, "must_not_include") if exclude != [] else None
    escalation = data.get("expect_escalation")
    if escalation is not None and not isinstance(escalation, bool):
        raise ValueError(f"expect_escalation: must be true or false, got {escalation!r}")
    sources = data.get("sources")
    if sources is not None:
        sources = _strings(sources, "sources")
    return GoldenCase(
        id=str(case_id), shop=str(shop), history=history, intent=str(intent),
        product=_string(data, "product", required=False), reference=_string(data, "reference", required=False),
        must_include_any=include, must_not_include=exclude, expect_escalation=escalation, sources=sources,
        line=line, extra={k: v for k, v in data.items() if k not in FIELDS},
    )


def _no_duplicates(cases: list[GoldenCase], errors: list[str],
                   locate: Callable[[GoldenCase], str]) -> list[GoldenCase]:
    """Ids name cases in baselines and reports: a repeated id is an error, the first kept."""
    seen: set[str] = set()
    kept = []
    for case in cases:
        if case.id in seen:
            errors.append(f"{locate(case)}: id: {case.id!r} repeats an earlier case")
            continue
        seen.add(case.id)
        kept.append(case)
    return kept


def load_golden(path: Path) -> tuple[list[GoldenCase], list[str]]:
    """The valid cases of a golden file, in file order, and one error per bad line.
    An unreadable file raises EvalInputError."""
    try:
        cases, errors = read_cases(path, parse_case, "golden set")
    except HuashuError as exc:
        raise EvalInputError(exc.message) from exc
    return _no_duplicates(cases, errors, lambda c: f"{path.name}:{c.line}"), errors


def cases_from_objects(items: list[Any]) -> tuple[list[GoldenCase], list[str]]:
    """Inline cases (the HTTP API's `cases`): errors say `cases[i]: field: reason`."""
    cases, errors = [], []
    for i, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise ValueError("must be a case object")
            cases.append(parse_case(item, line=i))
        except ValueError as exc:
            errors.append(f"cases[{i}]: {exc}")
    return _no_duplicates(cases, errors, lambda c: f"cases[{c.line}]"), errors
