"""`huashu eval run` on the demo pack with the offline drafter: per-case scoring, bad input,
baselines that gate, and the three reports. Runs the real pipeline over a real index."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from service.cli import app
from service.config import get_settings
from service.container import Services
from service.errors import EvalInputError
from service.evaluation.session import EvalOptions, EvalSession
from tests.conftest import ROOT

MINI = ROOT / "tests" / "fixtures" / "golden-mini.jsonl"
runner = CliRunner()


def mini_cases() -> list[dict[str, Any]]:
    return [json.loads(line) for line in MINI.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_set(path: Path, cases: list[dict[str, Any]], extra_lines: tuple[str, ...] = ()) -> Path:
    path.write_text("\n".join([json.dumps(c, ensure_ascii=False) for c in cases] + list(extra_lines)) + "\n",
                    encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def mini_report(demo: Services) -> dict[str, Any]:
    return EvalSession(demo, EvalOptions(golden=MINI)).prepare().run()


@pytest.fixture
def cli_env(demo: Services, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The CLI reads its settings from the environment: point it at the demo index."""
    monkeypatch.setenv("HUASHU_DATA_DIR", str(demo.settings.data_dir))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_every_case_scored_in_order(mini_report: dict[str, Any]) -> None:
    cases = mini_cases()
    results = mini_report["cases"]
    assert [r["id"] for r in results] == [c["id"] for c in cases]
    assert mini_report["backends"] == {"offline": len(cases)} and mini_report["errors"] == []
    for case, r in zip(cases, results, strict=True):
        reply = r["reply"]
        assert reply == r["candidates"][0]["text"]  # the top candidate is the reply scored
        # The checks, recomputed here from the case and the reply.
        ok = all(any(s in reply for s in group) for group in case.get("must_include_any", []))
        ok = ok and not any(s in reply for s in case.get("must_not_include", []))
        if "expect_escalation" in case:
            ok = ok and r["escalate"] == case["expect_escalation"]
        assert r["passed"] == ok, (case["id"], reply, r["failed_checks"])
        assert bool(r["failed_checks"]) == (not ok)
        assert r["metrics"]["intent"]["value"] == (1.0 if r["intent"] == case["intent"] else 0.0)
        assert 0 <= r["metrics"]["chrf"]["value"] <= 100
        cited = set(r["citations"]) & set(case.get("sources", []))
        if "sources" in case:
            assert r["metrics"]["citation"]["value"] == (1.0 if cited else 0.0)
        else:
            assert r["metrics"]["citation"]["value"] is None
        assert r["latency_ms"] > 0 and r["cost"] == 0 and r["usage"]["total_tokens"] > 0


def test_aggregates_follow_the_cases(mini_report: dict[str, Any]) -> None:
    a, results = mini_report["aggregates"], mini_report["cases"]
    assert a["cases"] == len(results) and a["passed"] == sum(r["passed"] for r in results)
    assert a["pass_rate"] == round(a["passed"] / a["cases"], 4)
    intent_hits = [r["metrics"]["intent"]["value"] for r in results]
    assert a["intent_accuracy"] == round(sum(intent_hits) / len(intent_hits), 4)
    with_sources = [r["metrics"]["citation"]["value"] for r in results if r["metrics"]["citation"]["value"] is not None]
    assert a["citation_hit_rate"] == round(sum(with_sources) / len(with_sources), 4)
    assert a["blocked_ready"] == 0 and a["cost_total"] == 0
    assert a["best_of_n_pass_rate"] >= a["check_pass_rate"]
    assert 0 < a["latency_p50_ms"] <= a["latency_p95_ms"]
    assert a["tokens_total"] == sum(r["usage"]["total_tokens"] for r in results)
    per = mini_report["per_intent"]
    assert sum(v["cases"] for v in per.values()) == a["cases"]
    assert per["bargain"]["cases"] == 1 and set(per) == {c["intent"] for c in mini_cases()}
    # The drafter quotes the policy's dispatch time: grounded, and the case's check passes.
    dispatch = next(r for r in results if r["id"] == "dispatch-01")
    assert "48小时" in dispatch["reply"] and dispatch["passed"] and dispatch["metrics"]["grounding"]["value"] == 1.0


