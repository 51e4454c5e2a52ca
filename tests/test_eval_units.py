"""The pieces of golden-set evaluation that need no index: loading and validating cases,
the per-case metrics, the judge's output parser, tolerances, baselines and cassettes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.errors import EvalInputError
from service.evaluation import metrics
from service.evaluation.baseline import Baseline, compare, load_baseline, load_tolerances, verdict
from service.evaluation.cassette import Cassette, request_key
from service.evaluation.golden import load_golden, parse_case
from service.evaluation.judge import parse_judgement
from tests.conftest import ROOT

MINI = ROOT / "tests" / "fixtures" / "golden-mini.jsonl"
GOOD = {"id": "c1", "shop": "demo-shop", "intent": "bargain", "history": [{"role": "buyer", "text": "能便宜点吗"}]}


def test_fixture_set_loads_in_order() -> None:
    cases, errors = load_golden(MINI)
    assert errors == []
    ids = [json.loads(line)["id"] for line in MINI.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert [c.id for c in cases] == ids and len(cases) >= 12
    assert [c.line for c in cases] == list(range(1, len(cases) + 1))
    bargain = next(c for c in cases if c.id == "bargain-01")
    assert bargain.message == "能便宜点吗,买两袋" and bargain.expect_escalation is False
    assert bargain.sources == ["product:P003", "policy:price", "policy:gifts"]


@pytest.mark.parametrize(("line", "needle"), [
    ("{not json", "golden.jsonl:2: "),
    (json.dumps({**GOOD, "id": None}), "golden.jsonl:2: id: missing"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "history"}), "golden.jsonl:2: history: must be a non-empty list"),
    (json.dumps({**GOOD, "history": [{"role": "seller", "text": "在吗"}]}), "golden.jsonl:2: history[0].role: must be buyer or agent"),
    (json.dumps({**GOOD, "history": [{"role": "buyer", "text": "在吗"}, {"role": "agent", "text": "在的"}]}),
     "golden.jsonl:2: history[1].role: the last turn must be the buyer's"),
    (json.dumps({**GOOD, "history": [{"role": "buyer", "text": " "}]}), "golden.jsonl:2: history[0].text: must be a non-empty"),
    (json.dumps({**GOOD, "intent": "haggle"}), "golden.jsonl:2: intent: 'haggle' is not one of"),
    (json.dumps({**GOOD, "must_include_any": ["赠", "送"]}), "golden.jsonl:2: must_include_any[0]: must be a non-empty list"),
    (json.dumps({**GOOD, "must_not_include": "打折"}), "golden.jsonl:2: must_not_include: must be a non-empty list"),
    (json.dumps({**GOOD, "expect_escalation": "yes"}), "golden.jsonl:2: expect_escalation: must be true or false"),
    (json.dumps({**GOOD, "must_include": [["赠"]]}), "golden.jsonl:2: must_include: unknown field; did you mean 'must_include_any'"),
    (json.dumps({**GOOD, "id": "ok"}), "golden.jsonl:2: id: 'ok' repeats an earlier case"),
    ("[1, 2]", "golden.jsonl:2: expected one JSON object per line"),
])
def test_bad_lines_name_line_and_field(tmp_path: Path, line: str, needle: str) -> None:
    path = tmp_path / "golden.jsonl"
    path.write_text("\n".join([json.dumps({**GOOD, "id": "ok"}), line, json.dumps({**GOOD, "id": "after"})]) + "\n",
                    encoding="utf-8")
    cases, errors = load_golden(path)
    assert len(errors) == 1 and errors[0].startswith(needle), errors
    assert [c.id for c in cases] == ["ok", "after"]  # the other lines still load


def test_unknown_fields_are_kept_and_unreadable_file_is_an_input_error(tmp_path: Path) -> None:
    case = parse_case({**GOOD, "notes": "written from the handbook"}, 1)
    assert case.extra == {"notes": "written from the handbook"}
    with pytest.raises(EvalInputError, match="cannot read the golden set"):
        load_golden(tmp_path / "missing.jsonl")


@pytest.mark.parametrize(("fields", "text", "escalate", "value", "failed"), [
    ({"must_include_any": [["赠", "送"], ["试吃"]]}, "可以送您一份试吃装", False, 1.0, []),
    ({"must_include_any": [["赠", "送"], ["试吃"]]}, "可以送您一个密封夹", False, 0.0, ["must_include_any[1]"]),
    ({"must_not_include": ["打折", "9折"]}, "给您打个9折", False, 0.0, ["must_not_include: contains 9折"]),
    ({"expect_escalation": True}, "我帮您问问主管", True, 1.0, []),
    ({"expect_escalation": True}, "不能打折哦", False, 0.0, ["expect_escalation: the reply does not hand over"]),
    ({"expect_escalation": False}, "我帮您问问主管", True, 0.0, ["expect_escalation: the reply hands over"]),
    ({"must_not_include": ["打折"], "expect_escalation": False}, "价格改不了哦", False, 1.0, []),
])
def test_checks(fields: dict, text: str, escalate: bool, value: float, failed: list[str]) -> None:  # type: ignore[type-arg]
    result = metrics.checks(parse_case({**GOOD, **fields}), text, escalate)
    assert result.value == value
    assert len(result.details) == len(failed)
    for detail, prefix in zip(result.details, failed, strict=True):
        assert detail.startswith(prefix)


def test_checks_do_not_apply_without_check_fields() -> None:
    assert metrics.checks(parse_case(GOOD), "随便", False).value is None
    assert metrics.best_of_n(parse_case(GOOD), [{"text": "随便"}]).value is None


def test_best_of_n_looks_at_every_candidate() -> None:
    case = parse_case({**GOOD, "must_include_any": [["试吃"]]})
    candidates = [{"text": "价格改不了", "escalate": False}, {"text": "送您试吃装", "escalate": False}]
    assert metrics.best_of_n(case, candidates).value == 1.0
    assert metrics.best_of_n(case, candidates[:1]).value == 0.0


def test_grounding_needs_support_for_every_number() -> None:
    supported = metrics.numbers_in(["价格:59.9元", "满99元包邮", "48小时内发货"])
    ok = metrics.grounding("亲，这款59.9元，满99元包邮，48小时内发货", [], supported)
    assert ok.value == 1.0
    bad = metrics.grounding("亲，这款49.9元，3天内发货", [], supported)
    assert bad.value == 0.0 and bad.details == ("numbers nothing supports: 3, 49.9",)
    flagged = metrics.grounding("亲，这款59.9元", [{"category": "grounding", "rule": "grounding.price",
                                                    "message": "price differs"}], supported)
    assert flagged.value == 0.0 and "grounding.price" in flagged.reason
    polite = metrics.grounding("亲，这款59.9元", [{"category": "politeness", "rule": "p", "message": "m"}], supported)
    assert polite.value == 1.0


def test_chrf_and_citation() -> None:
    assert metrics.chrf("亲，满99元包邮哦", "亲，满99元包邮哦").value == 100.0
    assert metrics.chrf("亲，满99元包邮哦", None).value is None
    near = metrics.chrf("亲，满99元就包邮", "亲，满99元包邮哦").value
    far = metrics.chrf("您好，请稍等", "亲，满99元包邮哦").value
    assert near is not None and far is not None and 100 > near > far >= 0
    cites = [{"source_id": "policy:gifts"}, {"source_id": "product:P003"}]
    assert metrics.citation_hit(cites, ["policy:price", "product:P003"]).value == 1.0
    assert metrics.citation_hit(cites, ["policy:price"]).value == 0.0
    assert metrics.citation_hit([], None).value is None


def test_blocked_ready_counts_every_candidate() -> None:
    result = metrics.blocked_ready([{"verdict": "pass"}, {"verdict": "block"}, {"verdict": "warn"}, {"verdict": "block"}])
    assert result.value == 2.0 and result.details == ("1", "3")


@pytest.mark.parametrize(("content", "expected"), [
    ('{"helpfulness": 4, "tone": 5, "reason": "答到了点上"}', (4, 5, "答到了点上")),
    ('```json\n{"helpfulness": "3", "tone": 4.0, "reason": "略空泛\\n第二行"}\n```', (3, 4, "略空泛")),
    ('好的，评分如下：{"note": 1} 然后 {"helpfulness": 2, "tone": 3}', (2, 3, "")),
])
def test_judge_output_parsed_robustly(content: str, expected: tuple[int, int, str]) -> None:
    assert parse_judgement(content) == expected


@pytest.mark.parametrize(("content", "needle"), [
    ("这条回复很好，给5分", "no JSON object"),
    ('{"helpfulness": 6, "tone": 3}', "helpfulness: expected an integer from 1 to 5"),
    ('{"helpfulness": 4, "tone": "good"}', "tone: expected an integer"),
    ('{"helpfulness": true, "tone": 3}', "helpfulness: expected an integer"),
    ('{"helpfulness": 4}', "no JSON object"),
])
def test_malformed_judge_output_is_an_error(content: str, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        parse_judgement(content)


def test_repo_tolerances_load_and_gate_both_ways() -> None:
    tolerances = load_tolerances()
    assert tolerances["check_pass_rate"].better == "higher"
    assert tolerances["latency_p95_ms"].relative and tolerances["latency_p95_ms"].better == "lower"
    t = tolerances["intent_accuracy"]
    assert not t.regressed(0.90, 0.895) and t.regressed(0.90, 0.88)
    lat = tolerances["latency_p95_ms"]  # may rise 150%
    assert not lat.regressed(10.0, 24.0) and lat.regressed(10.0, 26.0)


@pytest.mark.parametrize(("text", "needle"), [
    ("pass_rate: [1, 2]", "pass_rate: expected {better"),
    ("pass_rate: {better: up, allowed: 0}", "better: must be higher or lower"),
    ("pass_rate: {better: higher, allowed: lots}", "allowed: 'lots' is not a number"),
    ("pass_rate: {better: higher, allowed: -1}", "must not be negative"),
    ("- a list", "expected a mapping"),
])
def test_bad_tolerances(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "tol.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(EvalInputError, match=needle):
        load_tolerances(path)


@pytest.mark.parametrize(("content", "needle"), [
    (None, "no such baseline"),
    ("{not json", "not a readable baseline"),
    ('{"version": 7, "aggregates": {}, "cases": {}}', "not a huashu baseline"),
    ('{"version": 1, "cases": {}}', "aggregates: missing"),
    ('{"version": 1, "aggregates": {"pass_rate": "high"}, "cases": {}}', "aggregates.pass_rate: must be a number"),
    ('{"version": 1, "aggregates": {}, "cases": {"a": {"passed": "yes"}}}', "cases.a.passed: must be true or false"),
])
def test_bad_baselines(tmp_path: Path, content: str | None, needle: str) -> None:
    path = tmp_path / "base.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(EvalInputError, match=needle):
        load_baseline(path)


def test_compare_lists_regressions_and_flips() -> None:
    base = Baseline(Path("b.json"), {"pass_rate": 0.75, "latency_p95_ms": 10.0, "chrf_mean": 30.0},
                    {"a": True, "b": False, "c": True, "gone": True})
    now = {"pass_rate": 0.5, "latency_p95_ms": 11.0, "chrf_mean": 35.0, "tokens_total": 10}
    result = compare(base, now, {"a": False, "b": True, "c": True, "fresh": True}, load_tolerances())
    assert [d.metric for d in result.regressions] == ["pass_rate"]
    assert result.flipped_to_fail == ["a"] and result.flipped_to_pass == ["b"]
    assert result.missing == ["gone"] and result.new == ["fresh"]
    v = verdict(now, result, [])
    assert v.status == "fail" and v.reasons == ["pass_rate regressed: 0.75 → 0.5 (tolerance drop ≤ 0)"]
    assert verdict({"blocked_ready": 1}, None, []).status == "fail"
    assert verdict({"blocked_ready": 0}, None, ["x.jsonl:3: id: missing"]).status == "fail"
    assert verdict({"blocked_ready": 0}, None, []).status == "pass"


def test_cassette_keys_ignore_json_layout_and_bad_files_are_input_errors(tmp_path: Path) -> None:
    assert request_key(b'{"a": 1, "b": [1, 2]}') == request_key(b'{"b":[1,2],"a":1}')
    assert request_key(b'{"a": 1}') != request_key(b'{"a": 2}')
    with pytest.raises(EvalInputError, match="no such cassette"):
        Cassette.load(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": 1, "interactions": {"k": {"response": {"status": "200"}}}}', encoding="utf-8")
    with pytest.raises(EvalInputError, match="response needs status and body"):
        Cassette.load(bad)


def test_empty_check_lists_mean_no_check() -> None:
    case = parse_case({**GOOD, "must_include_any": [], "must_not_include": []})
    assert case.must_include_any is None and case.must_not_include is None and not case.has_checks()
    with pytest.raises(ValueError, match=r"must_include_any\[0\]"):
        parse_case({**GOOD, "must_include_any": [[]]})


def test_the_shipped_golden_sets_load_without_errors() -> None:
    for name in ("golden-demo.jsonl", "golden-kitchen.jsonl"):
        cases, errors = load_golden(ROOT / "eval" / name)
        assert errors == [] and len(cases) >= 40, (name, errors[:3])
