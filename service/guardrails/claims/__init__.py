"""Open-world claims about a product, judged against its facts (detector type `claims`).

A reply says things rules over numbers cannot check: 无糖, 去核, what a gift box holds, 比灰枣
更甜, a 250g罐, 开瓶后常温放一周. Each finder reads one kind of claim, finds the
product it is about (the product named nearest before it in the sentence, else the chat's
product) and returns a verdict:

- supported: the facts say so (same wording, a synonym, or the same polarity);
- contradicted: the facts say the opposite (rule `grounding.claim`, block);
- unsupported: the facts are silent (rule `grounding.unsupported_claim`, warn).

Every finder fails open: with no product in play, or a fact field the pack lacks, it says
nothing. The words come from `knowledge/builtin/claims.yaml` and from the pack itself.

The finders live by claim family:

- `base`: verdicts, `Finding`, negation, clause and sentence scope, numbers, `subjects`
  (the product a claim is about), attribute polarity and the per-pack facts memo;
- `attributes`: attributes (无糖, 去核 …), what a product is not, who may eat it, packaging
  materials, grades;
- `contents`: what a box or mix holds and how many (礼盒里有…, 各400g);
- `compare`: comparisons (比灰枣更甜, 和骏枣一样大) and identity (山核桃就是纸皮核桃);
- `spec`: package sizes and counts, net weight, price per unit, grade counts, percentages;
- `dates`: restock and harvest dates;
- `usage`: storage after opening, brewing temperature, amounts per day.

This module runs them (`find_claims`) and registers the detector.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from service.guardrails.catalog_facts import ShopCatalog
from service.guardrails.claims.attributes import (
    attribute_findings,
    grade_findings,
    material_findings,
    not_is_findings,
    suitability_findings,
)
from service.guardrails.claims.base import (
    CONTRADICTED,
    SUPPORTED,
    UNSUPPORTED,
    Finding,
    Subjects,
    _memo,
    negated,
    polar_hits,
    subjects,
)
from service.guardrails.claims.compare import IDENTITY, Comparison, comparison_findings, comparisons
from service.guardrails.claims.contents import EACH, INSIDE, contents_findings
from service.guardrails.claims.dates import HARVEST, RESTOCK, date_findings
from service.guardrails.claims.spec import (
    COPULA_WEIGHT,
    COUNT_CLAIM,
    GRADE_COUNT_CLAIM,
    PER_PACK_A,
    PER_PACK_B,
    PERCENT,
    PRICE_PER_UNIT,
    SPEC_STRING,
    Pack,
    net,
    packs,
    spec_findings,
)
from service.guardrails.claims.usage import (
    AMOUNT_CLAIM,
    BOILING,
    DEGREES,
    OPENED,
    STEEPS,
    amount_findings,
    storage_findings,
    temperature_findings,
)
from service.guardrails.context import CheckContext
from service.guardrails.lexicon import required_chars
from service.guardrails.rules import RuleSpec, detector

__all__ = [
    "CONTRADICTED",
    "FINDERS",
    "SUPPORTED",
    "UNSUPPORTED",
    "Comparison",
    "Finding",
    "Pack",
    "Subjects",
    "amount_findings",
    "attribute_findings",
    "claims",
    "comparison_findings",
    "comparisons",
    "contents_findings",
    "date_findings",
    "find_claims",
    "grade_findings",
    "material_findings",
    "negated",
    "net",
    "not_is_findings",
    "packs",
    "polar_hits",
    "spec_findings",
    "storage_findings",
    "subjects",
    "suitability_findings",
    "temperature_findings",
]

# --- the detector --------------------------------------------------------------------------

FINDERS = {
    "attributes": attribute_findings,
    "not_is": not_is_findings,
    "contents": contents_findings,
    "comparisons": comparison_findings,
    "spec": spec_findings,
    "dates": date_findings,
    "storage": storage_findings,
    "temperature": temperature_findings,
    "amounts": amount_findings,
    "suitability": suitability_findings,
    "grades": grade_findings,
    "materials": material_findings,
}

def _finder_patterns(cat: ShopCatalog) -> dict[str, list[re.Pattern[str]]]:
    """The patterns each finder needs to match before it can say anything."""
    lex = cat.lexicon
    return {
        "contents": [lex.containers, INSIDE, EACH],
        "comparisons": [re.compile(r"比|不如|和|跟|与|同|于"), IDENTITY],
        "spec": [PER_PACK_A, PER_PACK_B, SPEC_STRING, COPULA_WEIGHT, COUNT_CLAIM, PRICE_PER_UNIT,
                 GRADE_COUNT_CLAIM, PERCENT],
        "dates": [RESTOCK, HARVEST],
        "storage": [OPENED],
        "temperature": [BOILING, DEGREES],
        "amounts": [AMOUNT_CLAIM, STEEPS],
        "suitability": [lex.group_re],
        "grades": [cat.grade_re],
        "materials": [lex.material_re],
    }


def _finder_keys(cat: ShopCatalog) -> dict[str, frozenset[str] | None]:
    """Per finder, characters one of which a reply must hold for any of its patterns to
    match (None: no such set); a reply without them skips the finder."""
    memo = _memo(cat)
    if memo.finder_keys is None:
        keys: dict[str, frozenset[str] | None] = {}
        for kind, patterns in _finder_patterns(cat).items():
            found = [required_chars(p) for p in patterns]
            keys[kind] = None if any(f is None for f in found) else frozenset().union(*found)  # type: ignore[arg-type]
        memo.finder_keys = keys
    return memo.finder_keys


_last: tuple[CheckContext, str, tuple[Finding, ...]] | None = None


def find_claims(text: str, ctx: CheckContext) -> tuple[Finding, ...]:
    """Every judged claim in `text` (memoised for the two rules that read it)."""
    global _last
    memo = _last
    if memo is not None and memo[0] is ctx and memo[1] == text:
        return memo[2]
    cat = ctx.catalog
    found: list[Finding] = []
    if isinstance(cat, ShopCatalog) and (ctx.products() or cat.mentions(text)):
        seen: set[tuple[int, int]] = set()
        keys, chars = _finder_keys(cat), set(text)
        for kind, finder in FINDERS.items():
            needed = keys.get(kind)
            if needed is not None and needed.isdisjoint(chars):
                continue
            for f in finder(text, ctx, cat):
                if (f.start, f.end) not in seen:
                    seen.add((f.start, f.end))
                    found.append(Finding(f.start, f.end, f.verdict, f.detail, kind))
    result = tuple(found)
    _last = (ctx, text, result)
    return result


@detector("claims")
def claims(rule: RuleSpec, text: str, ctx: CheckContext) -> Iterator[tuple[int, int, str]]:
    """Open-world claims about products (attributes, contents, comparisons, spec, dates,
    storage, brewing temperature) judged against the facts. Params: `verdict` (contradicted
    or unsupported: which findings this rule reports), `kinds` (optional subset of finders).
    Fails open without products in play or without the pack's catalog."""
    verdict = rule.params.get("verdict", CONTRADICTED)
    kinds = set(rule.params.get("kinds") or FINDERS)
    for f in find_claims(text, ctx):
        if f.verdict == verdict and f.kind in kinds:
            yield f.start, f.end, f.detail
