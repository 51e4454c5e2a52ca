"""Typed results of a check (CONTRACTS §3: POST /v1/check)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Category = Literal["authority", "grounding", "politeness", "compliance"]
Severity = Literal["block", "warn"]
CATEGORIES: tuple[Category, ...] = ("authority", "grounding", "politeness", "compliance")


@dataclass(frozen=True)
class Violation:
    rule: str
    category: Category
    severity: Severity
    span: tuple[int, int]  # [start, end) character offsets in the checked text
    message: str
    suggestion: str = ""

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["span"] = list(self.span)
        return data


@dataclass
class CheckResult:
    text: str
    violations: list[Violation] = field(default_factory=list)

    @property
    def verdict(self) -> Literal["pass", "warn", "block"]:
        if any(v.severity == "block" for v in self.violations):
            return "block"
        return "warn" if self.violations else "pass"

    def categories(self) -> set[str]:
        return {v.category for v in self.violations}

    def as_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "violations": [v.as_dict() for v in self.violations]}
