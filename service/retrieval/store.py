"""The Chroma adapter: one vector collection per shop, so no query can cross shops.

Embedded `PersistentClient` under HUASHU_DATA_DIR by default, `HttpClient` when
HUASHU_CHROMA_URL is set. We always pass our own vectors (no Chroma embedding function,
whose default downloads a model). Everything about a shop lives in Chroma, so every huashu
process (the server after a CLI ingest, another host) sees the same state:

- `huashu_<shop>`: one record per document, id and vector only; its collection metadata
  is the shop's manifest (pack hash, embedder, shop.yaml, and which documents collection
  is current).
- `huashu_<shop>__docs_<token>`: the documents' texts and metadata, packed a few hundred
  to a record (zlib-compressed JSON in one metadata value). A new generation is written
  whenever the pack changes, and the manifest switches to it in one `modify`.

Why packed: per record, Chroma's embedded write path puts a document into SQLite's
trigram full-text index and each metadata key into an indexed table: ~0.5-0.9 ms a
document (bench/bench_chroma_writes.py), as much as the vector itself, against ~0.3 s for
the packed documents of a whole 20,000-product pack. Search never needed Chroma's copy of
the texts per record: queries ask for ids and distances only (see `query`), and a shop's
documents are held in memory.

Metadata filters (`where`) are slow in embedded Chroma (15-50 ms on 20k documents, against
~3 ms unfiltered), so queries fetch unfiltered candidates and callers filter them.
"""

from __future__ import annotations

import base64
import json
import uuid
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import chromadb
import numpy as np
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import ChromaError, NotFoundError

from service.config import Settings
from service.errors import IndexChanged, IndexUnavailable, ShopNotFound

PREFIX = "huashu_"
DOCS = "__docs_"
# Documents per packed record: ~80 KB compressed for product documents, far below any
# request limit of a Chroma server.
DOCS_PER_RECORD = 500
# HNSW build settings (bench/bench_chroma_writes.py, synthetic 20k pack). Chroma's defaults
# (ef_construction 100, ef_search 100) cost ~1.2-1.4 ms of CPU a document to insert at 1,024
# dimensions; 32 / 200 cost ~0.5 ms, and a query returns the same share of its true 50
# nearest documents (0.79-0.82 against 0.77-0.81). One insert thread: an ingest tokenises in
# a second process, and two insert threads beside it made the whole ingest ~3 s slower
# (17 s against 14 s on two cores).
HNSW = {"space": "cosine", "ef_construction": 32, "ef_search": 200, "num_threads": 1}


@dataclass(frozen=True)
class Hit:
    id: str
    text: str
    metadata: dict[str, Any]
    distance: float


@contextmanager
def _translate(action: str) -> Iterator[None]:
    try:
        yield
    except (ShopNotFound, IndexUnavailable):
        raise
    except NotFoundError as exc:
        raise ShopNotFound(str(exc)) from exc
    except (ChromaError, OSError, ValueError, RuntimeError) as exc:
        raise IndexUnavailable(f"Chroma failed to {action}: {exc}") from exc
    except Exception as exc:  # httpx and the Rust bindings raise their own types
        if type(exc).__module__.split(".")[0] in {"httpx", "chromadb", "httpcore"}:
            raise IndexUnavailable(f"Chroma failed to {action}: {exc}") from exc
        raise


def make_client(settings: Settings) -> Any:
    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    with _translate("connect"):
        if settings.chroma_url:
            url = urlparse(settings.chroma_url)
            if not url.hostname:
                raise IndexUnavailable(f"HUASHU_CHROMA_URL {settings.chroma_url!r} has no host")
            return chromadb.HttpClient(
                host=url.hostname, port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https", settings=chroma_settings,
            )
        settings.chroma_path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(settings.chroma_path), settings=chroma_settings)


