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
from collections.abc import Callable
from typing import Any, Protocol

from service.knowledge.documents import Document, build_documents
from service.knowledge.models import Pack
from service.knowledge.pack import load_pack
from service.retrieval import lexical
from service.retrieval.embeddings import Embedder
from service.retrieval.lexical import LexicalStore
from service.retrieval.prepare import prepared_batches
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
    cached_names = {row[0]: row[3] for row in (cached or {}).get("catalog", []) if reuse and len(row) > 3}
    token_docs: dict[str, list[Any]] = {}
    name_tokens: dict[str, str] = {}
    for doc in docs:
        if doc.id not in changed_ids:
            token_docs[doc.id] = (cached_docs.get(doc.id)
                                  or [doc.kind, doc.product, " ".join(lexical.tokenize(doc.text)), doc.intent])
            if doc.kind == "fact":
                name_tokens[doc.product] = (cached_names.get(doc.product)
                                            or " ".join(lexical.tokenize(_catalog_text(doc))))

    texts = [d.text for d in changed]
    batches = prepared_batches(texts, embedder, words,
                               names=[_catalog_text(d) if d.kind == "fact" else "" for d in changed])
    if not embedder.local:
        # A remote endpoint can fail midway: embed everything before the first write.
        progress.stage("embedding", len(changed))
        batches = iter(_with_progress(list(batches), progress))

    if changed or removed or collection is None or old_manifest.get("pack_hash") != pack_hash:
        target = index.create(shop, suffix="__rebuild" if rebuilding else "")
        progress.stage("indexing", len(changed))
        for span, tokens, vectors, names in batches:
            chunk = [changed[i] for i in span]
            for doc, doc_tokens, doc_names in zip(chunk, tokens, names):
                token_docs[doc.id] = [doc.kind, doc.product, " ".join(doc_tokens), doc.intent]
                if doc.kind == "fact":
                    name_tokens[doc.product] = " ".join(doc_names)
            index.upsert(target, [d.id for d in chunk], vectors, [d.text for d in chunk],
                         [d.metadata(shop) for d in chunk])
            progress.advance(len(chunk))
        if not rebuilding:
            index.delete(target, removed)
        store.save(shop, _lexical_data(pack, pack_hash, words, _ordered(docs, token_docs), name_tokens))
        index.set_manifest(target, _manifest(pack, pack_hash, embedder.name, len(docs)))
        if rebuilding:
            index.drop(existing_name)
            target.modify(name=existing_name)
    elif cached is None or cached.get("pack_hash") != pack_hash:
        store.save(shop, _lexical_data(pack, pack_hash, words, _ordered(docs, token_docs), name_tokens))

    added = sum(1 for d in changed if d.id not in current)
    return IngestReport(
        shop=shop, documents=len(docs), added=added, updated=len(changed) - added,
        removed=len(removed), unchanged=len(docs) - len(changed),
        seconds=round(time.perf_counter() - began, 3),
        products=len(pack.products), sections=len(pack.sections),
    )


def _with_progress(batches: list[Any], progress: Progress) -> list[Any]:
    for span, _, _ in batches:
        progress.advance(len(span))
    return batches


def _ordered(docs: list[Document], token_docs: dict[str, list[Any]]) -> dict[str, list[Any]]:
    return {d.id: token_docs[d.id] for d in docs}


def _catalog_text(doc: Document) -> str:
    aliases = [a for a in doc.extra.get("aliases", "").split("|") if a]
    return lexical.catalog_text(doc.title, aliases)


def _lexical_data(pack: Pack, pack_hash: str, words: list[str], token_docs: dict[str, list[Any]],
                  name_tokens: dict[str, str]) -> dict[str, Any]:
    return {"schema": lexical.SCHEMA, "pack_hash": pack_hash, "words": words, "docs": token_docs,
            "catalog": [[p.id, p.name, p.aliases, name_tokens.get(p.id, "")] for p in pack.products]}


def _manifest(pack: Pack, pack_hash: str, embedder: str, count: int) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "pack_hash": pack_hash,
        "embedder": embedder,
        "documents": count,
        "shop_json": pack.shop.model_dump_json(),
        "guardrails_json": json.dumps(pack.guardrails or {}, ensure_ascii=False),
        "ingested_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


__all__ = ["Document", "IngestReport", "ingest_pack", "pack_words"]