def test_unknown_shop_and_malformed_line_fail_alone(demo: Services, tmp_path: Path) -> None:
    cases = mini_cases()[:3]
    stranger = {**cases[0], "id": "elsewhere-01", "shop": "no-such-shop"}
    path = write_set(tmp_path / "set.jsonl", [cases[0], stranger, cases[1]], extra_lines=("{broken", json.dumps(cases[2])))
    report = EvalSession(demo, EvalOptions(golden=path)).prepare().run()
    assert [c["id"] for c in report["cases"]] == [cases[0]["id"], "elsewhere-01", cases[1]["id"], cases[2]["id"]]
    failed = report["cases"][1]
    assert not failed["passed"] and "unknown shop 'no-such-shop'" in failed["error"]
    assert failed["failed_checks"] == [f"error: {failed['error']}"]
    assert report["errors"] == ["set.jsonl:4: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"]
    assert report["aggregates"]["errors"] == 1 and report["aggregates"]["cases"] == 4
    assert all(c["error"] is None for i, c in enumerate(report["cases"]) if i != 1)
    assert report["verdict"] == {"status": "fail", "reasons": ["1 invalid case(s) in the golden set"]}


def test_jobs_two_gives_the_same_results(demo: Services, mini_report: dict[str, Any]) -> None:
    parallel = EvalSession(demo, EvalOptions(golden=MINI, jobs=2)).prepare().run()
    assert [(c["id"], c["passed"], c["intent"]) for c in parallel["cases"]] == \
        [(c["id"], c["passed"], c["intent"]) for c in mini_report["cases"]]
    assert parallel["jobs"] == 2


