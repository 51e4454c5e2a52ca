"""Long-lived objects built once from Settings and shared by the API and the CLI."""

from __future__ import annotations

from functools import cached_property

from service.config import Settings
from service.drafting.llm import LLMDrafter
from service.drafting.pipeline import SuggestionPipeline
from service.guardrails.service import Guardrails
from service.retrieval.embeddings import Embedder, get_embedder
from service.retrieval.hybrid import HybridRetriever
from service.retrieval.lexical import LexicalStore
from service.retrieval.store import ChromaIndex


class Services:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

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
    def retriever(self) -> HybridRetriever:
        return HybridRetriever(self.settings, self.index, self.embedder, self.lexical_store)

    @cached_property
    def guardrails(self) -> Guardrails:
        return Guardrails(self.retriever)

    @cached_property
    def pipeline(self) -> SuggestionPipeline:
        llm = LLMDrafter(self.settings) if self.settings.llm_base_url else None
        return SuggestionPipeline(self.retriever, self.guardrails, llm=llm,
                                  max_message_chars=self.settings.retrieval.max_query_chars)
