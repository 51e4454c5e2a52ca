"""Learning from agents: approved drafts become the shop's `approved` knowledge.

The store commits an approval first (that is the acknowledged action); indexing follows
on a background thread, in batches gathered for up to BATCH_SECONDS, so an approval is not
kept waiting on Chroma: an embedded upsert costs tens of milliseconds and holds the GIL,
so one per approval slowed every request of a busy server. If the index is unavailable, or the process
dies first, the draft stays `learned = false` and the next `sync` (at server start) or the
next approval indexes it: nothing approved is lost.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterable
from typing import Any

from service.errors import BackendError
from service.retrieval.approved import ApprovedIndex, ApprovedReply
from service.store.drafts import DraftStore

log = logging.getLogger("huashu.learning")
BATCH_SECONDS = 0.5  # how long the worker gathers approvals into one write to the index


def reply_of(draft: dict[str, Any]) -> ApprovedReply:
    return ApprovedReply(draft_id=draft["id"], shop=draft["shop"], question=draft.get("question", ""),
                         text=draft["text"], intent=draft["intent"], product=draft.get("product"),
                         beyond=tuple(draft.get("beyond_authority") or ()), edited=bool(draft["edited"]))


class Learning:
    def __init__(self, store: DraftStore, index: ApprovedIndex) -> None:
        self.store = store
        self.index = index
        self._queue: queue.Queue[str] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._start = threading.Lock()

    def enqueue(self, draft_ids: Iterable[str]) -> None:
        """Index these drafts soon, off the caller's thread."""
        with self._start:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._run, name="huashu-learning", daemon=True)
                self._worker.start()
        for draft_id in draft_ids:
            self._queue.put(draft_id)

    def wait(self, timeout: float | None = None) -> bool:
        """Until everything enqueued so far is indexed (or has failed and stays pending);
        False if `timeout` seconds passed first."""
        if timeout is None:
            self._queue.join()
            return True
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            until = time.monotonic() + BATCH_SECONDS
            while (left := until - time.monotonic()) > 0:
                try:
                    batch.append(self._queue.get(timeout=left))
                except queue.Empty:
                    break
            try:
                self.learn(batch)
            except Exception:  # noqa: BLE001 - the thread must outlive any one failure
                log.exception("indexing approved replies failed (they stay pending)")
            finally:
                for _ in batch:
                    self._queue.task_done()

    def learn(self, draft_ids: Iterable[str]) -> int:
        """Index these approved drafts, and any left pending by an earlier failure."""
        ids = set(draft_ids)
        try:
            rows = self.store.approved(unlearned=True)
            rows = [r for r in rows if r["id"] in ids] + [r for r in rows if r["id"] not in ids]
            if rows:
                self.index.add([reply_of(r) for r in rows if r["question"]])
                self.store.mark_learned(r["id"] for r in rows)
            return len(rows)
        except BackendError as exc:
            log.warning("approved replies not indexed yet (will retry): %s", exc.message)
            return 0

    def sync(self, shop: str | None = None) -> int:
        """Bring the index up to date with the store; rebuild a shop's collection when it
        holds vectors of another embedder."""
        rebuilt = 0
        for s in {r["shop"] for r in self.store.approved(shop)}:
            if self.index.embedder_of(s) not in (None, self.index.embedder.name):
                self.index.clear(s)
                rows = self.store.approved(s)
                self.store.mark_learned((r["id"] for r in rows), learned=False)
                rebuilt += len(rows)
        return self.learn(()) or rebuilt