def test_nothing_to_run_is_an_input_error(demo: Services, tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("{broken\n", encoding="utf-8")
    with pytest.raises(EvalInputError, match="no valid golden case to run: empty.jsonl:1"):
        EvalSession(demo, EvalOptions(golden=path)).prepare()


def test_cli_baseline_gates_and_names_the_regression(cli_env: None, tmp_path: Path) -> None:
    base = tmp_path / "base.json"
    first = runner.invoke(app, ["eval", "run", str(MINI), "--save-baseline", str(base), "--json"])
    assert first.exit_code == 0, first.output
    saved = json.loads(base.read_text(encoding="utf-8"))
    run = json.loads(first.stdout)
    assert saved["aggregates"] == run["aggregates"]
    assert {cid: c["passed"] for cid, c in saved["cases"].items()} == {c["id"]: c["passed"] for c in run["cases"]}

    same = runner.invoke(app, ["eval", "run", str(MINI), "--baseline", str(base)])
    assert same.exit_code == 0, same.output
    assert "verdict: pass" in same.stdout and "flipped pass → fail: none" in same.stdout

    # A worse set-up: one passing case now demands what the reply does not say.
    cases = mini_cases()
    target = next(c for c in run["cases"] if c["passed"] and c["id"] != "dispatch-01")["id"]
    worse = [{**c, "must_include_any": [["一句不可能出现的话"]]} if c["id"] == target else c for c in cases]
    worse_set = write_set(tmp_path / "worse.jsonl", worse)
    result = runner.invoke(app, ["eval", "run", str(worse_set), "--baseline", str(base)])
    assert result.exit_code == 1, result.output
    before = run["aggregates"]["check_pass_rate"]
    assert re.search(rf"regressed check_pass_rate: {before:.4g} → [0-9.]+ \(tolerance drop ≤ 0\)", result.stdout)
    assert f"flipped pass → fail: {target}" in result.stdout and "verdict: fail" in result.stdout

    # --totals keeps a held-out set unseen: the verdict and counts, no case id or reply.
    hidden = runner.invoke(app, ["eval", "run", str(worse_set), "--baseline", str(base), "--totals"])
    assert hidden.exit_code == 1 and "verdict: fail" in hidden.stdout
    assert "flipped pass → fail: 1 cases" in hidden.stdout
    assert target not in hidden.stdout and "reply:" not in hidden.stdout
    assert not any(line.startswith("fail ") for line in hidden.stdout.splitlines())

    # A doctored baseline on top: a passing case marked as failing before, and intent
    # accuracy higher than this run reaches.
    doctored = json.loads(base.read_text(encoding="utf-8"))
    doctored["cases"]["dispatch-01"]["passed"] = False
    doctored["aggregates"]["intent_accuracy"] = 1.0
    fake = tmp_path / "doctored.json"
    fake.write_text(json.dumps(doctored), encoding="utf-8")
    result = runner.invoke(app, ["eval", "run", str(worse_set), "--baseline", str(fake), "--json"])
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    comparison = body["comparison"]
    regressed = [d["metric"] for d in comparison["regressions"]]
    assert "check_pass_rate" in regressed
    if run["aggregates"]["intent_accuracy"] < 1.0:
        assert "intent_accuracy" in regressed
    assert comparison["flipped_to_fail"] == [target] and comparison["flipped_to_pass"] == ["dispatch-01"]
    changes = {c["id"]: c["change"] for c in body["cases"]}
    assert changes[target] == "pass → fail" and changes["dispatch-01"] == "fail → pass"
    assert body["verdict"]["status"] == "fail"


def test_cli_reports_parse(cli_env: None, tmp_path: Path) -> None:
    cases = mini_cases()
    # Buyer text with markup must come out escaped in the page.
    cases.append({"id": "markup-01", "shop": "demo-shop", "intent": "greeting",
                  "history": [{"role": "buyer", "text": "<script>alert('x')</script><img src=x>在吗"}],
                  "reference": "亲，您好<b>", "must_include_any": [["您好"]]})
    golden = write_set(tmp_path / "g.jsonl", cases)
    base = tmp_path / "base.json"
    assert runner.invoke(app, ["eval", "run", str(golden), "--save-baseline", str(base)]).exit_code == 0
    out = tmp_path / "reports" / "now"
    result = runner.invoke(app, ["eval", "run", str(golden), "--baseline", str(base), "--report", str(out)])
    assert result.exit_code == 0, result.output
    assert f"report (html): {out / 'report.html'}" in result.stdout

    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert {"set", "aggregates", "per_intent", "verdict", "comparison", "cases", "errors", "backends",
            "wall_seconds"} <= set(report)
    assert report["set"] == "g.jsonl" and len(report["cases"]) == len(cases)

    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    testcases = suite.findall("testcase")
    assert [t.get("name") for t in testcases] == [c["id"] for c in cases]
    failures = {t.get("name"): t.find("failure") for t in testcases if t.find("failure") is not None}
    assert int(suite.get("failures", "-1")) == len(failures) == sum(not c["passed"] for c in report["cases"])
    for c in report["cases"]:
        if not c["passed"]:
            assert failures[c["id"]].get("message") == "; ".join(c["failed_checks"])  # type: ignore[union-attr]

    page = (out / "report.html").read_text(encoding="utf-8")
    for c in cases:
        assert f'id="case-{c["id"]}"' in page
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert "<script" not in page and "<img" not in page and "<link" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page and "亲，您好&lt;b&gt;" in page
    assert page.count("<svg") >= 3  # pass rate per intent, latency, baseline vs now


def test_cli_bad_inputs_stop_before_the_run(cli_env: None, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x", encoding="utf-8")
    saved = tmp_path / "never.json"
    result = runner.invoke(app, ["eval", "run", str(MINI), "--report", str(blocker / "reports"),
                                 "--save-baseline", str(saved)])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(f"error: {blocker / 'reports'}: cannot write the report folder there")
    assert not saved.exists()

    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    result = runner.invoke(app, ["eval", "run", str(MINI), "--baseline", str(bad)])
    assert result.exit_code == 2 and "not a readable baseline" in result.stderr and result.stdout == ""

    result = runner.invoke(app, ["eval", "run", str(MINI), "--baseline", str(tmp_path / "none.json")])
    assert result.exit_code == 2 and "no such baseline" in result.stderr

    result = runner.invoke(app, ["eval", "run", str(MINI), "--replay", str(tmp_path / "none.cassette.json")])
    assert result.exit_code == 2 and "no such cassette" in result.stderr

    result = runner.invoke(app, ["eval", "run", str(MINI), "--judge"])
    assert result.exit_code == 2 and "--judge needs an LLM" in result.stderr

    result = runner.invoke(app, ["eval", "run", str(MINI), "--record", str(tmp_path / "c.json")])
    assert result.exit_code == 2 and "--record needs an LLM" in result.stderr

    tol = tmp_path / "tol.yaml"
    tol.write_text("pass_rate: {better: sideways}", encoding="utf-8")
    result = runner.invoke(app, ["eval", "run", str(MINI), "--tolerances", str(tol)])
    assert result.exit_code == 2 and "better: must be higher or lower" in result.stderr

    result = runner.invoke(app, ["eval", "run", str(tmp_path / "missing.jsonl")])
    assert result.exit_code == 2 and "cannot read the golden set" in result.stderr


def test_cli_malformed_line_is_a_warning_and_fails_the_verdict(cli_env: None, tmp_path: Path) -> None:
    path = write_set(tmp_path / "g.jsonl", mini_cases()[:2],
                     extra_lines=('{"id": "x", "shop": "demo-shop", "intent": "bargain", "history": []}',))
    result = runner.invoke(app, ["eval", "run", str(path)])
    assert result.exit_code == 1
    assert "warning: g.jsonl:3: history: must be a non-empty list of turns" in result.stderr
    assert "2 cases" in result.stdout and "1 invalid case(s)" in result.stdout
