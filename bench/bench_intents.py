"""Intent classifier cost on one core: loading (lexicon and n-gram model training) and
microseconds a message, over the golden dialogues' buyer turns. Prints a table.

    .venv/bin/python bench/bench_intents.py

Target (issue 6): well under 1 ms a message (a whole suggestion takes about 10 ms). The p99
column is at the mercy of other work on the machine; the medians are the figure to read.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.understanding.intents import BUILTIN_DIR, IntentClassifier  # noqa: E402


def conversations() -> list[list[str]]:
    found = []
    for path in sorted((ROOT / "eval").glob("golden-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                turns = json.loads(line)["history"]
                found.append([t["text"] for t in turns if t["role"] == "buyer"])
    return found


def timed(calls: list[Callable[[], object]]) -> tuple[float, float]:
    timings = []
    for call in calls:
        began = time.perf_counter()
        call()
        timings.append((time.perf_counter() - began) * 1e6)
    return statistics.median(timings), statistics.quantiles(timings, n=100)[98]


def main() -> None:
    began = time.perf_counter()
    IntentClassifier.from_file(BUILTIN_DIR / "intents.yaml", with_model=False)
    lexicon_s = time.perf_counter() - began
    began = time.perf_counter()
    classifier = IntentClassifier.from_file(BUILTIN_DIR / "intents.yaml")
    full_s = time.perf_counter() - began
    model = classifier.model
    assert model is not None, "the lexicon names no model"
    chats = conversations()
    last = [c[-1] for c in chats]
    for c in chats:  # so that "seen before" finds every turn remembered
        classifier.classify(c[-1], context=c[:-1])
    seen = timed([lambda c=c: classifier.classify(c[-1], context=c[:-1]) for c in chats])
    rows = [
        ("lexicon only", timed([lambda t=t: classifier.lexicon_scores(t) for t in last])),
        ("n-gram model only", timed([lambda t=t: model.probabilities(t) for t in last])),
        ("message, first time", timed([lambda t=t: classifier._score_uncached(t) for t in last])),
        ("message + earlier turns, first time",
         timed([lambda c=c: (classifier._remembered.cache_clear(), classifier.classify(c[-1], context=c[:-1]))
                for c in chats])),
        ("message + earlier turns, seen before", seen),
    ]
    table = Table(title=f"bench_intents: {len(chats)} dialogues, one core")
    for column in ("what", "median µs", "p99 µs"):
        table.add_column(column, justify="left" if column == "what" else "right")
    for label, (median, p99) in rows:
        table.add_row(label, f"{median:.0f}", f"{p99:.0f}")
    table.caption = (f"load: lexicon {lexicon_s * 1000:.0f} ms; lexicon + model training {full_s * 1000:.0f} ms "
                     f"({len(model.vocabulary)} n-grams, {len(model.labels)} intents)")
    Console().print(table)


if __name__ == "__main__":
    main()
