"""An LLM judge beside the rule-based metrics: helpfulness and tone, 1-5, with a reason.

The rubric is a versioned prompt file (`prompts/judge.md`). The judge's answer is parsed
robustly (code fences, prose around the JSON, scores written as "4" or 4.0 are fine); an
answer that still does not hold two scores from 1 to 5 is recorded as a judge failure for
that case, and the run goes on. The judge goes through the same HTTP client as the drafter,
so a cassette records and replays its calls too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
from langchain_core.language_models import BaseChatModel

from service.config import Settings
from service.drafting.llm import chat_model
from service.drafting.prompts import Prompt, load_prompt

SCORES = ("helpfulness", "tone")


@dataclass
class Judgement:
    helpfulness: int | None = None
    tone: int | None = None
    reason: str = ""
    error: str | None = None
    usage: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"helpfulness": self.helpfulness, "tone": self.tone, "reason": self.reason, "error": self.error}


def _score(value: Any, name: str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise ValueError(f"{name}: expected an integer from 1 to 5, got {value!r}")
    return value


def parse_judgement(content: str) -> tuple[int, int, str]:
    """(helpfulness, tone, reason) from the judge's text; ValueError says what is wrong."""
    decoder = json.JSONDecoder()
    found: dict[str, Any] | None = None
    start = content.find("{")
    while start != -1 and found is None:
        try:
            obj, _ = decoder.raw_decode(content, start)
            if isinstance(obj, dict) and all(k in obj for k in SCORES):
                found = obj
        except ValueError:
            pass
        start = content.find("{", start + 1)
    if found is None:
        raise ValueError(f"no JSON object with {' and '.join(SCORES)} in {content[:120]!r}")
    lines = str(found.get("reason", "")).strip().splitlines()
    reason = lines[0][:200] if lines else ""  # one line, as the rubric asks
    return _score(found["helpfulness"], "helpfulness"), _score(found["tone"], "tone"), reason


class Judge:
    def __init__(self, chat: BaseChatModel, prompt: Prompt | None = None) -> None:
        self.chat = chat
        self.prompt = prompt or load_prompt("judge")
        self.model: str | None = getattr(chat, "model_name", None)

    @classmethod
    def from_settings(cls, settings: Settings, http_client: httpx.Client | None = None) -> Judge:
        # Temperature 0: the same reply should get the same score on the next run.
        return cls(chat_model(settings, http_client, temperature=0.0))

    def judge(self, shop_name: str, history: list[dict[str, str]], reply: str, reference: str | None) -> Judgement:
        convo = "\n".join(f"{'买家' if t['role'] == 'buyer' else '客服'}:{t['text']}" for t in history)
        text = self.prompt.render(shop_name=shop_name, conversation=convo, reply=reply, reference=reference or "(无)")
        try:
            from langchain_core.messages import HumanMessage  # loaded with the judge's LLM only

            answer = self.chat.invoke([HumanMessage(text)])
        except Exception as exc:  # openai/httpx errors after retries: a judge failure, not a crash
            return Judgement(error=f"judge call failed: {type(exc).__name__}: {exc}")
        meta = (answer.response_metadata or {}).get("token_usage") or {}
        usage = {k: int(meta.get(k, 0)) for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
        try:
            helpfulness, tone, reason = parse_judgement(str(answer.content))
        except ValueError as exc:
            return Judgement(error=f"malformed judge output: {exc}", usage=usage)
        return Judgement(helpfulness, tone, reason, usage=usage)
