"""Golden-set evaluation speed, offline drafter, on the demo shop: the whole run with
jobs=1 and jobs=2 (and more with --jobs). Prints a table; asserts nothing.

    .venv/bin/python bench/bench_eval.py [GOLDEN.jsonl] [--jobs 1 2 4] [--repeat 3]
    .venv/bin/python bench/bench_eval.py --llm-delay 50 --jobs 1 2 4   # an LLM that takes 50 ms

With --llm-delay the drafter talks to the local fake OpenAI-compatible server (tests/fakes),
which waits that long before each answer: what parallel jobs buy while a model is awaited.

Default set: eval/golden-demo.jsonl if it exists, else tests/fixtures/golden-mini.jsonl. A set
smaller than --min-cases is repeated (ids suffixed) so the timing is not all start-up.
Target (issue 6): an offline run over ~160 cases in <= 30 s on the 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.config import Settings, Timeouts  # noqa: E402
from service.container import Services  # noqa: E402
from service.evaluation.session import EvalOptions, EvalSession  # noqa: E402
from service.knowledge.ingest import ingest_pack  # noqa: E402
from tests.fakes.openai_server import Delay, FakeOpenAI, completion  # noqa: E402

REPLY = json.dumps({"candidates": [{"text": "亲，您的消息小杞收到了，这就帮您确认一下～", "sources": []}]},
                   ensure_ascii=False)


def default_set() -> Path:
    demo = ROOT / "eval" / "golden-demo.jsonl"
    return demo if demo.exists() else ROOT / "tests" / "fixtures" / "golden-mini.jsonl"


def widened(path: Path, min_cases: int, folder: Path) -> tuple[Path, int]:
    """The set itself, or the set repeated until it has min_cases cases (ids made unique)."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(lines) >= min_cases:
        return path, len(lines)
    out, copy = [], 0
    while len(out) < min_cases:
        for line in lines:
            try:
                case = json.loads(line)
                case["id"] = f"{case['id']}#{copy}"
                out.append(json.dumps(case, ensure_ascii=False))
            except (ValueError, KeyError, TypeError):
                out.append(line)  # invalid lines stay invalid
        copy += 1
    target = folder / f"{path.stem}-x{copy}.jsonl"
    target.write_text("\n".join(out) + "\n", encoding="utf-8")
    return target, len(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("golden", nargs="?", type=Path, default=None)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=3, help="Runs per setting; the best is shown.")
    parser.add_argument("--min-cases", type=int, default=160)
    parser.add_argument("--llm-delay", type=float, default=None, metavar="MS",
                        help="Draft with the local fake LLM server answering after MS milliseconds.")
    args = parser.parse_args()
    golden = args.golden or default_set()

    data = Path(tempfile.mkdtemp(prefix="huashu-bench-eval-"))
    fake = None
    llm: dict[str, object] = {"llm_base_url": None}
    if args.llm_delay is not None:
        fake = FakeOpenAI().start()
        fake.respond("/chat/completions", lambda body: Delay(args.llm_delay / 1000, completion(REPLY)))
        llm = {"llm_base_url": fake.base_url, "llm_model": "fake-chat", "timeouts": Timeouts(retries=0)}
    svc = Services(Settings(data_dir=data / "data", chroma_url=None, embeddings_base_url=None,
                            **llm))  # type: ignore[arg-type]
    shops = {json.loads(line).get("shop") for line in golden.read_text(encoding="utf-8").splitlines()
             if line.strip().startswith("{")}
    for shop in sorted(s for s in shops if isinstance(s, str)):
        pack = ROOT / "knowledge" / shop
        if pack.is_dir():
            ingest_pack(pack, svc.index, svc.embedder, svc.lexical_store)
    path, n = widened(golden, args.min_cases, data)

    backend = "offline" if fake is None else f"fake LLM answering in {args.llm_delay:g} ms"
    title = f"huashu eval run, {backend}: {golden.name}" + (f" repeated to {n} cases" if path != golden else "")
    table = Table(title=title)
    for column in ("jobs", "cases", "wall s", "cases/s", "p50 ms", "p95 ms", "pass rate"):
        table.add_column(column, justify="right")
    first_warm = None
    for jobs in args.jobs:
        best = None
        for _ in range(args.repeat):
            began = time.perf_counter()
            report = EvalSession(svc, EvalOptions(golden=path, jobs=jobs)).prepare().run()
            total = time.perf_counter() - began  # prepare + warm-up + cases
            if first_warm is None:
                first_warm = total - report["wall_seconds"]
            if best is None or report["wall_seconds"] < best[0]["wall_seconds"]:
                best = (report, total)
        assert best is not None
        report, total = best
        a = report["aggregates"]
        table.add_row(str(jobs), str(a["cases"]), f"{report['wall_seconds']:.2f}", f"{report['cases_per_second']:.1f}",
                      f"{a['latency_p50_ms']:.1f}", f"{a['latency_p95_ms']:.1f}", f"{a['pass_rate']:.3f}")
    table.caption = (f"wall: the cases only (best of {args.repeat}); start-up of the first run (loading the "
                     f"shop; not in wall) {first_warm:.2f} s")
    Console().print(table)
    if fake is not None:
        fake.stop()
    shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
