"""Evaluation runs started over HTTP (POST /v1/evals), each in the background.

Inputs are checked when the run is submitted, so a bad request is answered 4xx at once;
runs then go one at a time through a single worker thread (a second run waits `queued`
rather than halving the first one's CPU). Golden sets and baselines are named relative to
the configured eval folder (HUASHU_EVAL_DIR) and never leave it. Reports go to
HUASHU_DATA_DIR/evals/{id}/; a finished run is answered from its report.json there after
it has left memory (the last MAX_KEPT runs stay in memory).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from service.container import Services
from service.errors import EvalInputError, EvalNotFound, Forbidden, HuashuError
from service.evaluation.session import EvalOptions, EvalSession

log = logging.getLogger("huashu.eval")
MAX_KEPT = 50
RUN_ID = re.compile(r"[0-9a-f]{32}")

Status = Literal["queued", "running", "done", "failed"]


@dataclass
class EvalJob:
    id: str
    set: str
    total: int
    status: Status = "queued"
    done: int = 0
    created_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    started_at: str | None = None
    finished_at: str | None = None
    error: str | None = None
    report: dict[str, Any] | None = None
    shops: frozenset[str] = frozenset()  # whose data the run reads: who may see it

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "status": self.status, "set": self.set,
                               "progress": {"done": self.done, "total": self.total},
                               "created_at": self.created_at, "started_at": self.started_at,
                               "finished_at": self.finished_at, "error": self.error}
        if self.report is not None:
            r = self.report
            out.update(aggregates=r["aggregates"], per_intent=r["per_intent"], verdict=r["verdict"],
                       comparison=r["comparison"], errors=r["errors"], cases=r["cases"],
                       reports=r.get("reports"), wall_seconds=r["wall_seconds"], backends=r["backends"])
        return out


def resolve_in(folder: Path, name: str, suffix: str, what: str) -> Path:
    """`name` as a file inside `folder` (the suffix may be left off); never a path outside it."""
    if not name or "\x00" in name or Path(name).is_absolute() or ".." in Path(name).parts:
        raise EvalInputError(f"{what}: {name!r} must be a file name inside the eval folder")
    root = folder.resolve()
    for candidate in (name, name + suffix):
        path = (root / candidate).resolve()
        if path.is_relative_to(root) and path.is_file():
            return path
    raise EvalNotFound(f"{what}: no {name!r} in the eval folder")


class EvalJobs:
    def __init__(self, services: Services) -> None:
        self.services = services
        self._jobs: OrderedDict[str, EvalJob] = OrderedDict()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="huashu-evals")

    @property
    def root(self) -> Path:
        return self.services.settings.data_dir / "evals"

    def submit(self, set_name: str | None = None, cases: list[dict[str, Any]] | None = None,
               baseline: str | None = None, judge: bool = False,
               visible: frozenset[str] | None = None) -> EvalJob:
        """Check the inputs and queue the run; raises EvalInputError/EvalNotFound (4xx), and
        Forbidden when a case names a shop outside `visible` (None: every shop)."""
        if (set_name is None) == (cases is None):
            raise EvalInputError("give either set (a golden file in the eval folder) or cases, not both")
        folder = self.services.settings.eval_dir
        run_id = uuid.uuid4().hex
        options = EvalOptions(
            golden=resolve_in(folder, set_name, ".jsonl", "set") if set_name is not None else None,
            cases=cases, name=set_name or "inline",
            baseline=resolve_in(folder, baseline, ".json", "baseline") if baseline is not None else None,
            report_dir=self.root / run_id, judge=judge)
        tolerances = folder / "tolerances.yaml"
        if tolerances.is_file():
            options.tolerances = tolerances
        session = EvalSession(self.services, options).prepare()
        if cases is not None and session.input_errors:
            raise EvalInputError("; ".join(session.input_errors[:20]))
        shops = frozenset(c.shop for c in session.cases)
        if visible is not None and not shops <= visible:
            raise Forbidden(f"this API key is not scoped to shop(s) {', '.join(sorted(shops - visible))}")
        job = EvalJob(id=run_id, set=options.name or "inline", total=session.total, shops=shops)
        with self._lock:
            self._jobs[run_id] = job
            while len(self._jobs) > MAX_KEPT:
                self._jobs.popitem(last=False)
        self._pool.submit(self._run, job, session)
        return job

    def _run(self, job: EvalJob, session: EvalSession) -> None:
        job.status, job.started_at = "running", time.strftime("%Y-%m-%dT%H:%M:%S%z")

        def advance(_: object) -> None:
            with self._lock:
                job.done += 1

        try:
            job.report = session.run(on_result=advance)
            job.status = "done"
        except HuashuError as exc:
            job.status, job.error = "failed", exc.message
        except Exception as exc:  # the worker must survive a bug in one run
            log.exception("evaluation run %s failed", job.id)
            job.status, job.error = "failed", f"internal error: {type(exc).__name__}"
        job.finished_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")

    def get(self, run_id: str, visible: frozenset[str] | None = None) -> EvalJob:
        """The run; one over a shop outside `visible` is answered like a missing one."""
        with self._lock:
            job = self._jobs.get(run_id)
        if job is None and RUN_ID.fullmatch(run_id):
            path = self.root / run_id / "report.json"
            if path.is_file():
                report = json.loads(path.read_text(encoding="utf-8"))
                job = EvalJob(id=run_id, set=report["set"], total=len(report["cases"]), status="done",
                              done=len(report["cases"]), created_at=report["started_at"],
                              started_at=report["started_at"], report=report,
                              shops=frozenset(c["shop"] for c in report["cases"]))
        if job is None or (visible is not None and not job.shops <= visible):
            raise EvalNotFound(f"no evaluation run {run_id!r}")
        return job

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
