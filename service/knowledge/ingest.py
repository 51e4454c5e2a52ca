"""(Re)index a knowledge pack: validate, diff against the index, write only what changed.

Order matters for "nothing lost on bad input": the whole pack is validated before the
first write (and, with a remote embeddings endpoint, every changed document embedded).
Then changed vectors are upserted and removed ones deleted, a new documents generation is
written beside the old one, and the manifest (pack hash, shop.yaml, which documents
generation) is written last: readers switch to the new texts in that one step. A new shop,
or one indexed with another embedder or layout, is built in a collection beside and
swapped in. Re-running with an unchanged pack writes nothing.

On a large pack, tokenising (for the BM25 cache) runs in a worker process while this one
embeds and writes vectors (see prepare.py).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from collections.abc import Callable
from typing import Any, Protocol

from service.knowledge.documents import Document, build_documents
from service.knowledge.models import Pack
from service.knowledge.pack import load_pack
from service.retrieval import lexical
from service.retrieval.embeddings import Embedder
from service.retrieval.lexical import LexicalStore
from service.retrieval.prepare import tokenize_documents
from service.retrieval.store import ChromaIndex, Hit

# 2: vectors alone on the shop's records, texts and metadata in a documents collection.
SCHEMA = 2
BATCH = 1000  # documents embedded and written at a time


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
    return lexical.catalog_words((p.name, p.aliases) for p in pack.products)


def ingest_pack(path: Path | str, index: ChromaIndex, embedder: Embedder, store: LexicalStore,
                progress: Progress | None = None, max_file_bytes: int = 5 * 1024 * 1024,
                max_products_bytes: int = 200 * 1024 * 1024,
                validate: Callable[[Pack], None] | None = None) -> IngestReport:
    """`validate` is a further check of the loaded pack by a downstream module (the guardrail
    overrides); like load_pack it raises before anything is touched."""
    began = time.perf_counter()
    progress = progress or _Silent()
    pack = load_pack(path, max_file_bytes=max_file_bytes, max_products_bytes=max_products_bytes)
    if validate is not None:
        validate(pack)
    shop = pack.shop.id
    docs = build_documents(pack)
    words = pack_words(pack)
    pack_hash = hashlib.sha256(json.dumps(
        [embedder.name, words, sorted(d.hash for d in docs), pack.guardrails], ensure_ascii=False,
        sort_keys=True).encode()).hexdigest()[:32]

    existing_name = index.collection_name(shop)
    collection = index.collection(shop) if shop in index.shops() else None
    old_manifest = dict(collection.metadata or {}) if collection is not None else {}
    # A new shop, vectors of another embedder or an older layout: build beside, then swap,
    # so no half-written index is ever visible under the shop's name.
    rebuilding = (collection is None or old_manifest.get("embedder") != embedder.name
                  or old_manifest.get("schema") != SCHEMA)
    current_docs = index.documents(collection) if collection is not None and not rebuilding else {}
    current = {i: str(h.metadata.get("hash", "")) for i, h in current_docs.items()}

    wanted = {d.id: d for d in docs}
    changed = [d for d in docs if current.get(d.id) != d.hash]
    # Approved replies (kind `approved`) are written by agents, not by the pack: keep them.
    kept = [h for i, h in current_docs.items() if i.startswith("approved:")]
    removed = [i for i in current if i not in wanted and not i.startswith("approved:")]
    write = bool(changed or removed or rebuilding or old_manifest.get("pack_hash") != pack_hash)

    # Tokens: reuse the cached ones for unchanged documents when the cache matches the index.
    cached = store.load(shop)
    if not write and cached is not None and cached.get("pack_hash") == pack_hash:
        return _report(pack, docs, changed, current, removed, began)
    reuse = (cached is not None and cached.get("pack_hash") == old_manifest.get("pack_hash")
             and cached.get("words") == words)
    cached_docs: dict[str, Any] = cached["docs"] if reuse and cached else {}
    cached_names = {row[0]: row[3] for row in (cached or {}).get("catalog", []) if reuse and len(row) > 3}
    changed_ids = {d.id for d in changed}
    token_docs: dict[str, list[Any]] = {}
    name_tokens: dict[str, str] = {}
    untokenized = []
    for doc in docs:
        if (doc.id not in changed_ids and doc.id in cached_docs
                and (doc.kind != "fact" or doc.product in cached_names)):
            token_docs[doc.id] = cached_docs[doc.id]
            if doc.kind == "fact":
                name_tokens[doc.product] = cached_names[doc.product]
        else:
            untokenized.append(doc)

    pending = tokenize_documents([d.text for d in untokenized],
                                 [_catalog_text(d) if d.kind == "fact" else "" for d in untokenized], words)
    try:
        if write:
            target = index.create(shop, suffix="__rebuild") if rebuilding else collection
            _write_vectors(index, target, changed, embedder, progress)
            if not rebuilding:
                index.delete(target, removed)
            documents = index.write_documents(
                shop, [Hit(id=d.id, text=d.text, metadata=d.metadata(shop), distance=0.0) for d in docs] + kept)
        tokens, names = pending.result()
    finally:
        pending.close()
    for doc, doc_tokens, doc_names in zip(untokenized, tokens, names):
        token_docs[doc.id] = [doc.kind, doc.product, doc_tokens, doc.intent]
        if doc.kind == "fact":
            name_tokens[doc.product] = doc_names

    store.save(shop, _lexical_data(pack, pack_hash, words, _ordered(docs, token_docs), name_tokens))
    if write:
        # The manifest is the commit point: it names the documents generation just written.
        index.set_manifest(target, _manifest(pack, pack_hash, embedder.name, len(docs), documents))
        if rebuilding:
            if collection is not None:
                index.drop(existing_name)
            index.rename(target, existing_name)
        index.drop_documents(shop, keep=documents)
    return _report(pack, docs, changed, current, removed, began)


def _write_vectors(index: ChromaIndex, target: Any, changed: list[Document], embedder: Embedder,
                   progress: Progress) -> None:
    texts = [d.text for d in changed]
    if embedder.local:
        progress.stage("indexing", len(changed))
        for start in range(0, len(changed), BATCH):
            chunk = changed[start:start + BATCH]
            index.upsert(target, [d.id for d in chunk], embedder.embed_many(texts[start:start + BATCH]))
            progress.advance(len(chunk))
        return
    # A remote endpoint can fail midway: embed everything before the first write.
    progress.stage("embedding", len(changed))
    vectors = embedder.embed_many(texts, progress=progress.advance)
    progress.stage("indexing", len(changed))
    for start in range(0, len(changed), BATCH):
        index.upsert(target, [d.id for d in changed[start:start + BATCH]], vectors[start:start + BATCH])
        progress.advance(len(changed[start:start + BATCH]))


def _report(pack: Pack, docs: list[Document], changed: list[Document], current: dict[str, str],
            removed: list[str], began: float) -> IngestReport:
    added = sum(1 for d in changed if d.id not in current)
    return IngestReport(
        shop=pack.shop.id, documents=len(docs), added=added, updated=len(changed) - added,
        removed=len(removed), unchanged=len(docs) - len(changed),
        seconds=round(time.perf_counter() - began, 3),
        products=len(pack.products), sections=len(pack.sections),
    )


def _ordered(docs: list[Document], token_docs: dict[str, list[Any]]) -> dict[str, list[Any]]:
    return {d.id: token_docs[d.id] for d in docs}


def _catalog_text(doc: Document) -> str:
    aliases = [a for a in doc.extra.get("aliases", "").split("|") if a]
    return lexical.catalog_text(doc.title, aliases)


def _lexical_data(pack: Pack, pack_hash: str, words: list[str], token_docs: dict[str, list[Any]],
                  name_tokens: dict[str, str]) -> dict[str, Any]:
    return {"schema": lexical.SCHEMA, "pack_hash": pack_hash, "words": words, "docs": token_docs,
            "catalog": [[p.id, p.name, p.aliases, name_tokens.get(p.id, "")] for p in pack.products]}


def _manifest(pack: Pack, pack_hash: str, embedder: str, count: int, documents: str) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "pack_hash": pack_hash,
        "embedder": embedder,
        "documents": count,
        "documents_collection": documents,
        "shop_json": pack.shop.model_dump_json(),
        "guardrails_json": json.dumps(pack.guardrails or {}, ensure_ascii=False),
        "ingested_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


__all__ = ["Document", "IngestReport", "ingest_pack", "pack_words"]
