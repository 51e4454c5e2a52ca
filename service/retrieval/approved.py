"""Approved replies as retrievable knowledge (kind `approved`), one Chroma collection per shop.

What agents approve — edited replies most of all — is the shop's best evidence of how it
wants a question answered. Each approved draft is embedded by the buyer message it
answered (the next buyer asks a question, not a reply) and kept with its intent, product
and what the buyer asked beyond authority, so it is offered again only where it fits.

The draft store is the source of truth; this collection is derived from it and can be
rebuilt at any time (`Learning.sync`). It lives beside the pack's collection
(`huashu_<shop>__approved`), so re-ingesting a pack never touches it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from service.errors import ShopNotFound
from service.retrieval.embeddings import Embedder
from service.retrieval.store import ChromaIndex, _translate

SUFFIX = "__approved"
MAX_DISTANCE = 0.7    # cosine distance of the questions (built-in embedding: a paraphrase
                      # sharing a few characters is 0.5-0.65, another question of the intent 0.8-1)
NEGATIVE_TTL = 2.0    # seconds a shop without approved replies is not asked again


@dataclass(frozen=True)
class ApprovedReply:
    draft_id: str
    shop: str
    question: str
    text: str
    intent: str
    product: str | None
    beyond: tuple[str, ...] = ()
    edited: bool = False

    @property
    def source_id(self) -> str:
        return f"approved:{self.draft_id}"


@dataclass(frozen=True)
class ApprovedHit:
    reply: ApprovedReply
    distance: float


class ApprovedIndex:
    def __init__(self, index: ChromaIndex, embedder: Embedder) -> None:
        self.index = index
        self.embedder = embedder
        self._collections: dict[str, Any] = {}
        self._missing: dict[str, float] = {}

    def name(self, shop: str) -> str:
        return self.index.collection_name(shop) + SUFFIX

    def add(self, replies: list[ApprovedReply]) -> None:
        by_shop: dict[str, list[ApprovedReply]] = {}
        for r in replies:
            by_shop.setdefault(r.shop, []).append(r)
        for shop, items in by_shop.items():
            col = self._collection(shop, create=True)
            vectors = self.embedder.embed_many([r.question for r in items])
            with _translate("write approved replies"):
                col.upsert(ids=[r.source_id for r in items], embeddings=vectors,
                           documents=[r.text for r in items],
                           metadatas=[{"kind": "approved", "shop": shop, "intent": r.intent,
                                       "product": r.product or "", "question": r.question,
                                       "beyond": "|".join(sorted(r.beyond)), "edited": r.edited,
                                       "draft": r.draft_id, "title": "已批准的回复"} for r in items])

    def clear(self, shop: str) -> None:
        self._collections.pop(shop, None)
        try:
            self.index.drop(self.name(shop))
        except Exception:  # noqa: BLE001 - nothing to drop
            pass

    def embedder_of(self, shop: str) -> str | None:
        col = self._collection(shop)
        return None if col is None else str((col.metadata or {}).get("embedder"))

    def search(self, shop: str, vector: Any, intent: str | None, product: str | None,
               k: int = 2, max_distance: float = MAX_DISTANCE) -> list[ApprovedHit]:
        """Approved replies to questions like this one, for this intent, for this product
        (or for no product in particular). Nearest first."""
        col = self._collection(shop)
        if col is None:
            return []
        clauses: list[dict[str, Any]] = [{"product": {"$in": [product, ""]} if product else ""}]
        if intent:
            clauses.append({"intent": intent})
        where = clauses[0] if len(clauses) == 1 else {"$and": clauses}
        with _translate("query approved replies"):
            n = col.count()
            if n == 0:
                return []
            got = col.query(query_embeddings=[vector], n_results=min(k, n), where=where,
                            include=["documents", "metadatas", "distances"])
        hits = []
        for i, text, meta, dist in zip(got["ids"][0], got["documents"][0], got["metadatas"][0],
                                       got["distances"][0]):
            if dist > max_distance:
                continue
            meta = meta or {}
            hits.append(ApprovedHit(ApprovedReply(
                draft_id=str(meta.get("draft", i.split(":", 1)[-1])), shop=shop,
                question=str(meta.get("question", "")), text=text or "", intent=str(meta.get("intent", "")),
                product=str(meta.get("product") or "") or None,
                beyond=tuple(b for b in str(meta.get("beyond", "")).split("|") if b),
                edited=bool(meta.get("edited"))), float(dist)))
        return hits

    def _collection(self, shop: str, create: bool = False) -> Any:
        col = self._collections.get(shop)
        if col is not None:
            return col
        if not create and time.monotonic() - self._missing.get(shop, -NEGATIVE_TTL) < NEGATIVE_TTL:
            return None
        try:
            with _translate("open approved replies"):
                col = self.index.client.get_collection(self.name(shop), embedding_function=None)
        except ShopNotFound:
            if not create:
                self._missing[shop] = time.monotonic()
                return None
            with _translate("create approved replies"):
                col = self.index.client.get_or_create_collection(
                    self.name(shop), configuration={"hnsw": {"space": "cosine"}},
                    metadata={"embedder": self.embedder.name}, embedding_function=None)
        self._missing.pop(shop, None)
        self._collections[shop] = col
        return col
