"""Drafts and their lifecycle: every suggestion kept, every action recorded, none twice.

    suggested ──edit──▶ edited ──edit──▶ edited
        │                  │
        ├──approve─────────┴──approve──▶ approved ──sent──▶ sent
        └──reject──────────┴──reject───▶ rejected

An action is one write transaction: the draft's conditional UPDATE (on its `version`),
its audit entry and, when the request carried an Idempotency-Key, the answer to replay.
Two agents racing on one draft: the UPDATE of the second matches no row, so exactly one
wins and the other gets Conflict with the draft as it now stands. A retried request with
the same key gets the first answer back and writes nothing.

An edit is checked by the guardrails again; a draft whose current text blocks can only
be approved with `override` and a reason, both recorded.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.errors import Conflict, DraftNotFound, IdempotencyMismatch, InvalidRequest, OverrideRequired
from service.store.db import Database
from service.store.models import AuditEntry, Draft, IdempotencyRecord, Suggestion, utcnow

ACTIONS = ("approve", "edit", "reject", "sent")
STATES = ("suggested", "edited", "approved", "rejected", "sent")
ALLOWED_FROM = {
    "approve": ("suggested", "edited"),
    "edit": ("suggested", "edited"),
    "reject": ("suggested", "edited"),
    "sent": ("approved",),
}
TARGET = {"approve": "approved", "edit": "edited", "reject": "rejected", "sent": "sent"}
MAX_TEXT = 2000
MAX_REASON = 500
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")

# (shop, text, product, history) -> (verdict, violations): the guardrails, for edits.
Checker = Callable[[str, str, str | None, list[dict[str, str]]], tuple[str, list[dict[str, Any]]]]


@dataclass(frozen=True)
class Idempotency:
    """An Idempotency-Key as it applies to one request: who sent it, and what the request was."""

    scope: str          # the API key's id, or `local`
    key: str
    request_hash: str   # method, path and body: a reused key with another request is refused

    @classmethod
    def of(cls, key: str | None, scope: str, method: str, path: str, body: Any) -> Idempotency | None:
        if key is None:
            return None
        if not IDEMPOTENCY_KEY.match(key):
            raise InvalidRequest("Idempotency-Key: must be 1-255 visible ASCII characters without spaces")
        payload = json.dumps([method.upper(), path, body], ensure_ascii=False, sort_keys=True, default=str)
        return cls(scope=scope, key=key, request_hash=hashlib.sha256(payload.encode()).hexdigest())


@dataclass(frozen=True)
class Outcome:
    body: dict[str, Any]
    status: int = 200
    replayed: bool = False


class DraftStore:
    def __init__(self, db: Database, checker: Checker | None = None,
                 on_approved: Callable[[list[str]], None] | None = None) -> None:
        self.db = db
        self.checker = checker
        self.on_approved = on_approved

    # --- suggestions ----------------------------------------------------------------------

    def replay(self, idem: Idempotency | None) -> Outcome | None:
        """The first answer to this request, if it was made before (raises on a reused key)."""
        if idem is None:
            return None
        with self.db.session() as s:
            return _replayed(s, idem)

    def record(self, suggestion: dict[str, Any], request: dict[str, Any], actor: str,
               idem: Idempotency | None = None) -> Outcome:
        """Keep a suggestion and its candidates as drafts (state `suggested`)."""
        u_keys = ("stage", "mood", "product", "beyond_authority")
        row = Suggestion(
            id=suggestion["id"], shop=request["shop"], conversation_id=request.get("conversation_id"),
            intent=suggestion["intent"], backend=suggestion["backend"], model=suggestion.get("model"),
            prompt_version=suggestion.get("prompt_version"), product=suggestion.get("product"),
            request=request, understanding={k: suggestion.get(k) for k in u_keys},
            notes=list(suggestion.get("notes", [])), usage=dict(suggestion.get("usage", {})),
            latency_ms=float(suggestion.get("latency_ms", 0.0)), created_by=actor,
        )
        drafts = [
            Draft(id=c["id"], suggestion_id=row.id, shop=row.shop, rank=rank, intent=row.intent,
                  backend=row.backend, product=row.product, style=c.get("style", ""),
                  original_text=c["text"], original_verdict=c["verdict"], text=c["text"],
                  verdict=c["verdict"], violations=list(c["violations"]), citations=list(c["citations"]),
                  escalate=bool(c["escalate"]), state="suggested", version=1)
            for rank, c in enumerate(suggestion["candidates"])
        ]
        try:
            with self.db.session(write=True) as s:
                if idem is not None and (seen := _replayed(s, idem)) is not None:
                    return seen
                s.add(row)
                s.flush()  # the suggestion before its drafts (foreign key)
                s.add_all(drafts)
                if idem is not None:
                    s.add(_record(idem, 200, suggestion))
        except IntegrityError:
            # The same key won a race a moment ago: answer as it did.
            seen = self.replay(idem)
            if seen is None:
                raise
            return seen
        return Outcome(body=suggestion)

    # --- drafts ---------------------------------------------------------------------------

    def get(self, draft_id: str, shops: Collection[str] | None = None, audit: bool = True) -> dict[str, Any]:
        with self.db.session() as s:
            draft = _visible(s, draft_id, shops)
            body = as_dict(draft, s.get(Suggestion, draft.suggestion_id))
            if audit:
                body["audit"] = [audit_dict(a) for a in s.scalars(
                    select(AuditEntry).where(AuditEntry.draft_id == draft_id).order_by(AuditEntry.id))]
            return body

    def act(self, draft_id: str, action: str, *, actor: str, agent: str | None = None,
            shops: Collection[str] | None = None, idem: Idempotency | None = None,
            text: str | None = None, reason: str | None = None, override: bool = False,
            version: int | None = None) -> Outcome:
        """Apply one action. `version`, when given, must be the draft's current version
        (optimistic locking across a read in the client); otherwise the version read here."""
        if action not in ACTIONS:
            raise InvalidRequest(f"action: must be one of {', '.join(ACTIONS)}, got {action!r}")
        text, reason = _clean(action, text, reason)
        check: tuple[str, list[dict[str, Any]]] | None = None
        if action == "edit":
            if idem is not None and (seen := self.replay(idem)) is not None:
                return seen  # a retried edit is not checked again
            # Checked before the transaction: it reads the index, which the lock needn't wait for.
            current = self.get(draft_id, shops, audit=False)
            if self.checker is not None:
                check = self.checker(current["shop"], text or "", current["product"], current["history"])
            else:
                check = ("pass", [])

        try:
            with self.db.session(write=True) as s:
                if idem is not None and (seen := _replayed(s, idem)) is not None:
                    return seen
                draft = _visible(s, draft_id, shops)
                suggestion = s.get(Suggestion, draft.suggestion_id)
                before = _snapshot(draft)
                expected = draft.version if version is None else version
                if draft.state not in ALLOWED_FROM[action] or draft.version != expected:
                    raise _conflict(draft, suggestion, action, expected)
                values = _transition(draft, action, text, reason, override, check)
                now = utcnow()
                values["updated_at"] = now
                if action in ("approve", "reject"):
                    values["decided_at"] = now
                if action == "sent":
                    values["sent_at"] = now
                done = s.execute(update(Draft).where(Draft.id == draft_id, Draft.version == expected)
                                 .values(version=expected + 1, **values).execution_options(synchronize_session=False))
                if done.rowcount != 1:  # type: ignore[attr-defined]
                    raise _Lost()
                # The row now holds `values`: say so on a detached copy rather than read it back.
                s.expunge(draft)
                for name, value in {**values, "version": expected + 1}.items():
                    setattr(draft, name, value)
                detail = {k: v for k, v in (("reason", reason), ("override", (override and action == "approve") or None),
                                           ("verdict", check[0] if check else None)) if v is not None}
                s.add(AuditEntry(draft_id=draft_id, shop=draft.shop, action=action, actor=actor, agent=agent,
                                 at=now, before=before, after=_snapshot(draft), detail=detail,
                                 idempotency_key=idem.key if idem else None))
                body = as_dict(draft, suggestion)
                if idem is not None:
                    s.add(_record(idem, 200, body))
        except _Lost:
            return self._lost_race(draft_id, shops, idem, action)
        except Conflict:
            # PostgreSQL: this request's own retry may have committed between our two reads
            # (no replay found, then the draft already approved): answer as it did.
            if idem is not None and (seen := self.replay(idem)) is not None:
                return seen
            raise
        except IntegrityError:
            seen = self.replay(idem)
            if seen is None:
                raise
            return seen
        if action == "approve" and self.on_approved is not None:
            self.on_approved([draft_id])
        return Outcome(body=body)

    def _lost_race(self, draft_id: str, shops: Collection[str] | None, idem: Idempotency | None,
                   action: str) -> Outcome:
        # PostgreSQL: the winner may have been this very request's retry; then answer as it did.
        if idem is not None and (seen := self.replay(idem)) is not None:
            return seen
        current = self.get(draft_id, shops, audit=False)
        raise Conflict(f"draft {draft_id} changed while you acted on it (now {current['state']}, "
                       f"version {current['version']}); reload it and try again", current)

    def list(self, shop: str, state: str | None = None, intent: str | None = None,
             limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        """A shop's drafts, newest first (the agents' queue, or the rejections evaluators read)."""
        if state is not None and state not in STATES:
            raise InvalidRequest(f"state: must be one of {', '.join(STATES)}, got {state!r}")
        if not 1 <= limit <= 500 or offset < 0:
            raise InvalidRequest("limit: 1 to 500; offset: 0 or more")
        with self.db.session() as s:
            q = select(Draft, Suggestion).join(Suggestion, Draft.suggestion_id == Suggestion.id).where(
                Draft.shop == shop)
            if state is not None:
                q = q.where(Draft.state == state)
            if intent is not None:
                q = q.where(Draft.intent == intent)
            q = q.order_by(Draft.updated_at.desc(), Draft.id).limit(limit).offset(offset)
            return [as_dict(d, sug) for d, sug in s.execute(q)]

    def audit(self, draft_id: str, shops: Collection[str] | None = None) -> list[dict[str, Any]]:
        return list(self.get(draft_id, shops)["audit"])

    # --- for learning and stats -------------------------------------------------------------

    def approved(self, shop: str | None = None, ids: Iterable[str] | None = None,
                 unlearned: bool = False) -> list[dict[str, Any]]:
        """Approved (or sent) drafts with the buyer message they answer."""
        with self.db.session() as s:
            q = select(Draft, Suggestion).join(Suggestion, Draft.suggestion_id == Suggestion.id).where(
                Draft.state.in_(("approved", "sent")))
            if shop is not None:
                q = q.where(Draft.shop == shop)
            if ids is not None:
                q = q.where(Draft.id.in_(list(ids)))
            if unlearned:
                q = q.where(Draft.learned.is_(False))
            return [as_dict(d, sug) for d, sug in s.execute(q.order_by(Draft.decided_at))]

    def mark_learned(self, ids: Iterable[str], learned: bool = True) -> None:
        ids = list(ids)
        if ids:
            with self.db.session(write=True) as s:
                s.execute(update(Draft).where(Draft.id.in_(ids)).values(learned=learned)
                          .execution_options(synchronize_session=False))

    def decided(self, shop: str, since: datetime | None = None,
                until: datetime | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The shop's suggestions (id, intent, backend) and every draft that was acted on."""
        with self.db.session() as s:
            sq = select(Suggestion.id, Suggestion.intent, Suggestion.backend).where(Suggestion.shop == shop)
            dq = select(Draft).where(Draft.shop == shop, Draft.state != "suggested")
            if since is not None:
                sq, dq = sq.where(Suggestion.created_at >= since), dq.where(Draft.created_at >= since)
            if until is not None:
                sq, dq = sq.where(Suggestion.created_at < until), dq.where(Draft.created_at < until)
            suggestions = [{"id": i, "intent": intent, "backend": b} for i, intent, b in s.execute(sq)]
            drafts = [as_dict(d) for d in s.scalars(dq)]
        return suggestions, drafts


