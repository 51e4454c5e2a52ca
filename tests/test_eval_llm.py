"""Golden runs with an LLM: recorded against the local OpenAI-compatible fake server, then
replayed from the cassette with the server stopped; the LLM judge, including output it
cannot parse. Everything goes through the real openai/LangChain client over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from service.cli import app
from service.config import Settings, Timeouts, get_settings
from service.container import Services
from service.evaluation.session import EvalOptions, EvalSession
from tests.conftest import ROOT
from tests.fakes.openai_server import Error, FakeOpenAI, completion

MINI = ROOT / "tests" / "fixtures" / "golden-mini.jsonl"
SECRET = "sk-test-never-in-a-cassette"
# The buyer message each scripted draft answers; anything else gets a generic reply.
DRAFTS = {
    "什么时候发货": [{"text": "亲，付款后48小时内就给您发出哦。", "sources": ["policy:dispatch"]},
                 {"text": "亲，拍下付款后48小时内发货，发出后小杞把单号同步给您。", "sources": ["policy:dispatch"]}],
    "能便宜点吗,买两袋": [{"text": "亲，这款59.9元是页面标价，小杞改不了价，可以给您备注一份试吃装哦。",
                    "sources": ["product:P003", "policy:gifts"]}],
    "松子还有货吗": [{"text": "亲，红松子暂时缺货，预计12月12日补货，您可以先收藏。", "sources": ["product:P035"]}],
}
GENERIC = [{"text": "亲，您的消息小杞收到了，这就帮您确认一下～", "sources": []}]


def buyer_message(body: dict[str, Any]) -> str:
    user = body["messages"][-1]["content"]
    return [line for line in user.splitlines() if line.startswith("买家:")][-1].removeprefix("买家:")


def responder(body: dict[str, Any]) -> Any:
    prompt = body["messages"][-1]["content"]
    if "质检员" in prompt:  # the judge
        if "开心果是漂白的吗" in prompt:
            return completion("这条回复还可以，给个4分吧")  # no JSON: a judge failure
        return completion('```json\n{"helpfulness": 4, "tone": 5, "reason": "答到了点上"}\n```', 300, 20)
    message = buyer_message(body)
    if message == "能货到付款吗":
        return Error(500, {"error": {"message": "upstream overloaded"}})
    return completion(json.dumps({"candidates": DRAFTS.get(message, GENERIC)}, ensure_ascii=False))


def llm_services(demo: Services, fake: FakeOpenAI) -> Services:
    return Services(Settings(data_dir=demo.settings.data_dir, llm_base_url=fake.base_url, llm_model="fake-chat",
                             llm_api_key=SECRET, timeouts=Timeouts(connect=2, read=5, retries=0)))


@pytest.fixture(scope="module")
def recorded(demo: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], Path, FakeOpenAI]]:
    fake = FakeOpenAI().start()
    fake.respond("/chat/completions", responder)
    cassette = tmp_path_factory.mktemp("cassette") / "mini.cassette.json"
    report = EvalSession(llm_services(demo, fake), EvalOptions(golden=MINI, record=cassette, judge=True)).prepare().run()
    fake.stop()  # everything after this must come from the cassette
    yield report, cassette, fake


def comparable(report: dict[str, Any]) -> dict[str, Any]:
    """Everything a replay must reproduce: all but timings."""
    timing = ("latency_p50_ms", "latency_p95_ms")
    return {
        "aggregates": {k: v for k, v in report["aggregates"].items() if k not in timing},
        "per_intent": {i: {k: v for k, v in a.items() if k not in timing} for i, a in report["per_intent"].items()},
        "cases": [{k: v for k, v in c.items() if k != "latency_ms"} for c in report["cases"]],
        "backends": report["backends"],
    }


def test_recorded_run_used_the_llm_and_the_judge(recorded: tuple[dict[str, Any], Path, FakeOpenAI]) -> None:
    report, cassette, fake = recorded
    cases = report["cases"]
    assert report["backends"] == {"llm": len(cases) - 1, "offline": 1}
    cod = next(c for c in cases if c["id"] == "cod-01")
    assert cod["backend"] == "offline" and any("LLM unavailable" in n for n in cod["notes"])
    dispatch = next(c for c in cases if c["id"] == "dispatch-01")
    assert dispatch["reply"] == DRAFTS["什么时候发货"][0]["text"] and dispatch["passed"]
    assert dispatch["model"] == "fake-chat" and dispatch["prompt_version"] == "draft-v2"
    assert dispatch["usage"] == {"prompt_tokens": 120, "completion_tokens": 40, "total_tokens": 160}
    assert dispatch["cost"] == pytest.approx((120 * 0.001 + 40 * 0.002) / 1000)
    assert dispatch["judge"] == {"helpfulness": 4, "tone": 5, "reason": "答到了点上", "error": None}
    bleached = next(c for c in cases if c["id"] == "bleached-01")
    assert bleached["judge"]["error"].startswith("malformed judge output: no JSON object")
    assert bleached["error"] is None and bleached["metrics"]["chrf"]["value"] is not None  # the run went on
    a = report["aggregates"]
    assert a["judge_failures"] == 1 and a["judge_helpfulness_mean"] == 4.0 and a["judge_tone_mean"] == 5.0
    assert a["cost_total"] == pytest.approx(sum(c["cost"] for c in cases)) and a["cost_total"] > 0
    assert a["judge_cost_total"] > 0
    assert "judge_helpfulness_mean" in report["per_intent"]["bargain"]
    assert not fake.unexpected
    text = cassette.read_text(encoding="utf-8")
    assert SECRET not in text
    data = json.loads(text)
    assert data["model"] == "fake-chat" and data["base_url"] == fake.base_url
    drafts = sum(1 for p, b in fake.requests if "质检员" not in b["messages"][-1]["content"])
    assert len(fake.requests) == len(data["interactions"]) == drafts + len(cases)  # every call recorded once


def test_replay_with_the_server_stopped_scores_the_same(
        demo: Services, recorded: tuple[dict[str, Any], Path, FakeOpenAI]) -> None:
    report, cassette, fake = recorded
    calls = len(fake.requests)
    offline = Services(Settings(data_dir=demo.settings.data_dir))  # no LLM configured at all
    again = EvalSession(offline, EvalOptions(golden=MINI, replay=cassette, judge=True)).prepare().run()
    assert len(fake.requests) == calls
    assert all(c["error"] is None for c in again["cases"])
    assert comparable(again) == comparable(report)
    assert again["replayed"] == str(cassette)


def test_replay_lacking_a_request_fails_that_case(
        demo: Services, recorded: tuple[dict[str, Any], Path, FakeOpenAI], tmp_path: Path) -> None:
    _, cassette, _ = recorded
    data = json.loads(cassette.read_text(encoding="utf-8"))
    drop = [k for k, v in data["interactions"].items()
            if "松子还有货吗" in json.dumps(v["request"]["body"], ensure_ascii=False)
            and "质检员" not in v["request"]["body"]["messages"][-1]["content"]]
    assert len(drop) == 1
    del data["interactions"][drop[0]]
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    report = EvalSession(Services(Settings(data_dir=demo.settings.data_dir)),
                         EvalOptions(golden=MINI, replay=partial)).prepare().run()
    failed = [c for c in report["cases"] if c["error"]]
    assert [c["id"] for c in failed] == ["stock-01"]
    key = drop[0][:12]
    assert f"the cassette partial.json has no recorded response for 1 LLM request(s) ({key})" in failed[0]["error"]
    assert not failed[0]["passed"] and report["aggregates"]["errors"] == 1
    assert all(c["backend"] for c in report["cases"] if not c["error"])


def test_cli_record_then_replay(demo: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = MINI.read_text(encoding="utf-8").splitlines()[:4]
    golden = tmp_path / "four.jsonl"
    golden.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cassette = tmp_path / "four.cassette.json"
    runner = CliRunner()
    fake = FakeOpenAI().start()
    fake.respond("/chat/completions", responder)
    monkeypatch.setenv("HUASHU_DATA_DIR", str(demo.settings.data_dir))
    monkeypatch.setenv("HUASHU_LLM_BASE_URL", fake.base_url)
    monkeypatch.setenv("HUASHU_LLM_MODEL", "fake-chat")
    monkeypatch.setenv("HUASHU_TIMEOUTS__RETRIES", "0")
    get_settings.cache_clear()
    try:
        first = runner.invoke(app, ["eval", "run", str(golden), "--record", str(cassette), "--judge", "--json"])
    finally:
        fake.stop()
    assert first.exit_code == 0, first.output
    monkeypatch.delenv("HUASHU_LLM_BASE_URL")
    monkeypatch.delenv("HUASHU_LLM_MODEL")
    get_settings.cache_clear()
    second = runner.invoke(app, ["eval", "run", str(golden), "--replay", str(cassette), "--judge", "--json"])
    get_settings.cache_clear()
    assert second.exit_code == 0, second.output
    a, b = json.loads(first.stdout), json.loads(second.stdout)
    assert a["backends"] == b["backends"] == {"llm": 4}
    assert comparable(a) == comparable(b)
    both = runner.invoke(app, ["eval", "run", str(golden), "--replay", str(cassette), "--record", str(cassette)])
    assert both.exit_code == 2 and "exclude each other" in both.stderr
