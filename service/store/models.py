"""The tables of the draft store (SQLAlchemy 2, typed declarative).

A suggestion is one request to draft; each of its candidates is a draft, the unit agents
act on. Every action on a draft leaves an audit entry in the same transaction as the
change itself, and so does the idempotency record of a request that carried a key, so a
crash can lose neither half of an acknowledged action. The schema is created and changed
only by the Alembic migrations in `service/store/migrations/`.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every engine (SQLite hands back naive datetimes)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


class Suggestion(Base):
    __tablename__ = "suggestions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    shop: Mapped[str] = mapped_column(String(64), index=True)
    conversation_id: Mapped[str | None] = mapped_column(String(128), index=True)
    intent: Mapped[str] = mapped_column(String(32))
    backend: Mapped[str] = mapped_column(String(16))
    model: Mapped[str | None] = mapped_column(String(128))
    prompt_version: Mapped[str | None] = mapped_column(String(64))
    product: Mapped[str | None] = mapped_column(String(64))
    request: Mapped[dict[str, Any]]            # history, product, n as sent
    understanding: Mapped[dict[str, Any]]      # stage, mood, beyond_authority
    notes: Mapped[list[Any]]
    usage: Mapped[dict[str, Any]]
    latency_ms: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Draft(Base):
    __tablename__ = "drafts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    suggestion_id: Mapped[str] = mapped_column(ForeignKey("suggestions.id"), index=True)
    shop: Mapped[str] = mapped_column(String(64), index=True)
    rank: Mapped[int] = mapped_column(Integer)
    # Copied from the suggestion: stats and learning group by them without a join.
    intent: Mapped[str] = mapped_column(String(32))
    backend: Mapped[str] = mapped_column(String(16))
    product: Mapped[str | None] = mapped_column(String(64))
    style: Mapped[str] = mapped_column(String(32), default="")
    original_text: Mapped[str] = mapped_column(Text)
    original_verdict: Mapped[str] = mapped_column(String(8))
    # The text as it stands now (edited or not), and its guardrail verdict.
    text: Mapped[str] = mapped_column(Text)
    verdict: Mapped[str] = mapped_column(String(8))
    violations: Mapped[list[Any]]
    citations: Mapped[list[Any]]
    escalate: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(16), index=True)
    # Bumped by every action: a conditional UPDATE on it lets exactly one of two racing
    # agents win, on SQLite and PostgreSQL alike.
    version: Mapped[int] = mapped_column(Integer, default=1)
    edited: Mapped[bool] = mapped_column(Boolean, default=False)
    reject_reason: Mapped[str | None] = mapped_column(Text)
    override_reason: Mapped[str | None] = mapped_column(Text)
    learned: Mapped[bool] = mapped_column(Boolean, default=False)  # in the approved-reply index
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    draft_id: Mapped[str] = mapped_column(ForeignKey("drafts.id"), index=True)
    shop: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(128))        # the API key (or `local`)
    agent: Mapped[str | None] = mapped_column(String(128))  # the person, when the client says
    at: Mapped[datetime] = mapped_column(default=utcnow)
    before: Mapped[dict[str, Any]]
    after: Mapped[dict[str, Any]]
    detail: Mapped[dict[str, Any]]
    idempotency_key: Mapped[str | None] = mapped_column(String(255))


class IdempotencyRecord(Base):
    """The first answer to a request that carried an Idempotency-Key, replayed on retries."""

    __tablename__ = "idempotency"
    __table_args__ = (UniqueConstraint("scope", "key", name="uq_idempotency_scope_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(64))      # who: the key id, or `local`
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))  # method, path and body
    status: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the secret
    prefix: Mapped[str] = mapped_column(String(16))             # shown in listings
    roles: Mapped[list[Any]]
    shops: Mapped[list[Any]]                                    # ["*"]: every shop
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()
