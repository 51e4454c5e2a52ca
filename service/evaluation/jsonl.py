"""Reading labelled JSONL sets: one case per line, a bad line reported, never fatal."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from service.errors import EvalInputError, HuashuError

T = TypeVar("T")


def read_cases(path: Path, parse: Callable[[dict[str, Any], int], T],
               what: str = "labelled set") -> tuple[list[T], list[str]]:
    """Parse each non-empty line with `parse(data, line_number)`. A line that is not JSON, or
    that `parse` rejects (KeyError, TypeError, ValueError), becomes `file:line: reason` in the
    returned errors; the other lines still load. An unreadable file raises HuashuError."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise HuashuError(f"{path}: cannot read the {what}: {exc}") from exc
    cases: list[T] = []
    errors: list[str] = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise ValueError("expected one JSON object per line")
            cases.append(parse(data, number))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            reason = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
            errors.append(f"{path.name}:{number}: {reason}")
    return cases, errors


def read_json_file(path: Path, what: str, missing: str) -> Any:
    """A JSON file an eval run needs (a baseline, a cassette): EvalInputError names the file
    and says `missing` (how to make one) when it does not exist."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise EvalInputError(f"{path}: no such {what}; {missing}") from exc
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise EvalInputError(f"{path}: not a readable {what}: {exc}") from exc