class _Lost(Exception):
    """The conditional update matched no row: another request changed the draft first."""


def _clean(action: str, text: str | None, reason: str | None) -> tuple[str | None, str | None]:
    if action == "edit":
        if text is None or not text.strip():
            raise InvalidRequest("text: the edited reply must not be empty")
        if len(text) > MAX_TEXT:
            raise InvalidRequest(f"text: {len(text):,} characters is over the limit of {MAX_TEXT:,}")
        text = text.strip()
    if reason is not None:
        reason = reason.strip() or None
        if reason is not None and len(reason) > MAX_REASON:
            raise InvalidRequest(f"reason: over the limit of {MAX_REASON} characters")
    if action == "reject" and reason is None:
        raise InvalidRequest("reason: a rejection needs a reason (evaluators read them)")
    return text, reason


def _transition(draft: Draft, action: str, text: str | None, reason: str | None, override: bool,
                check: tuple[str, list[dict[str, Any]]] | None) -> dict[str, Any]:
    values: dict[str, Any] = {"state": TARGET[action]}
    if action == "edit":
        assert check is not None and text is not None
        values.update(text=text, verdict=check[0], violations=check[1], edited=text != draft.original_text)
    elif action == "approve" and draft.verdict == "block":
        if not override or reason is None:
            raise OverrideRequired(
                "this draft's text is blocked by the guardrails; approve it only with "
                "`override: true` and a `reason`", as_dict(draft))
        values["override_reason"] = reason
    elif action == "reject":
        values["reject_reason"] = reason
    return values


