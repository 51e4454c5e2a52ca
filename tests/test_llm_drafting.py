"""The LLM drafter through the real LangChain/openai client against a local HTTP server:
scripted completions, 429 then success, 500, a hang past the timeout, malformed output, a
completion that grants a discount, and the prompt's token budget."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from service.config import Settings, Timeouts
from service.container import Services
from service.drafting.llm import LLMDrafter
from service.drafting.pipeline import SuggestionPipeline
from service.knowledge.ingest import ingest_pack
from service.tokens import count_tokens
from tests.clients import local_client
from tests.conftest import DEMO_PACK, ROOT
from tests.fakes.openai_server import Delay, Error, FakeOpenAI, completion

GOOD = json.dumps({"candidates": [
    {"text": "亲，这款特级袋装59.9元，已经是页面标价了哦～", "sources": ["product:P003"]},
    {"text": "亲，价格小杞改不了，这单可以送您一份试吃装，您看可以吗？", "sources": ["policy:gifts"]},
    {"text": "亲，理解您想买得划算，小杞帮您问问主管，有消息马上告诉您。", "sources": ["policy:escalation"]},
]}, ensure_ascii=False)
BARGAIN = [{"role": "buyer", "text": "这个多少钱"}, {"role": "agent", "text": "亲,这款是59.9元哦"},
           {"role": "buyer", "text": "能便宜点吗,买两袋"}]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Services:
    svc = Services(Settings(data_dir=tmp_path_factory.mktemp("llm") / "data", chroma_url=None,
                            embeddings_base_url=None))
    ingest_pack(DEMO_PACK, svc.index, svc.embedder, svc.lexical_store)
    return svc


def pipeline(shop: Services, fake: FakeOpenAI, retries: int = 0, read: float = 5.0,
             budget: int = 3000) -> SuggestionPipeline:
    settings = Settings(data_dir=Path("unused"), llm_base_url=fake.base_url, llm_model="fake-chat",
                        llm_api_key="test-key", llm_prompt_budget=budget,
                        timeouts=Timeouts(connect=2, read=read, retries=retries))
    return SuggestionPipeline(shop.retriever, shop.guardrails, llm=LLMDrafter(settings))


def test_llm_candidates_with_citations_and_usage(shop: Services, fake_openai: FakeOpenAI) -> None:
    fake_openai.script("/chat/completions", completion(GOOD))
    s = pipeline(shop, fake_openai).suggest("demo-shop", BARGAIN, product="P003", n=3)
    assert s.backend == "llm" and s.prompt_version == "draft-v2" and s.model == "fake-chat"
    assert [c.text for c in s.candidates][0].startswith("亲，这款特级袋装59.9元")
    assert s.candidates[0].citations[0]["source_id"] == "product:P003"
    assert s.candidates[2].escalate
    assert s.usage == {"prompt_tokens": 120, "completion_tokens": 40, "total_tokens": 160}
    (path, body), = fake_openai.requests
    system, user = body["messages"][0]["content"], body["messages"][1]["content"]
    assert body["model"] == "fake-chat"
    assert "不能改价" in system and "[product:P003]" in system and "超出权限的要求:discount" in system
    assert "能便宜点吗,买两袋" in user and "只是数据" in system
    assert "转主管:否" in system  # a first ask is declined, not handed over


def test_prompt_says_when_the_supervisor_decides(shop: Services, fake_openai: FakeOpenAI) -> None:
    fake_openai.script("/chat/completions", completion(GOOD))
    repeat = [{"role": "buyer", "text": "能便宜点吗"}, {"role": "agent", "text": "亲，价格统一，没有改价权限哦。"},
              {"role": "buyer", "text": "就便宜一点嘛，你帮我问问"}]
    pipeline(shop, fake_openai).suggest("demo-shop", repeat, product="P003", n=3)
    (_, body), = fake_openai.requests
    assert "转主管:是" in body["messages"][0]["content"]


def test_429_then_success(shop: Services, fake_openai: FakeOpenAI) -> None:
    fake_openai.script("/chat/completions", Error(429, {"error": {"message": "slow down"}}), completion(GOOD))
    s = pipeline(shop, fake_openai, retries=1).suggest("demo-shop", BARGAIN, product="P003")
    assert s.backend == "llm" and len(fake_openai.requests) == 2


@pytest.mark.parametrize("scripted", [
    [Error(500, {"error": {"message": "boom"}})] * 2,                  # 5xx after retries
    [Delay(3.0, completion(GOOD))],                                    # hangs past the timeout
    [completion("好的亲，马上为您处理")],                                 # not the JSON asked for
    [completion('{"candidates": []}')],                                # JSON, but nothing usable
])
def test_failures_fall_back_to_offline(shop: Services, fake_openai: FakeOpenAI, scripted: list) -> None:  # type: ignore[type-arg]
    fake_openai.script("/chat/completions", *scripted)
    s = pipeline(shop, fake_openai, retries=1, read=1.0).suggest("demo-shop", BARGAIN, product="P003")
    assert s.backend == "offline" and len(s.candidates) == 3
    assert any(note.startswith("LLM unavailable") for note in s.notes)
    assert all(c.verdict != "block" for c in s.candidates)


def test_discount_granting_draft_is_regenerated(shop: Services, fake_openai: FakeOpenAI) -> None:
    bad = json.dumps({"candidates": [{"text": "亲，给您打个9折吧", "sources": []},
                                     {"text": "那就便宜5元给你", "sources": []}]}, ensure_ascii=False)
    fake_openai.script("/chat/completions", completion(bad), completion(GOOD))
    s = pipeline(shop, fake_openai).suggest("demo-shop", BARGAIN, product="P003", n=3)
    assert s.backend == "llm"
    assert not any("9折" in c.text or "便宜5元" in c.text for c in s.candidates)
    assert any("regenerated" in note for note in s.notes)
    assert s.usage == {"prompt_tokens": 240, "completion_tokens": 80, "total_tokens": 320}  # both calls billed
    retry_prompt = fake_openai.requests[1][1]["messages"][1]["content"]
    assert "没有通过检查" in retry_prompt and "9折" in retry_prompt


def test_prompt_is_trimmed_to_budget_but_keeps_the_last_message(shop: Services, fake_openai: FakeOpenAI) -> None:
    fake_openai.script("/chat/completions", completion(GOOD))
    history = [{"role": "buyer" if i % 2 else "agent", "text": f"第{i}句话,随便聊聊天气和物流"} for i in range(19)]
    history.append({"role": "buyer", "text": "能便宜点吗,买两袋"})
    s = pipeline(shop, fake_openai, budget=1500).suggest("demo-shop", history, product="P003")
    assert s.backend == "llm"
    messages = fake_openai.requests[0][1]["messages"]
    assert count_tokens(messages[0]["content"]) + count_tokens(messages[1]["content"]) <= 1500
    assert "能便宜点吗,买两袋" in messages[1]["content"] and "第0句话" not in messages[1]["content"]
    assert not fake_openai.unexpected


def test_a_regeneration_stays_within_the_budget(shop: Services, fake_openai: FakeOpenAI) -> None:
    bad = json.dumps({"candidates": [{"text": "亲，给您打个9折吧" * 20, "sources": []}] * 3}, ensure_ascii=False)
    fake_openai.script("/chat/completions", completion(bad), completion(GOOD))
    history = [{"role": "buyer" if i % 2 else "agent", "text": f"第{i}句话,随便聊聊天气和物流"} for i in range(19)]
    history.append({"role": "buyer", "text": "能便宜点吗,买两袋"})
    pipeline(shop, fake_openai, budget=1500).suggest("demo-shop", history, product="P003")
    for _, body in fake_openai.requests:
        system, user = (m["content"] for m in body["messages"])
        assert count_tokens(system) + count_tokens(user) <= 1500
    retry = fake_openai.requests[1][1]["messages"][1]["content"]
    assert "没有通过检查" in retry and "能便宜点吗,买两袋" in retry


def sse_events(response) -> list[tuple[str, dict]]:  # type: ignore[no-untyped-def, type-arg]
    events, name = [], None
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            events.append((name, json.loads(line[6:])))
    return events


def test_streaming_sends_tokens_then_checked_candidates(shop: Services, fake_openai: FakeOpenAI) -> None:
    
    from service.api.app import create_app
    from tests.fakes.openai_server import Stream

    pieces = [GOOD[i:i + 12] for i in range(0, len(GOOD), 12)]
    fake_openai.script("/chat/completions", Stream(pieces))
    shop.__dict__["pipeline"] = pipeline(shop, fake_openai)  # this app drafts through the fake LLM
    try:
        with local_client(create_app(services=shop)) as client:
            body = {"shop": "demo-shop", "product": "P003", "history": BARGAIN, "n": 3}
            with client.stream("POST", "/v1/suggestions/stream", json=body) as r:
                assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
                events = sse_events(r)
            names = [name for name, _ in events]
            assert names[0] == "token" and names[-1] == "done"
            first_candidate = names.index("candidate")
            assert first_candidate < len(names) - 2 and "token" in names[first_candidate + 1:]  # before the LLM ends
            done = events[-1][1]
            assert done["backend"] == "llm" and len(done["candidates"]) == 3
            assert "".join(d["text"] for n, d in events if n == "token") == GOOD
            bad = client.post("/v1/suggestions/stream", json={"shop": "nope", "history": BARGAIN})
            assert bad.status_code == 404 and bad.json()["error"]["code"] == "shop_not_found"
    finally:
        shop.__dict__.pop("pipeline", None)


def test_streaming_offline(demo: Services) -> None:
    
    from service.api.app import create_app

    with local_client(create_app(services=demo)) as client:
        with client.stream("POST", "/v1/suggestions/stream",
                           json={"shop": "demo-shop", "history": [{"role": "buyer", "text": "在吗"}]}) as r:
            events = sse_events(r)
    assert [n for n, _ in events] == ["candidate"] * 3 + ["done"]
    assert events[-1][1]["backend"] == "offline"


def test_usage_is_kept_per_thread(shop: Services, fake_openai: FakeOpenAI) -> None:
    """Two suggestions in flight at once (the API's thread pool, `eval run --jobs`): each
    thread reads the usage of its own completion, not of whichever finished last."""
    import threading

    from service.understanding.buyer import understand

    def answer(body: dict) -> object:  # type: ignore[type-arg]
        slow = "能便宜点吗" in body["messages"][1]["content"]
        reply = completion(GOOD, prompt_tokens=111 if slow else 222)
        return Delay(0.5, reply) if slow else reply

    fake_openai.respond("/chat/completions", answer)
    drafter = pipeline(shop, fake_openai).llm
    assert drafter is not None
    policy = shop.guardrails.context("demo-shop").policy
    seen: dict[str, int] = {}
    slow_done = threading.Event()

    def ask(text: str) -> None:
        drafter.draft(understand([text], policy), [{"role": "buyer", "text": text}], {}, policy, None, [], 1)
        if text == "在吗":
            slow_done.wait(5)  # read only after the other thread's completion has landed
        else:
            slow_done.set()
        seen[text] = drafter.last_usage["prompt_tokens"]

    threads = [threading.Thread(target=ask, args=(t,)) for t in ("能便宜点吗", "在吗")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == {"能便宜点吗": 111, "在吗": 222}


def test_langchain_is_loaded_only_for_a_configured_llm(tmp_path: Path) -> None:
    # Importing LangChain costs more than a second of start-up; the offline path never needs it.
    code = ("import sys; from service.config import Settings; from service.container import Services; "
            f"s = Services(Settings(data_dir={str(tmp_path)!r}, llm_base_url=None)); s.pipeline; "
            "print(sorted(m for m in sys.modules if m.startswith('langchain')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ROOT, env={**os.environ, "HUASHU_LLM_BASE_URL": ""})
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
