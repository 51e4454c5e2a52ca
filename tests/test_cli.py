"""The `huashu` command line, driven through typer's runner with a real data dir."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from service.cli import app
from tests.conftest import DEMO_PACK, ROOT
from tests.packs import PRODUCTS_CSV, write_pack

runner = CliRunner()


def test_help_has_examples() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "huashu ingest knowledge/demo-shop" in result.stdout and "Exit status" in result.stdout
    for command in ("ingest", "search", "serve", "eval"):
        assert command in result.stdout


def test_ingest_search_json(data_dir: Path) -> None:
    result = runner.invoke(app, ["ingest", str(DEMO_PACK), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["shop"] == "demo-shop" and report["added"] == report["documents"] > 100
    again = json.loads(runner.invoke(app, ["ingest", str(DEMO_PACK), "--json"]).stdout)
    assert again["written"] == 0

    result = runner.invoke(app, ["search", "--shop", "demo-shop", "--json", "-k", "2", "纸皮核桃多少钱"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["results"][0]["source_id"] == "product:P027" and len(body["results"]) == 2

    human = runner.invoke(app, ["search", "--shop", "demo-shop", "包邮吗"])
    assert human.exit_code == 0 and "policy:free-shipping" in human.stdout
    shops = runner.invoke(app, ["shops", "--json"])
    assert json.loads(shops.stdout)["shops"] == ["demo-shop"]


def test_errors_are_one_line_with_meaningful_status(data_dir: Path, tmp_path: Path) -> None:
    bad = write_pack(tmp_path / "bad", products=PRODUCTS_CSV.replace(",199,", ",,"))
    result = runner.invoke(app, ["ingest", str(bad)])
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: products.csv:3: price: missing: every product needs a price in CNY"
    assert result.stdout == ""

    result = runner.invoke(app, ["search", "--shop", "nope", "包邮"])
    assert result.exit_code == 3 and result.stderr.startswith("error: unknown shop 'nope'")
    runner.invoke(app, ["ingest", str(write_pack(tmp_path / "good"))])
    result = runner.invoke(app, ["search", "--shop", "kitchen-mini", "-k", "0", "包邮"])
    assert result.exit_code == 2 and "k: must be between" in result.stderr
    result = runner.invoke(app, ["ingest", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "not a directory" in result.stderr


def test_eval_retrieval_reports_modes(data_dir: Path, tmp_path: Path) -> None:
    runner.invoke(app, ["ingest", str(DEMO_PACK)])
    cases = tmp_path / "cases.jsonl"
    cases.write_text(
        '{"id": "a", "shop": "demo-shop", "query": "纸皮核桃多少钱", "relevant": ["product:P027"]}\n'
        'this line is broken\n'
        '{"id": "b", "shop": "demo-shop", "query": "满多少包邮", "relevant": ["policy:free-shipping"]}\n',
        encoding="utf-8")
    result = runner.invoke(app, ["eval", "retrieval", str(cases), "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["cases"] == 2
    assert body["errors"] and body["errors"][0].startswith("cases.jsonl:2:")
    hybrid = body["modes"][0]
    assert hybrid["label"] == "hybrid" and hybrid["recall_at_5"] == 1.0
    assert {m["label"] for m in body["modes"]} >= {"hybrid", "dense-only", "bm25-only"}


def test_module_entry_point_runs() -> None:
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "service", "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "huashu" in result.stdout


def test_eval_guardrails_totals_and_an_unindexed_shop(data_dir: Path) -> None:
    labelled = ROOT / "eval" / "guardrails-heldout.jsonl"
    nothing = runner.invoke(app, ["eval", "guardrails", str(labelled), "--totals"])
    assert nothing.exit_code == 1 and "no case could be checked" in nothing.output
    assert "unknown shop 'demo-shop'" in nothing.output
    assert runner.invoke(app, ["ingest", str(DEMO_PACK)]).exit_code == 0
    totals = runner.invoke(app, ["eval", "guardrails", str(labelled), "--totals"])
    assert totals.exit_code == 0 and "grounding" in totals.stdout
    assert "miss " not in totals.stdout  # held-out cases stay unseen