def _conflict(draft: Draft, suggestion: Suggestion | None, action: str, expected: int) -> Conflict:
    current = as_dict(draft, suggestion)
    if draft.version != expected:
        return Conflict(f"draft {draft.id} is at version {draft.version}, not {expected}; reload it", current)
    return Conflict(f"cannot {action} draft {draft.id}: it is {draft.state}", current)


def _visible(s: Session, draft_id: str, shops: Collection[str] | None) -> Draft:
    draft = s.get(Draft, draft_id) if isinstance(draft_id, str) and len(draft_id) <= 32 else None
    # A draft of a shop the caller can't see is answered exactly like a missing one.
    if draft is None or (shops is not None and draft.shop not in shops):
        raise DraftNotFound(f"no draft {draft_id!r}")
    return draft


def _replayed(s: Session, idem: Idempotency) -> Outcome | None:
    rec = s.scalars(select(IdempotencyRecord).where(IdempotencyRecord.scope == idem.scope,
                                                    IdempotencyRecord.key == idem.key)).first()
    if rec is None:
        return None
    if rec.request_hash != idem.request_hash:
        raise IdempotencyMismatch(f"Idempotency-Key {idem.key!r} was used for a different request")
    return Outcome(body=rec.response, status=rec.status, replayed=True)


def _record(idem: Idempotency, status: int, body: dict[str, Any]) -> IdempotencyRecord:
    return IdempotencyRecord(scope=idem.scope, key=idem.key, request_hash=idem.request_hash,
                             status=status, response=json.loads(json.dumps(body, default=str)))


