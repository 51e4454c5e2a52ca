"""Offline token counting, the built-in embedding, and the OpenAI-compatible embeddings client."""

from __future__ import annotations

import hashlib
from importlib import resources

import numpy as np
import pytest

from service.config import Settings
from service.errors import EmbeddingError
from service.retrieval.embeddings import HashingEmbedder, OpenAIEmbedder, get_embedder
from service.tokens import CL100K_SHA256, count_tokens, encoding
from tests.fakes.openai_server import Error, FakeOpenAI


def test_tiktoken_file_ships_in_the_package() -> None:
    data = (resources.files("service") / "resources" / "cl100k_base.tiktoken").read_bytes()
    assert hashlib.sha256(data).hexdigest() == CL100K_SHA256


def test_token_counts_match_cl100k(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # An empty cache dir and no network: only the shipped file can make this work.
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    encoding.cache_clear()
    assert count_tokens("hello world") == 2
    assert encoding().encode("hello world") == [15339, 1917]
    assert count_tokens("亲,这款枸杞是宁夏中宁的") > 5
    assert count_tokens("<|endoftext|>") > 1  # special tokens in user text are plain text


def test_hashing_embedder_is_deterministic_and_semantic_enough() -> None:
    emb = HashingEmbedder()
    a, b, c = emb.embed_many(["宁夏中宁红枸杞多少钱", "中宁枸杞价格", "快递什么时候到"])
    assert a.shape == (1024,) and np.isclose(np.linalg.norm(a), 1.0, atol=1e-5)
    assert np.allclose(HashingEmbedder().embed("宁夏中宁红枸杞多少钱"), a)
    assert float(a @ b) > float(a @ c)


def test_openai_embedder_against_local_server(fake_openai: FakeOpenAI) -> None:
    settings = Settings(embeddings_base_url=fake_openai.base_url, embeddings_model="fake-embed")
    emb = get_embedder(settings)
    assert isinstance(emb, OpenAIEmbedder) and emb.name == "openai:fake-embed"
    vectors = emb.embed_many([f"文本{i}" for i in range(300)])
    assert vectors.shape == (300, 16)
    paths = [p for p, _ in fake_openai.requests]
    assert paths == ["/embeddings"] * 3  # batches of 128
    assert fake_openai.requests[0][1]["model"] == "fake-embed"


def test_openai_embedder_retries_then_fails_cleanly(fake_openai: FakeOpenAI) -> None:
    emb = OpenAIEmbedder(base_url=fake_openai.base_url, model="m", api_key="k", retries=1, timeout=5)
    fake_openai.script("/embeddings", Error(429, {"error": {"message": "slow down"}}))
    assert emb.embed("重试之后成功").shape == (16,)
    fake_openai.script("/embeddings", Error(500, {"error": {"message": "boom"}}),
                       Error(500, {"error": {"message": "boom"}}))
    with pytest.raises(EmbeddingError, match="embeddings endpoint failed"):
        emb.embed("一直失败")
    fake_openai.script("/embeddings", {"data": [{"index": 0, "embedding": "not a vector"}]})
    with pytest.raises(EmbeddingError, match="malformed"):
        emb.embed("坏数据")
