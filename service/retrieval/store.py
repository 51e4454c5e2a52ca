"""The Chroma adapter: one collection per shop, so no query can cross shops.

Embedded `PersistentClient` under HUASHU_DATA_DIR by default, `HttpClient` when
HUASHU_CHROMA_URL is set. We always pass our own vectors (no Chroma embedding function,
whose default downloads a model). A shop's manifest — pack hash, embedder, shop.yaml —
lives in its collection's metadata, so every huashu process sees the same state.

Metadata filters (`where`) are slow in embedded Chroma (15-50 ms on 20k documents, against
~3 ms unfiltered), so queries fetch unfiltered candidates and callers filter them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import chromadb
import numpy as np
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import ChromaError, NotFoundError

from service.config import Settings
from service.errors import IndexUnavailable, ShopNotFound

PREFIX = "huashu_"


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
            names = [c.name if hasattr(c, "name") else str(c) for c in self.client.list_collections()]
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
        with _translate("create a collection"):
            return self.client.get_or_create_collection(
                self.collection_name(shop) + suffix,
                configuration={"hnsw": {"space": "cosine"}},
                embedding_function=None,
            )

    def drop(self, name: str) -> None:
        with _translate("delete a collection"):
            self.client.delete_collection(name)

    def hashes(self, collection: Any) -> dict[str, str]:
        with _translate("read document hashes"):
            got = collection.get(include=["metadatas"])
        return {i: (m or {}).get("hash", "") for i, m in zip(got["ids"], got["metadatas"])}

    def upsert(self, collection: Any, ids: Sequence[str], vectors: np.ndarray,
               texts: Sequence[str], metadatas: Sequence[dict[str, Any]],
               progress: Callable[[int], None] | None = None) -> None:
        batch = min(1000, self.client.get_max_batch_size())
        with _translate("write documents"):
            for start in range(0, len(ids), batch):
                end = start + batch
                collection.upsert(ids=list(ids[start:end]), embeddings=vectors[start:end],
                                  documents=list(texts[start:end]), metadatas=list(metadatas[start:end]))
                if progress:
                    progress(len(ids[start:end]))

    def delete(self, collection: Any, ids: Sequence[str]) -> None:
        if ids:
            with _translate("delete documents"):
                collection.delete(ids=list(ids))

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
            # hold in memory and `get` the final few. Reading metadata for all of them was the
            # slowest step of a search (9 ms against 2 ms for 121 documents).
            got = col.query(query_embeddings=[vector], n_results=n, include=["distances"])
        return [Hit(id=i, text="", metadata={}, distance=float(d))
                for i, d in zip(got["ids"][0], got["distances"][0])]

    def get(self, collection: Any, ids: Sequence[str] | None = None) -> list[Hit]:
        with _translate("read documents"):
            got = collection.get(ids=list(ids) if ids is not None else None,
                                 include=["documents", "metadatas"])
        return [Hit(id=i, text=t or "", metadata=m or {}, distance=0.0)
                for i, t, m in zip(got["ids"], got["documents"], got["metadatas"])]
