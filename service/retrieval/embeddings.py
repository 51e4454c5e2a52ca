"""Embedding providers behind one small interface.

A provider implements `embed_batch`; batching and shape checks live in the base class.
`HashingEmbedder` is the offline default: character 1-3-grams hashed into a fixed-size
vector. It needs no download, is deterministic across processes, and suits Chinese, where
words are not separated by spaces and a typo leaves most n-grams intact.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import numpy as np
import openai
from sklearn.feature_extraction.text import HashingVectorizer

from service.config import Settings
from service.errors import EmbeddingError


class Embedder(ABC):
    name: str
    batch_size: int = 256
    local: bool = False  # computed in-process (no network): safe to run in a worker process

    @abstractmethod
    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Embed at most `batch_size` texts; returns a float32 array (len(texts), dim)."""

    def embed(self, text: str) -> np.ndarray:
        return self.embed_many([text])[0]

    def embed_many(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        parts = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            vectors = np.asarray(self.embed_batch(batch), dtype=np.float32)
            if vectors.ndim != 2 or vectors.shape[0] != len(batch):
                raise EmbeddingError(
                    f"{self.name}: expected {len(batch)} vectors, got shape {vectors.shape}"
                )
            parts.append(vectors)
            if progress:
                progress(len(batch))
        if not parts:
            return np.zeros((0, 0), dtype=np.float32)
        dims = {p.shape[1] for p in parts}
        if len(dims) != 1:
            raise EmbeddingError(f"{self.name}: vectors of differing sizes {sorted(dims)}")
        return np.vstack(parts)


class HashingEmbedder(Embedder):
    """Offline default: hashed character 1-2-grams in 1,024 dimensions, L2-normalised.

    Chosen on eval/retrieval-demo.jsonl and checked on eval/retrieval-heldout.jsonl:
    fewer dimensions collide too often, longer n-grams add cost and no accuracy."""

    batch_size = 4096
    local = True

    def __init__(self, dim: int = 1024, ngrams: tuple[int, int] = (1, 2)) -> None:
        self.name = f"hashing-char{ngrams[0]}{ngrams[1]}-{dim}-v1"
        self._vectorizer = HashingVectorizer(
            analyzer="char", ngram_range=ngrams, n_features=dim, norm="l2",
            alternate_sign=True, lowercase=True, dtype=np.float32,
        )

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        return self._vectorizer.transform(texts).toarray()


class OpenAIEmbedder(Embedder):
    """Any OpenAI-compatible /v1/embeddings endpoint."""

    batch_size = 128

    def __init__(self, base_url: str, model: str, api_key: str | None,
                 timeout: float = 30.0, connect_timeout: float = 5.0, retries: int = 2) -> None:
        import httpx

        self.name = f"openai:{model}"
        self.model = model
        self._client = openai.OpenAI(
            base_url=base_url, api_key=api_key or "not-needed", max_retries=retries,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
        )

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        try:
            # Plain floats: not every OpenAI-compatible server speaks base64.
            response = self._client.embeddings.create(
                model=self.model, input=list(texts), encoding_format="float"
            )
        except openai.OpenAIError as exc:
            raise EmbeddingError(f"embeddings endpoint failed: {exc}") from exc
        data = sorted(response.data, key=lambda item: item.index)
        try:
            return np.asarray([item.embedding for item in data], dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise EmbeddingError(f"embeddings endpoint returned malformed vectors: {exc}") from exc


def get_embedder(settings: Settings) -> Embedder:
    """The configured provider: OpenAI-compatible when a URL is set, else the offline default."""
    if settings.embeddings_base_url:
        key = settings.embeddings_api_key
        return OpenAIEmbedder(
            base_url=settings.embeddings_base_url,
            model=settings.embeddings_model or "text-embedding-3-small",
            api_key=key.get_secret_value() if key else None,
            timeout=settings.timeouts.read,
            connect_timeout=settings.timeouts.connect,
            retries=settings.timeouts.retries,
        )
    return HashingEmbedder()
