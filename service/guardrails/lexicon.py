"""The claim lexicon (`knowledge/builtin/claims.yaml`): attributes, containers, comparison
dimensions. Loaded and compiled once; every problem names the file, line and field."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import yaml

from service.errors import RuleError
from service.understanding.intents import BUILTIN_DIR

LEXICON_PATH = BUILTIN_DIR / "claims.yaml"


@dataclass(frozen=True)
class Attribute:
    id: str
    name: str
    positive: re.Pattern[str]
    negative: re.Pattern[str] | None
    facts_positive: re.Pattern[str] | None
    facts_negative: re.Pattern[str] | None
    silent: str  # "warn": a claim the facts never mention is unsupported; "pass": not judged
    conflicts: tuple[str, ...]
    # Characters one of which every reply statement contains (None: unknown): a reply with
    # none of them skips the attribute's patterns.
    keys: frozenset[str] | None = None


@dataclass(frozen=True)
class Dimension:
    id: str
    more: tuple[str, ...]
    less: tuple[str, ...]
    nouns: tuple[str, ...]


@dataclass(frozen=True)
class ClaimLexicon:
    attributes: tuple[Attribute, ...]
    not_is: re.Pattern[str]
    accessories: tuple[tuple[str, ...], ...]
    containers: re.Pattern[str]
    dimensions: tuple[Dimension, ...]
    generic_more: tuple[str, ...]
    generic_less: tuple[str, ...]
    groups: tuple[tuple[str, ...], ...] = ()
    safe_to_eat: re.Pattern[str] | None = None
    payment_words: tuple[str, ...] = ()
    materials: tuple[tuple[str, ...], ...] = ()

    @cached_property
    def material_re(self) -> re.Pattern[str]:
        words = sorted({w for g in self.materials for w in g}, key=len, reverse=True)
        return re.compile("|".join(re.escape(w) for w in words)) if words else re.compile(r"(?!)")

    @cached_property
    def material_of(self) -> dict[str, tuple[str, ...]]:
        return {w: g for g in self.materials for w in g}

    def adjective(self, word: str, noun_scope: str) -> tuple[str, int] | None:
        """(dimension, +1/-1) of a comparative adjective; a bare 高/低 takes its dimension
        from the noun before it ("甜度…低" is sweetness)."""
        for dim in self.dimensions:
            if word in dim.more:
                return dim.id, 1
            if word in dim.less:
                return dim.id, -1
        sign = 1 if word in self.generic_more else -1 if word in self.generic_less else 0
        if not sign:
            return None
        for dim in self.dimensions:
            if any(n in noun_scope for n in dim.nouns):
                return dim.id, sign
        return "generic", sign

    @cached_property
    def adjectives(self) -> tuple[str, ...]:
        words = {w for d in self.dimensions for w in (*d.more, *d.less)} | {*self.generic_more, *self.generic_less}
        return tuple(sorted(words, key=len, reverse=True))

    # Compiled once: alternations the finders scan every reply with.
    @cached_property
    def adjective_re(self) -> str:
        return "|".join(re.escape(a) for a in self.adjectives)

    @cached_property
    def noun_re(self) -> str:
        return "|".join(sorted({re.escape(n) for d in self.dimensions for n in d.nouns}, key=len, reverse=True))


    @cached_property
    def group_re(self) -> re.Pattern[str]:
        words = sorted({w for g in self.groups for w in g}, key=len, reverse=True)
        return re.compile("|".join(re.escape(w) for w in words)) if words else re.compile(r"(?!)")

    @cached_property
    def group_of(self) -> dict[str, tuple[str, ...]]:
        return {w: g for g in self.groups for w in g}

    @cached_property
    def accessory_re(self) -> re.Pattern[str]:
        words = sorted({w for g in self.accessories for w in g}, key=len, reverse=True)
        return re.compile("|".join(re.escape(w) for w in words)) if words else re.compile(r"(?!)")

    @cached_property
    def payment_re(self) -> re.Pattern[str]:
        words = sorted(self.payment_words, key=len, reverse=True)
        return re.compile("|".join(re.escape(w) for w in words)) if words else re.compile(r"(?!)")


def _line_of(node: yaml.Node | None, path: list[Any]) -> int:
    """1-based line of the node at `path` (keys and indexes) in a composed YAML tree."""
    line = 0
    for step in path:
        if node is None:
            break
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == step), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            node = node.value[step]
        else:
            node = None
    return node.start_mark.line + 1 if node is not None else line


# Characters nearly every reply holds: a poor choice of key for skipping a pattern.
COMMON_CHARS = frozenset("亲的了是有一不在和也就都要会您这那个吗呢哦～，。！？1")


def required_chars(pattern: re.Pattern[str]) -> frozenset[str] | None:
    """A set of characters one of which every match of `pattern` contains, read from the
    parsed pattern (as regex engines pick a literal to scan for); None when unsure."""
    from re import _constants as c, _parser  # the stdlib's own pattern parser

    def seq(items: Any) -> set[str] | None:
        # Any one mandatory item will do: the one with the fewest everyday characters, then
        # the narrowest, then the last (usually the noun: 糖, 核, 洗).
        found = [f for op, av in items if (f := one(op, av)) is not None]
        return min(reversed(found), key=lambda f: (len(f & COMMON_CHARS), len(f))) if found else None

    def one(op: Any, av: Any) -> set[str] | None:
        if op is c.LITERAL:
            return {chr(av)}
        if op is c.SUBPATTERN:
            return seq(av[3])
        if op in (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", None)):
            return seq(av[2]) if av[0] >= 1 else None
        if op is c.BRANCH:
            branches = [seq(b) for b in av[1]]
            return None if any(b is None for b in branches) else set().union(*branches)  # type: ignore[arg-type]
        if op is c.IN and all(kind is c.LITERAL for kind, _ in av):
            return {chr(v) for _, v in av}
        return None

    try:
        found = seq(_parser.parse(pattern.pattern, pattern.flags))
    except Exception:  # an unexpected parse shape: no shortcut, the pattern always runs
        return None
    return frozenset(found) if found else None


def _compile(patterns: Any, where: str) -> re.Pattern[str] | None:
    if patterns in (None, []):
        return None
    if not isinstance(patterns, list) or not all(isinstance(p, str) and p for p in patterns):
        raise RuleError(f"{where}: expected a list of regular expressions")
    try:
        return re.compile("|".join(f"(?:{p})" for p in sorted(patterns, key=len, reverse=True)))
    except re.error as exc:
        raise RuleError(f"{where}: pattern does not compile: {exc}") from exc


def _words(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(w, str) and w for w in value):
        raise RuleError(f"{where}: expected a list of words")
    return tuple(value)


def load_lexicon(path: Path = LEXICON_PATH) -> ClaimLexicon:
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
        tree = yaml.compose(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleError(f"{path}: cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise RuleError(f"{path.name}{line}: malformed YAML: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(data, dict):
        raise RuleError(f"{path.name}: expected a mapping with `attributes`")

    def where(*steps: Any) -> str:
        return f"{path.name}:{_line_of(tree, list(steps))}: {'.'.join(str(s) for s in steps)}"

    attributes: list[Attribute] = []
    seen: set[str] = set()
    raw_attributes = data.get("attributes")
    if not isinstance(raw_attributes, list) or not raw_attributes:
        raise RuleError(f"{where('attributes')}: expected a list of attributes")
    for i, raw in enumerate(raw_attributes):
        if not isinstance(raw, dict) or not raw.get("id") or not raw.get("name"):
            raise RuleError(f"{where('attributes', i)}: an attribute needs `id` and `name`")
        aid = str(raw["id"])
        if aid in seen:
            raise RuleError(f"{where('attributes', i, 'id')}: attribute {aid!r} is defined twice")
        seen.add(aid)
        positive = _compile(raw.get("positive"), where("attributes", i, "positive"))
        if positive is None:
            raise RuleError(f"{where('attributes', i)}: attribute {aid!r} needs `positive` patterns")
        silent = raw.get("silent", "warn")
        if silent not in ("warn", "pass"):
            raise RuleError(f"{where('attributes', i, 'silent')}: must be warn or pass, got {silent!r}")
        negative = _compile(raw.get("negative"), where("attributes", i, "negative"))
        keys = [required_chars(p) for p in (positive, negative) if p is not None]
        attributes.append(Attribute(
            id=aid, name=str(raw["name"]), positive=positive, negative=negative,
            keys=None if any(k is None for k in keys) else frozenset().union(*keys),  # type: ignore[arg-type]
            facts_positive=_compile(raw.get("facts_positive"), where("attributes", i, "facts_positive")),
            facts_negative=_compile(raw.get("facts_negative"), where("attributes", i, "facts_negative")),
            silent=silent, conflicts=_words(raw.get("conflicts"), where("attributes", i, "conflicts"))))
    for i, attribute in enumerate(attributes):
        unknown = [c for c in attribute.conflicts if c not in seen]
        if unknown:
            raise RuleError(f"{where('attributes', i, 'conflicts')}: unknown attribute {unknown[0]!r}")

    not_is = _compile([re.escape(w) for w in _words(data.get("not_is"), where("not_is"))], where("not_is"))
    containers = _compile(data.get("containers"), where("containers"))
    if not_is is None or containers is None:
        raise RuleError(f"{path.name}: `not_is` and `containers` must not be empty")
    accessories = []
    for i, group in enumerate(data.get("accessories") or []):
        accessories.append(_words(group, where("accessories", i)))
    dimensions = []
    for i, raw in enumerate(data.get("dimensions") or []):
        if not isinstance(raw, dict) or not raw.get("id"):
            raise RuleError(f"{where('dimensions', i)}: a dimension needs an `id`")
        dimensions.append(Dimension(str(raw["id"]), _words(raw.get("more"), where("dimensions", i, "more")),
                                    _words(raw.get("less"), where("dimensions", i, "less")),
                                    _words(raw.get("nouns"), where("dimensions", i, "nouns"))))
    return ClaimLexicon(attributes=tuple(attributes), not_is=not_is, accessories=tuple(accessories),
                        containers=containers, dimensions=tuple(dimensions),
                        generic_more=_words(data.get("generic_more"), where("generic_more")),
                        generic_less=_words(data.get("generic_less"), where("generic_less")),
                        groups=tuple(_words(g, where("groups", i)) for i, g in enumerate(data.get("groups") or [])),
                        safe_to_eat=_compile(data.get("safe_to_eat"), where("safe_to_eat")),
                        payment_words=_words(data.get("payment_words"), where("payment_words")),
                        materials=tuple(_words(g, where("materials", i)) for i, g in enumerate(data.get("materials") or [])))


@lru_cache
def builtin_lexicon() -> ClaimLexicon:
    return load_lexicon()
