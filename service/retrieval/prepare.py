"""Tokenise and embed documents for indexing, in a worker process when it pays off.

Chroma's embedded writes hold the GIL (~1 ms a document here), so a large ingest
overlaps them with tokenising and embedding the next batch in a separate process. The
module stays light (no Chroma import) because a spawned worker imports it.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from service.retrieval import lexical
from service.retrieval.embeddings import Embedder

BATCH = 1000
# Below this many documents a worker's start-up (~2 s) costs more than it saves.
PARALLEL_MIN = 4000

_worker_embedder: Embedder | None = None


def _init_worker(words: list[str], embedder: Embedder) -> None:
    global _worker_embedder
    lexical.add_words(words)
    _worker_embedder = embedder


Batch = tuple[range, list[list[str]], np.ndarray, list[list[str]]]


def _prepare(texts: list[str], names: list[str],
             embedder: Embedder | None = None) -> tuple[list[list[str]], np.ndarray, list[list[str]]]:
    embedder = embedder or _worker_embedder
    assert embedder is not None
    return ([lexical.tokenize(t) for t in texts], embedder.embed_many(texts),
            [lexical.tokenize(n) if n else [] for n in names])


def prepared_batches(texts: Sequence[str], embedder: Embedder, words: list[str],
                     names: Sequence[str] | None = None, batch: int = BATCH) -> Iterator[Batch]:
    """Yield (positions, tokens, vectors, name tokens) batch by batch, in order.

    `names` are extra texts to tokenise alongside (a product's name and aliases, for
    resolving products at search time); "" where there is none."""
    names = names if names is not None else [""] * len(texts)
    spans = [range(i, min(i + batch, len(texts))) for i in range(0, len(texts), batch)]
    if embedder.local and len(texts) >= PARALLEL_MIN and (os.cpu_count() or 1) > 1:
        pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_worker, initargs=(words, embedder))
        try:
            futures = [pool.submit(_prepare, [texts[i] for i in span], [names[i] for i in span])
                       for span in spans]
            for span, future in zip(spans, futures):
                yield (span, *future.result())
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return
    for span in spans:
        yield (span, *_prepare([texts[i] for i in span], [names[i] for i in span], embedder))


__all__: list[Any] = ["prepared_batches", "BATCH", "PARALLEL_MIN"]
