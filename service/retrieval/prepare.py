"""Tokenise documents for the lexical index, in a worker process when it pays off.

Tokens are needed only at the end of an ingest (for the token cache), while vectors are
written to Chroma as they are embedded. Chroma's embedded writes hold the GIL, so a large
ingest tokenises in a separate process beside them, with one input and one answer.
Two things make this a plain `python -m` subprocess rather than multiprocessing: a spawned
multiprocessing child first imports the parent's main module (for `huashu`, the whole
service: ~4 CPU-seconds, 16 s of wall time measured on a busy machine, before its first
token), and an executor's helper threads that pass tasks and answers along need the GIL,
which the writes hold.

Run as `python -m service.retrieval.prepare`: reads (texts, names, words) pickled on stdin,
writes the tokens pickled to stdout. The module stays light (no Chroma import).
"""

from __future__ import annotations

import os
import pickle
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
        # Input, answer and errors travel in unnamed temporary files (no path another
        # process could clean up meanwhile; no pipe that blocks while the writes run).
        self._files = [tempfile.TemporaryFile() for _ in range(3)]
        inp, self._out, self._err = self._files
        pickle.dump((list(texts), list(names), words), inp, protocol=pickle.HIGHEST_PROTOCOL)
        inp.seek(0)
        # The worker imports this very package, wherever it was imported from here.
        root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        try:
            self._proc = subprocess.Popen([sys.executable, "-m", "service.retrieval.prepare"], cwd=root,
                                          stdin=inp, stdout=self._out, stderr=self._err, env=env)
        except OSError:
            self._close_files()
            raise

    def result(self) -> Tokens:
        code = self._proc.wait()
        if code != 0:
            self._err.seek(0)
            detail = self._err.read().decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
            raise IndexUnavailable(f"the tokenising worker failed (exit {code}): {detail[0]}")
        self._out.seek(0)
        tokens: Tokens = pickle.load(self._out)
        return tokens

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._close_files()

    def _close_files(self) -> None:
        for fh in self._files:
            fh.close()


def tokenize_documents(texts: Sequence[str], names: Sequence[str], words: list[str],
                       parallel_min: int = PARALLEL_MIN) -> Pending:
    """Start tokenising `texts` (and `names`: a product's name and aliases, for resolving
    products at search time; "" where there is none) with the pack's `words` known to jieba.
    `.result()` gives the tokens, in order; `.close()` ends the worker and its files."""
    if len(texts) >= parallel_min and (os.cpu_count() or 1) > 1:
        return _Worker(texts, names, words)
    return _Local(texts, names, words)


def _main() -> None:
    texts, names, words = pickle.load(sys.stdin.buffer)
    pickle.dump(_tokenize(texts, names, words), sys.stdout.buffer, protocol=pickle.HIGHEST_PROTOCOL)
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    _main()


__all__ = ["PARALLEL_MIN", "Pending", "Tokens", "tokenize_documents"]
