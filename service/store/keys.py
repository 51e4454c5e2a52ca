"""API keys: roles, shop scopes, stored hashed.

A key is `hs_` plus 32 random bytes (url-safe base64); only its SHA-256 is stored, which
is enough for a secret of that entropy (no slow hash is needed, and a lookup is one
indexed read). The secret is shown once, when the key is created.

Roles: `client` (suggestions, check, search), `agent` (draft actions), `evaluator`
(evals, stats), `admin` (everything, and keys). A key holds one or more roles and is
scoped to listed shops, or to every shop with `*`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, update

from service.errors import Forbidden, InvalidRequest, NotFound, Unauthorized
from service.store.db import Database
from service.store.models import ApiKey, utcnow

ROLES = ("client", "agent", "evaluator", "admin")
ALL_SHOPS = "*"
SHOP_ID = re.compile(r"^[a-z0-9-]+$")


@dataclass(frozen=True)
class Principal:
    """Who is calling: an API key, or `local` when no key is configured at all."""

    id: str
    name: str
    roles: frozenset[str]
    shops: frozenset[str] = field(default_factory=lambda: frozenset({ALL_SHOPS}))

    @property
    def label(self) -> str:
        return self.id if self.id == "local" else f"{self.id} ({self.name})"

    @property
    def all_shops(self) -> bool:
        return ALL_SHOPS in self.shops

    def visible_shops(self) -> frozenset[str] | None:
        """None: every shop."""
        return None if self.all_shops else self.shops

    def require(self, *roles: str) -> None:
        if not self.roles & {*roles, "admin"}:
            raise Forbidden(f"this API key lacks the {' or '.join(f'`{r}`' for r in roles)} role")

    def require_shop(self, shop: str) -> None:
        if not self.all_shops and shop not in self.shops:
            raise Forbidden(f"this API key is not scoped to shop {shop!r}")


LOCAL = Principal(id="local", name="local", roles=frozenset(ROLES))


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def install(self, secret: str, name: str = "admin (HUASHU_ADMIN_KEY)") -> bool:
        """Make `secret` a valid admin key for every shop, unless it is one already (or was
        revoked: a revoked key stays revoked). True if it was added."""
        if len(secret) < 24 or not secret.isprintable() or " " in secret:
            raise InvalidRequest("HUASHU_ADMIN_KEY: at least 24 visible characters, no spaces")
        with self.db.session(write=True) as s:
            if s.scalars(select(ApiKey).where(ApiKey.hash == _digest(secret))).first() is not None:
                return False
            s.add(ApiKey(id="k_" + secrets.token_hex(5), name=name, hash=_digest(secret), prefix=secret[:10],
                         roles=["admin"], shops=[ALL_SHOPS]))
        return True

    def create(self, name: str, roles: Collection[str], shops: Collection[str]) -> tuple[dict[str, Any], str]:
        """The new key's listing and its secret (shown once)."""
        name = name.strip()
        if not name or len(name) > 100:
            raise InvalidRequest("name: 1 to 100 characters")
        roles = sorted(set(roles))
        if not roles or set(roles) - set(ROLES):
            raise InvalidRequest(f"roles: one or more of {', '.join(ROLES)}, got {roles or 'none'}")
        shops = sorted(set(shops))
        if not shops or any(s != ALL_SHOPS and not SHOP_ID.match(s) for s in shops):
            raise InvalidRequest("shops: one or more shop ids ([a-z0-9-]+), or `*` for every shop")
        secret = "hs_" + secrets.token_urlsafe(32)
        row = ApiKey(id="k_" + secrets.token_hex(5), name=name, hash=_digest(secret), prefix=secret[:10],
                     roles=roles, shops=[ALL_SHOPS] if ALL_SHOPS in shops else shops)
        with self.db.session(write=True) as s:
            s.add(row)
        return _listing(row), secret

    def list(self, include_revoked: bool = True) -> list[dict[str, Any]]:
        with self.db.session() as s:
            q = select(ApiKey).order_by(ApiKey.created_at)
            if not include_revoked:
                q = q.where(ApiKey.revoked_at.is_(None))
            return [_listing(k) for k in s.scalars(q)]

    def get(self, key_id: str) -> dict[str, Any]:
        with self.db.session() as s:
            row = s.get(ApiKey, key_id)
            if row is None:
                raise NotFound(f"no API key {key_id!r}")
            return _listing(row)

    def revoke(self, key_id: str) -> dict[str, Any]:
        with self.db.session(write=True) as s:
            row = s.get(ApiKey, key_id)
            if row is None:
                raise NotFound(f"no API key {key_id!r}")
            if row.revoked_at is None:
                s.execute(update(ApiKey).where(ApiKey.id == key_id).values(revoked_at=utcnow()))
                s.refresh(row)
            return _listing(row)

    def active(self) -> int:
        with self.db.session() as s:
            return int(s.scalar(select(func.count()).select_from(ApiKey).where(ApiKey.revoked_at.is_(None))) or 0)

    def authenticate(self, secret: str) -> Principal:
        with self.db.session() as s:
            row = s.scalars(select(ApiKey).where(ApiKey.hash == _digest(secret))).first()
        if row is None:
            raise Unauthorized("unknown API key")
        if row.revoked_at is not None:
            raise Unauthorized(f"API key {row.id} was revoked")
        return Principal(id=row.id, name=row.name, roles=frozenset(row.roles), shops=frozenset(row.shops))


def _listing(k: ApiKey) -> dict[str, Any]:
    return {"id": k.id, "name": k.name, "prefix": k.prefix, "roles": list(k.roles), "shops": list(k.shops),
            "created_at": k.created_at.isoformat() if k.created_at else None,
            "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None}
