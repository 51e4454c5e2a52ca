"""The golden gate `make test` runs: the offline drafter over both golden sets and every
kitchen dev set must not regress past the committed baselines (eval/baselines/), nor miss
the floors.

After a deliberate change of the drafter, refresh a baseline with
`huashu eval run eval/golden-demo.jsonl --save-baseline eval/baselines/golden-demo.offline.json`
and say why in the commit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.cli import app
from service.config import get_settings
from tests.conftest import DEMO_PACK, ROOT

runner = CliRunner()
KITCHEN_PACK = ROOT / "knowledge" / "kitchen-shop"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gate") / "data"


@pytest.fixture
def env(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HUASHU_DATA_DIR", str(data_dir))
    get_settings.cache_clear()
    if not (data_dir / "chroma").exists():
        for pack in (DEMO_PACK, KITCHEN_PACK):
            assert runner.invoke(app, ["ingest", str(pack)]).exit_code == 0
    yield data_dir  # type: ignore[misc]
    get_settings.cache_clear()


# The dev-kitchen sets were written blind like the golden ones, then used to improve the
# drafter (eval/README.md): their gate keeps what was won there. Every set in eval/ with a
# baseline is gated; a new set needs its baseline saved (see above) to join.
SETS = sorted(p.stem for p in (ROOT / "eval").glob("*.jsonl")
              if p.stem.startswith(("golden-", "dev-")) and (ROOT / "eval" / "baselines" / f"{p.stem}.offline.json").exists())


def test_every_dialogue_set_is_gated() -> None:
    dialogue_sets = {p.stem for p in (ROOT / "eval").glob("*.jsonl") if p.stem.startswith(("golden-", "dev-"))}
    assert len(SETS) >= 20 and set(SETS) == dialogue_sets


@pytest.mark.parametrize(("name", "floor"), [(name, 0.90 if name == "golden-demo" else 0.85) for name in SETS])
def test_offline_drafter_holds_its_baseline(env: Path, name: str, floor: float) -> None:
    result = runner.invoke(app, [
        "eval", "run", str(ROOT / "eval" / f"{name}.jsonl"),
        "--baseline", str(ROOT / "eval" / "baselines" / f"{name}.offline.json"),
        "--tolerances", str(ROOT / "eval" / "tolerances-ci.yaml"), "--json"])
    assert result.exit_code == 0, result.output[-3000:]
    report = json.loads(result.stdout)
    aggregates = report["aggregates"]
    assert aggregates["blocked_ready"] == 0 and aggregates["errors"] == 0
    assert aggregates["check_pass_rate"] >= floor and aggregates["intent_accuracy"] >= floor
    assert report["verdict"]["status"] == "pass"
    # Issue 4: the offline drafter's replies to the golden sets raise no violation at all.
    flagged = [(c["id"], cand["text"], cand["violations"]) for c in report["cases"] for cand in c["candidates"]
               if cand["violations"]]
    assert flagged == []
