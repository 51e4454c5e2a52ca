"""(Re)index a knowledge pack: validate, diff against the index, write only what changed.

Order matters for "nothing lost on bad input": the whole pack is validated and every
changed document embedded before the first write. Only then are documents upserted,
removed ones deleted, and the manifest (pack hash, shop.yaml) written last. Re-running
with an unchanged pack writes nothing.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from service.knowledge.documents import Document, build_documents
from service.knowledge.models import Pack
from service.knowledge.pack import load_pack
from service.retrieval import lexical
from service.retrieval.embeddings import Embedder
from service.retrieval.lexical import LexicalStore
from service.retrieval.store import ChromaIndex

SCHEMA = 1


class Progress(Protocol):
    def stage(self, name: str, total: int) -> None: ...
    def advance(self, n: int) -> None: ...


class _Silent:
    def stage(self, name: str, total: int) -> None:
        pass

    def advance(self, n: int) -> None:
        pass


@dataclass
class IngestReport:
    shop: str
    documents: int
    added: int
    updated: int
    removed: int
    unchanged: int
    seconds: float
    products: int
    sections: int

    @property
    def written(self) -> int:
        return self.added + self.updated + self.removed

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "written": self.written}


def pack_words(pack: Pack) -> list[str]:
    """Words jieba must know for this pack: product names and their aliases."""
    words = {w for p in pack.products for w in (p.name, *p.aliases)}
    return sorted(w for w in words if 1 < len(w) <= 30)


def ingest_pack(path: Path | str, index: ChromaIndex, embedder: Embedder, store: LexicalStore,
                progress: Progress | None = None, max_file_bytes: int = 5 * 1024 * 1024,
                max_products_bytes: int = 200 * 1024 * 1024) -> IngestReport:
    began = time.perf_counter()
    progress = progress or _Silent()
    # Raises before anything is touched.
    pack = load_pack(path, max_file_bytes=max_file_bytes, max_products_bytes=max_products_bytes)
    shop = pack.shop.id
    docs = build_documents(pack)
    words = pack_words(pack)
    pack_hash = hashlib.sha256(
        json.dumps([embedder.name, words, sorted(d.hash for d in docs)], ensure_ascii=False).encode()
    ).hexdigest()[:32]

    existing_name = index.collection_name(shop)
    collection = None
    if shop in index.shops():
        collection = index.collection(shop)
        manifest = collection.metadata or {}
        if manifest.get("embedder") != embedder.name:
            collection = None  # vectors of another embedder: rebuild beside, then swap
    rebuilding = collection is None and shop in index.shops()
    current = index.hashes(collection) if collection is not None else {}

    wanted = {d.id: d for d in docs}
    changed = [d for d in docs if current.get(d.id) != d.hash]
    # Approved replies (kind `approved`) are written by agents, not by the pack: keep them.
    removed = [i for i in current if i not in wanted and not i.startswith("approved:")]

    # Tokens: reuse the cached ones for unchanged documents when the cache matches the index.
    lexical.add_words(words)
    cached = store.load(shop)
    old_manifest = (collection.metadata or {}) if collection is not None else {}
    reuse = (cached is not None and cached.get("pack_hash") == old_manifest.get("pack_hash")
             and cached.get("words") == words)
    cached_docs: dict[str, Any] = cached["docs"] if reuse and cached else {}
    changed_ids = {d.id for d in changed}

    progress.stage("tokenising", len(docs))
    token_docs: dict[str, list[Any]] = {}
    for doc in docs:
        entry = cached_docs.get(doc.id)
        if doc.id in changed_ids or entry is None:
            entry = [doc.kind, doc.product, lexical.tokenize(doc.text)]
        token_docs[doc.id] = entry
        progress.advance(1)

    progress.stage("embedding", len(changed))
    vectors = embedder.embed_many([d.text for d in changed], progress=progress.advance)

    if changed or removed or collection is None or old_manifest.get("pack_hash") != pack_hash:
        target = index.create(shop, suffix="__rebuild" if rebuilding else "")
        progress.stage("writing", len(changed))
        if changed:
            index.upsert(target, [d.id for d in changed], vectors, [d.text for d in changed],
                         [d.metadata(shop) for d in changed], progress=progress.advance)
        if not rebuilding:
            index.delete(target, removed)
        store.save(shop, _lexical_data(pack, pack_hash, words, token_docs))
        index.set_manifest(target, _manifest(pack, pack_hash, embedder.name, len(docs)))
        if rebuilding:
            index.drop(existing_name)
            target.modify(name=existing_name)
    elif cached is None or cached.get("pack_hash") != pack_hash:
        store.save(shop, _lexical_data(pack, pack_hash, words, token_docs))

    added = sum(1 for d in changed if d.id not in current)
    return IngestReport(
        shop=shop, documents=len(docs), added=added, updated=len(changed) - added,
        removed=len(removed), unchanged=len(docs) - len(changed),
        seconds=round(time.perf_counter() - began, 3),
        products=len(pack.products), sections=len(pack.sections),
    )


def _lexical_data(pack: Pack, pack_hash: str, words: list[str],
                  token_docs: dict[str, list[Any]]) -> dict[str, Any]:
    return {"schema": SCHEMA, "pack_hash": pack_hash, "words": words, "docs": token_docs,
            "catalog": [[p.id, p.name, p.aliases] for p in pack.products]}


def _manifest(pack: Pack, pack_hash: str, embedder: str, count: int) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "pack_hash": pack_hash,
        "embedder": embedder,
        "documents": count,
        "shop_json": pack.shop.model_dump_json(),
        "ingested_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


__all__ = ["Document", "IngestReport", "ingest_pack", "pack_words"]
