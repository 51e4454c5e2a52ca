"""Long-lived objects built once from Settings and shared by the API and the CLI."""

from __future__ import annotations

import time
from functools import cached_property
from typing import Any

from service.config import Settings
from service.drafting.llm import LLMDrafter
from service.drafting.pipeline import SuggestionPipeline
from service.errors import ProductNotFound
from service.guardrails.service import Guardrails
from service.retrieval.approved import ApprovedIndex
from service.retrieval.embeddings import Embedder, get_embedder
from service.retrieval.hybrid import HybridRetriever
from service.retrieval.lexical import LexicalStore
from service.retrieval.store import ChromaIndex
from service.store.db import Database
from service.store.drafts import DraftStore
from service.store.keys import KeyStore
from service.store.learning import Learning

KEYS_TTL = 1.0  # seconds the "is any API key configured?" answer is reused


class Services:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._open: tuple[float, bool] | None = None

    @cached_property
    def index(self) -> ChromaIndex:
        return ChromaIndex(self.settings)

    @cached_property
    def embedder(self) -> Embedder:
        return get_embedder(self.settings)

    @cached_property
    def lexical_store(self) -> LexicalStore:
        return LexicalStore(self.settings.lexical_path)

    @cached_property
    def approved(self) -> ApprovedIndex:
        return ApprovedIndex(self.index, self.embedder)

    @cached_property
    def retriever(self) -> HybridRetriever:
        return HybridRetriever(self.settings, self.index, self.embedder, self.lexical_store,
                               approved=self.approved)

    @cached_property
    def guardrails(self) -> Guardrails:
        return Guardrails(self.retriever)

    @cached_property
    def pipeline(self) -> SuggestionPipeline:
        llm = LLMDrafter(self.settings) if self.settings.llm_base_url else None
        return SuggestionPipeline(self.retriever, self.guardrails, llm=llm,
                                  max_message_chars=self.settings.retrieval.max_query_chars)

    @cached_property
    def db(self) -> Database:
        return Database(self.settings.database, connect_timeout=self.settings.timeouts.connect,
                        sqlite_synchronous=self.settings.sqlite_synchronous)

    @cached_property
    def drafts(self) -> DraftStore:
        def check(shop: str, text: str, product: str | None,
                  history: list[dict[str, str]]) -> tuple[str, list[dict[str, Any]]]:
            try:
                result = self.guardrails.check(shop, text, product=product, history=history)
            except ProductNotFound:  # the pack dropped the product since: check the shop's rules
                result = self.guardrails.check(shop, text, history=history)
            return result.verdict, [v.as_dict() for v in result.violations]

        return DraftStore(self.db, checker=check, on_approved=lambda ids: self.learning.enqueue(ids))

    @cached_property
    def keys(self) -> KeyStore:
        return KeyStore(self.db)

    @cached_property
    def learning(self) -> Learning:
        return Learning(self.drafts, self.approved)

    def open_access(self) -> bool:
        """True while no API key is active: huashu then serves loopback clients only."""
        now = time.monotonic()
        if self._open is None or now - self._open[0] > KEYS_TTL:
            self._open = (now, self.keys.active() == 0)
        return self._open[1]