def _snapshot(d: Draft) -> dict[str, Any]:
    return {"state": d.state, "text": d.text, "verdict": d.verdict, "version": d.version}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def as_dict(d: Draft, suggestion: Suggestion | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": d.id, "suggestion_id": d.suggestion_id, "shop": d.shop, "state": d.state,
        "text": d.text, "original_text": d.original_text, "verdict": d.verdict,
        "violations": d.violations, "citations": d.citations, "escalate": d.escalate,
        "edited": d.edited, "intent": d.intent, "backend": d.backend, "product": d.product,
        "style": d.style, "version": d.version, "reject_reason": d.reject_reason,
        "override_reason": d.override_reason, "created_at": _iso(d.created_at),
        "updated_at": _iso(d.updated_at), "decided_at": _iso(d.decided_at), "sent_at": _iso(d.sent_at),
    }
    if suggestion is not None:
        history = suggestion.request.get("history", [])
        body.update(conversation_id=suggestion.conversation_id, history=history,
                    question=next((t["text"] for t in reversed(history) if t.get("role") == "buyer"), ""),
                    beyond_authority=suggestion.understanding.get("beyond_authority") or [])
    return body


def audit_dict(a: AuditEntry) -> dict[str, Any]:
    return {"id": a.id, "action": a.action, "actor": a.actor, "agent": a.agent, "at": _iso(a.at),
            "before": a.before, "after": a.after, "detail": a.detail, "idempotency_key": a.idempotency_key}