class ChromaIndex:
    def __init__(self, settings: Settings, client: Any | None = None) -> None:
        self.settings = settings
        self._client = client
        self.location = settings.chroma_url or str(settings.chroma_path)

    @property
    def client(self) -> Any:
        """Connected on first use, and again after a failure: a server that is down at
        start-up makes requests fail with IndexUnavailable, not the process."""
        if self._client is None:
            self._client = make_client(self.settings)
        return self._client

    @staticmethod
    def collection_name(shop: str) -> str:
        return PREFIX + shop

    def heartbeat(self) -> bool:
        with _translate("answer a heartbeat"):
            self.client.heartbeat()
        return True

    def shops(self) -> list[str]:
        with _translate("list collections"):
            names = self._names()
        return sorted(n[len(PREFIX):] for n in names if n.startswith(PREFIX) and "__" not in n)

    def collection(self, shop: str) -> Any:
        try:
            with _translate("open a collection"):
                return self.client.get_collection(self.collection_name(shop), embedding_function=None)
        except ShopNotFound:
            raise ShopNotFound(
                f"unknown shop {shop!r}: no knowledge pack is indexed under that id "
                "(run `huashu ingest PACK_DIR`)"
            ) from None

    def manifest(self, shop: str) -> dict[str, Any]:
        meta = dict(self.collection(shop).metadata or {})
        meta["shop"] = json.loads(meta.get("shop_json", "{}"))
        return meta

    def create(self, shop: str, suffix: str = "") -> Any:
        """A new, empty vector collection (one left by an interrupted build is dropped)."""
        name = self.collection_name(shop) + suffix
        with _translate("create a collection"):
            if suffix and name in self._names():
                self.client.delete_collection(name)
            return self.client.get_or_create_collection(
                name, configuration={"hnsw": dict(HNSW)}, embedding_function=None,
            )

    def drop(self, name: str) -> None:
        with _translate("delete a collection"):
            self.client.delete_collection(name)

    def rename(self, collection: Any, name: str) -> None:
        with _translate("rename a collection"):
            collection.modify(name=name)

    def _names(self) -> list[str]:
        return [c.name if hasattr(c, "name") else str(c) for c in self.client.list_collections()]

    def upsert(self, collection: Any, ids: Sequence[str], vectors: np.ndarray) -> None:
        """Vectors only: texts and metadata go to the documents collection."""
        batch = min(1000, self.client.get_max_batch_size())
        with _translate("write vectors"):
            for start in range(0, len(ids), batch):
                collection.upsert(ids=list(ids[start:start + batch]),
                                  embeddings=vectors[start:start + batch])

    def delete(self, collection: Any, ids: Sequence[str]) -> None:
        if ids:
            with _translate("delete documents"):
                collection.delete(ids=list(ids))

    # --- documents ----------------------------------------------------------------------

    def write_documents(self, shop: str, documents: Sequence[Hit]) -> str:
        """Write a new documents generation; returns its name for the manifest. Until the
        manifest names it, no reader sees it."""
        name = f"{self.collection_name(shop)}{DOCS}{uuid.uuid4().hex[:12]}"
        rows = [[d.id, d.text, d.metadata] for d in documents]
        chunks = [rows[i:i + DOCS_PER_RECORD] for i in range(0, len(rows), DOCS_PER_RECORD)]
        packed = [base64.b64encode(zlib.compress(
            json.dumps(chunk, ensure_ascii=False, separators=(",", ":")).encode(), 1)).decode()
            for chunk in chunks]
        with _translate("write documents"):
            col = self.client.create_collection(name, embedding_function=None)
            batch = min(64, self.client.get_max_batch_size())
            for start in range(0, len(packed), batch):
                part = packed[start:start + batch]
                col.add(ids=[f"rows:{start + i:06d}" for i in range(len(part))],
                        embeddings=np.ones((len(part), 1), dtype=np.float32),
                        metadatas=[{"rows": p} for p in part])
        return name

    def documents(self, collection: Any) -> dict[str, Hit]:
        """The documents of a shop's vector collection, as its manifest names them.

        Raises IndexChanged when that generation is gone (an ingest replaced it since the
        manifest was read): read the collection again and retry."""
        name = (collection.metadata or {}).get("documents_collection")
        if not name:
            return {h.id: h for h in self.get(collection)}  # schema 1: texts on the records
        try:
            with _translate("read documents"):
                got = self.client.get_collection(name, embedding_function=None).get(include=["metadatas"])
        except ShopNotFound:
            raise IndexChanged(f"documents collection {name!r} was replaced") from None
        out: dict[str, Hit] = {}
        for _, meta in sorted(zip(got["ids"], got["metadatas"])):
            for doc_id, text, metadata in json.loads(zlib.decompress(base64.b64decode(meta["rows"]))):
                out[doc_id] = Hit(id=doc_id, text=text, metadata=metadata, distance=0.0)
        return out

    def drop_documents(self, shop: str, keep: str | None = None) -> None:
        """Drop the shop's documents generations other than `keep` (replaced, or left by
        an interrupted ingest)."""
        prefix = self.collection_name(shop) + DOCS
        with _translate("list collections"):
            stale = [n for n in self._names() if n.startswith(prefix) and n != keep]
        for name in stale:
            try:
                self.drop(name)
            except ShopNotFound:
                pass  # another ingest dropped it first

    def hashes(self, collection: Any) -> dict[str, str]:
        return {i: str(h.metadata.get("hash", "")) for i, h in self.documents(collection).items()}

    def set_manifest(self, collection: Any, manifest: dict[str, Any]) -> None:
        with _translate("write the shop manifest"):
            collection.modify(metadata=manifest)

    def query(self, shop: str, vector: np.ndarray, n: int, collection: Any | None = None) -> list[Hit]:
        """The `n` nearest documents, ids and distances only (see below); `n` must not exceed
        the collection's size (callers know it; asking Chroma costs a round trip per query)."""
        col = collection if collection is not None else self.collection(shop)
        if n <= 0:
            return []
        with _translate("query"):
            # Ids and distances only: callers over-fetch candidates, filter them by what they
            # hold in memory and take texts from the shop's documents.
            got = col.query(query_embeddings=[vector], n_results=n, include=["distances"])
        return [Hit(id=i, text="", metadata={}, distance=float(d))
                for i, d in zip(got["ids"][0], got["distances"][0])]

    def get(self, collection: Any, ids: Sequence[str] | None = None) -> list[Hit]:
        """Texts and metadata stored on the vector records themselves (schema 1 indexes)."""
        with _translate("read documents"):
            got = collection.get(ids=list(ids) if ids is not None else None,
                                 include=["documents", "metadatas"])
        return [Hit(id=i, text=t or "", metadata=m or {}, distance=0.0)
                for i, t, m in zip(got["ids"], got["documents"], got["metadatas"])]
