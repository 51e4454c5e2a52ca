"""A piece of a composed reply: one sentence that answers one thing, with what it quotes."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field


@dataclass
class Piece:
    kind: str   # stop | remedy | decline | fact | clue | topic | echo | escalate
    key: str    # what it answers: "保质期", "delivery", "discount", …
    text: str
    slots: set[str] = field(default_factory=set)           # template slots it filled
    citations: list[dict[str, str]] = field(default_factory=list)
    score: float = 0.0  # how well a word-matched piece ("clue") fits the message


def fill(template: str, values: dict[str, str]) -> tuple[str, set[str]] | None:
    """The template with its slots filled, and the slots it used; None if one is missing."""
    used = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    if not used <= values.keys():
        return None
    return template.format(**{k: values[k] for k in used}), used


def sentence(text: str) -> str:
    """One sentence ending in a full stop (or the question or exclamation mark it has)."""
    text = text.strip().rstrip("，,；;、")
    return text if re.search(r"[。！？!?～]$", text) else text + "。"


def clauses(value: str) -> list[str]:
    """A fact value cut where it changes subject (；), keeping commas inside a clause."""
    return [c.strip() for c in re.split(r"[；;。\n]", value) if c.strip()]
