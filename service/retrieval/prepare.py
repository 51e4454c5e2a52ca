"""Tokenise documents for the lexical index, in a worker process when it pays off.

Tokens are needed only at the end of an ingest (for the token cache), while vectors are
written to Chroma as they are embedded. Chroma's embedded writes hold the GIL, so a large
ingest tokenises in a separate process beside them, with one input and one answer, both
files. Two things make this a plain `python -m` subprocess rather than multiprocessing:
a spawned multiprocessing child first imports the parent's main module (for `huashu`, the
whole service: ~4 CPU-seconds, minutes of wall time on a busy machine, before its first
token), and an executor's helper threads that pass tasks and answers along need the GIL,
which the writes hold.

Run as `python -m service.retrieval.prepare IN OUT`: reads (texts, names, words) from the
pickle IN, writes the tokens to the pickle OUT. The module stays light (no Chroma import).
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from service.errors import IndexUnavailable
from service.retrieval import lexical

# Below this many documents tokenising here (~0.25 ms a document) is quicker than
# starting a worker (~1-2 s of imports and jieba's dictionary).
PARALLEL_MIN = 4000

# Per document its tokens, space-separated (the token cache's form); likewise for names.
Tokens = tuple[list[str], list[str]]


class Pending(Protocol):
    def result(self) -> Tokens: ...
    def close(self) -> None: ...


def _tokenize(texts: Sequence[str], names: Sequence[str], words: list[str]) -> Tokens:
    lexical.add_words(words)
    return ([" ".join(lexical.tokenize(t)) for t in texts],
            [" ".join(lexical.tokenize(n)) if n else "" for n in names])


class _Local:
    """Tokenised in this process, when asked for."""

    def __init__(self, texts: Sequence[str], names: Sequence[str], words: list[str]) -> None:
        self._args = (texts, names, words)

    def result(self) -> Tokens:
        return _tokenize(*self._args)

    def close(self) -> None:
        pass


class _Worker:
    def __init__(self, texts: Sequence[str], names: Sequence[str], words: list[str]) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="huashu-tokens-"))
        inp, self._out = self._dir / "in.pickle", self._dir / "out.pickle"
        with inp.open("wb") as fh:
            pickle.dump((list(texts), list(names), words), fh, protocol=pickle.HIGHEST_PROTOCOL)
        # The worker imports this very package, wherever it was imported from here.
        root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "service.retrieval.prepare", str(inp), str(self._out)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
            )
        except OSError:
            shutil.rmtree(self._dir, ignore_errors=True)
            raise

    def result(self) -> Tokens:
        _, err = self._proc.communicate()
        if self._proc.returncode != 0:
            detail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
            raise IndexUnavailable(f"the tokenising worker failed (exit {self._proc.returncode}): {detail[0]}")
        with self._out.open("rb") as fh:
            tokens: Tokens = pickle.load(fh)
        return tokens

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.communicate()
        shutil.rmtree(self._dir, ignore_errors=True)


def tokenize_documents(texts: Sequence[str], names: Sequence[str], words: list[str],
                       parallel_min: int = PARALLEL_MIN) -> Pending:
    """Start tokenising `texts` (and `names`: a product's name and aliases, for resolving
    products at search time; "" where there is none) with the pack's `words` known to jieba.
    `.result()` gives the tokens, in order; `.close()` ends the worker and its files."""
    if len(texts) >= parallel_min and (os.cpu_count() or 1) > 1:
        return _Worker(texts, names, words)
    return _Local(texts, names, words)


def _main(inp: str, out: str) -> None:
    with open(inp, "rb") as fh:
        texts, names, words = pickle.load(fh)
    tokens = _tokenize(texts, names, words)
    tmp = out + ".tmp"
    with open(tmp, "wb") as fh:
        pickle.dump(tokens, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, out)


if __name__ == "__main__":
    _main(*sys.argv[1:3])


__all__ = ["PARALLEL_MIN", "Pending", "Tokens", "tokenize_documents"]
