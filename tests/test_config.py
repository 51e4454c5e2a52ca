"""Settings from the environment and from keywords (CONTRACTS §5)."""

from __future__ import annotations

import pytest

from service.config import Settings


def test_keywords_set_aliased_fields() -> None:
    s = Settings(llm_base_url="http://127.0.0.1:9/v1", llm_model="m", llm_api_key="k")
    assert s.llm_base_url == "http://127.0.0.1:9/v1" and s.llm_model == "m"
    assert s.llm_api_key is not None and s.llm_api_key.get_secret_value() == "k"


def test_huashu_variables_and_openai_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://fallback/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fallback")
    s = Settings()
    assert s.llm_base_url == "http://fallback/v1" and s.llm_api_key.get_secret_value() == "sk-fallback"  # type: ignore[union-attr]
    monkeypatch.setenv("HUASHU_LLM_BASE_URL", "http://own/v1")
    monkeypatch.setenv("HUASHU_DATA_DIR", "/tmp/huashu-x")
    monkeypatch.setenv("HUASHU_RETRIEVAL__MAX_K", "20")
    s = Settings()
    assert s.llm_base_url == "http://own/v1" and str(s.data_dir) == "/tmp/huashu-x" and s.retrieval.max_k == 20
    assert "sk-fallback" not in repr(s)  # secrets stay secret


def test_no_llm_means_offline() -> None:
    from service.container import Services

    assert Services(Settings()).pipeline.llm is None
