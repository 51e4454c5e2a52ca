"""Load rule sets (built-in YAML plus a shop's overrides) and check texts against them.

A rule file is `{category, rules: [{id, type, severity, message, suggestion, ...params}]}`.
A shop's `guardrails.yaml` may add rules, replace built-in ones by id, change severities
(`severity: {rule_id: warn}`) or switch rules off (`disable: [rule_id]`). Every problem is
reported at load time with the file and the rule named, never at the first request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from service.errors import RuleError
from service.guardrails.context import CheckContext
from service.guardrails.models import CATEGORIES, CheckResult, Violation
from service.guardrails.rules import DETECTORS, RuleSpec
from service.understanding.intents import BUILTIN_DIR

RULES_DIR = BUILTIN_DIR / "rules"
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_CHECK_CHARS = 20_000
_RESERVED = {"id", "type", "severity", "message", "suggestion", "category"}


def _spec(raw: Any, category: str | None, where: str) -> RuleSpec:
    if not isinstance(raw, dict) or not raw.get("id"):
        raise RuleError(f"{where}: each rule needs an `id`")
    rid = str(raw["id"])
    here = f"{where}: rule {rid!r}"
    cat = raw.get("category", category)
    if cat not in CATEGORIES:
        raise RuleError(f"{here}: category must be one of {', '.join(CATEGORIES)}, got {cat!r}")
    if raw.get("type") not in DETECTORS:
        raise RuleError(f"{here}: unknown type {raw.get('type')!r} (known: {', '.join(sorted(DETECTORS))})")
    if raw.get("severity") not in ("block", "warn"):
        raise RuleError(f"{here}: severity must be block or warn, got {raw.get('severity')!r}")
    if not raw.get("message"):
        raise RuleError(f"{here}: a rule needs a `message`")
    params = {k: v for k, v in raw.items() if k not in _RESERVED}
    patterns = list(params.get("patterns", []))
    if raw["type"] in ("regex", "discount"):
        patterns += [re.escape(p) for p in params.get("phrases", [])] if raw["type"] == "discount" else []
        try:
            params["_compiled"] = [re.compile(p, re.IGNORECASE) for p in patterns]
        except re.error as exc:
            raise RuleError(f"{here}: pattern does not compile: {exc}") from exc
    if raw["type"] == "phrases":
        if not params.get("phrases"):
            raise RuleError(f"{here}: a phrases rule needs `phrases`")
        params["_compiled"] = [re.compile(re.escape(str(p)), re.IGNORECASE) for p in params["phrases"]]
    return RuleSpec(id=rid, category=cat, severity=raw["severity"], type=raw["type"],
                    message=str(raw["message"]), suggestion=str(raw.get("suggestion", "")), params=params)


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleError(f"{path}: cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise RuleError(f"{path.name}{line}: malformed YAML: {getattr(exc, 'problem', exc)}") from exc


class RuleSet:
    def __init__(self, rules: Iterable[RuleSpec]) -> None:
        self.rules = list(rules)

    @classmethod
    def builtin(cls, folder: Path = RULES_DIR) -> RuleSet:
        rules: list[RuleSpec] = []
        seen: dict[str, str] = {}
        for path in sorted(folder.glob("*.yaml")):
            data = _read_yaml(path)
            if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
                raise RuleError(f"{path.name}: expected `category` and a list of `rules`")
            for raw in data["rules"]:
                spec = _spec(raw, data.get("category"), path.name)
                if spec.id in seen:
                    raise RuleError(f"{path.name}: rule {spec.id!r} is already defined in {seen[spec.id]}")
                seen[spec.id] = path.name
                rules.append(spec)
        return cls(rules)

    def with_overrides(self, overrides: dict[str, Any] | None, where: str = "guardrails.yaml") -> RuleSet:
        """A shop's additions and changes on top of this set."""
        if not overrides:
            return self
        if not isinstance(overrides, dict):
            raise RuleError(f"{where}: expected a mapping with rules, severity or disable")
        by_id = {r.id: r for r in self.rules}
        for rid in overrides.get("disable", []) or []:
            if rid not in by_id:
                raise RuleError(f"{where}: disable: unknown rule {rid!r}")
            del by_id[rid]
        for rid, severity in (overrides.get("severity") or {}).items():
            if rid not in by_id:
                raise RuleError(f"{where}: severity: unknown rule {rid!r}")
            if severity not in ("block", "warn"):
                raise RuleError(f"{where}: severity: rule {rid!r} must be block or warn")
            old = by_id[rid]
            by_id[rid] = RuleSpec(old.id, old.category, severity, old.type, old.message, old.suggestion, old.params)
        for raw in overrides.get("rules", []) or []:
            spec = _spec(raw, None, where)
            by_id[spec.id] = spec
        return RuleSet(by_id.values())

    def check(self, text: str, ctx: CheckContext | None = None) -> CheckResult:
        ctx = ctx or CheckContext()
        violations: list[Violation] = []
        seen: set[tuple[str, int, int]] = set()
        for rule in self.rules:
            for start, end, detail in DETECTORS[rule.type](rule, text, ctx):
                key = (rule.id, start, end)
                if key in seen:
                    continue
                seen.add(key)
                message = f"{rule.message}({detail})" if detail else rule.message
                violations.append(Violation(rule=rule.id, category=rule.category,  # type: ignore[arg-type]
                                            severity=rule.severity, span=(start, end),  # type: ignore[arg-type]
                                            message=message, suggestion=rule.suggestion))
        violations.sort(key=lambda v: (v.span[0], v.rule))
        return CheckResult(text=text, violations=violations)


def validate_text(text: str) -> str:
    """Reject what cannot be a chat reply; raises InvalidRequest naming the problem."""
    from service.errors import InvalidRequest

    if not isinstance(text, str) or not text.strip():
        raise InvalidRequest("text: must not be empty")
    if len(text) > MAX_CHECK_CHARS:
        raise InvalidRequest(f"text: {len(text):,} characters is over the limit of {MAX_CHECK_CHARS:,}")
    bad = CONTROL.search(text)
    if bad:
        raise InvalidRequest(f"text: control character U+{ord(bad.group(0)):04X} at offset {bad.start()}")
    return text
