"""Deterministic repairs, only where the fix cannot change what the reply promises.

A rule opts in with a `repair` map in its YAML (offending text -> replacement); the
second-person rule always maps 你 -> 您. Everything else (a discount, a wrong price) needs a
person or a new draft, so it is left as is and stays in the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from service.guardrails.checker import RuleSet
from service.guardrails.context import CheckContext
from service.guardrails.models import CheckResult


@dataclass
class Change:
    rule: str
    span: tuple[int, int]
    before: str
    after: str


@dataclass
class Repair:
    text: str
    changes: list[Change] = field(default_factory=list)
    result: CheckResult | None = None  # the repaired text checked again


def repair(rules: RuleSet, result: CheckResult, ctx: CheckContext | None = None) -> Repair:
    by_id = {r.id: r for r in rules.rules}
    text = result.text
    edits: list[Change] = []
    for v in result.violations:
        rule = by_id.get(v.rule)
        if rule is None:
            continue
        before = text[v.span[0]:v.span[1]]
        mapping = {"你": "您"} if rule.type == "second_person" else dict(rule.params.get("repair", {}))
        after = mapping.get(before)
        if after is None and "*" in mapping:
            after = mapping["*"]
        if after is not None and after != before:
            edits.append(Change(v.rule, v.span, before, after))
    # Apply right to left so earlier spans stay valid; skip overlapping edits.
    fixed, last_start = text, len(text) + 1
    applied = []
    for change in sorted(edits, key=lambda c: c.span[0], reverse=True):
        if change.span[1] > last_start:
            continue
        fixed = fixed[: change.span[0]] + change.after + fixed[change.span[1]:]
        last_start = change.span[0]
        applied.append(change)
    applied.reverse()
    return Repair(text=fixed, changes=applied, result=rules.check(fixed, ctx) if applied else result)
