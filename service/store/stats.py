"""What agents did with the drafts: acceptance, edits, rejections, per intent and backend.

Two rates, because they answer different questions:
- acceptance_rate, per suggestion: of the suggestions an agent acted on, how many gave
  them a reply they approved (N candidates, one approved, is full acceptance);
- approval_rate, per draft: of the drafts decided, how many were approved.
Edit distance is Levenshtein over characters (rapidfuzz) between the text drafted and
the text approved, which is what was sent.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from rapidfuzz.distance import Levenshtein

from service.store.drafts import DraftStore

APPROVED = ("approved", "sent")


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def summarise(suggestions: list[dict[str, Any]], drafts: list[dict[str, Any]]) -> dict[str, Any]:
    """One group's figures (see StatsGroup in the API schemas)."""
    acted = {d["suggestion_id"] for d in drafts}
    approved = [d for d in drafts if d["state"] in APPROVED]
    rejected = [d for d in drafts if d["state"] == "rejected"]
    reasons = Counter(d["reject_reason"] or "" for d in rejected)
    distances = [Levenshtein.distance(d["original_text"], d["text"]) for d in approved]
    ratios = [Levenshtein.normalized_distance(d["original_text"], d["text"]) for d in approved]
    return {
        "suggestions": len(suggestions), "acted_on": len(acted),
        "accepted": len({d["suggestion_id"] for d in approved}),
        "acceptance_rate": _rate(len({d["suggestion_id"] for d in approved}), len(acted)),
        "approved": len(approved), "rejected": len(rejected),
        "sent": sum(1 for d in drafts if d["state"] == "sent"),
        "approval_rate": _rate(len(approved), len(approved) + len(rejected)),
        "edit_rate": _rate(sum(1 for d in approved if d["edited"]), len(approved)),
        "mean_edit_distance": _mean([float(x) for x in distances]),
        "mean_edit_ratio": _mean(ratios),
        "overrides": sum(1 for d in approved if d["override_reason"]),
        "rejection_reasons": [{"reason": r, "count": n} for r, n in reasons.most_common()],
    }


def shop_stats(store: DraftStore, shop: str, **window: Any) -> dict[str, Any]:
    suggestions, drafts = store.decided(shop, **window)
    out: dict[str, Any] = {"shop": shop, "overall": summarise(suggestions, drafts)}
    for field in ("intent", "backend"):
        s_groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        d_groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for s in suggestions:
            s_groups[s[field]].append(s)
        for d in drafts:
            d_groups[d[field]].append(d)
        out[f"by_{field}"] = {k: summarise(s_groups[k], d_groups[k]) for k in sorted(s_groups)}
    return out
