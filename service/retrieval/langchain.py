"""huashu retrieval as a LangChain `BaseRetriever`, for LangChain chains and agents.

    from service.retrieval.langchain import HuashuRetriever
    retriever = HuashuRetriever(retriever=hybrid, shop="demo-shop", k=4)
    docs = retriever.invoke("黑枸杞怎么泡")
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from service.retrieval.hybrid import HybridRetriever


class HuashuRetriever(BaseRetriever):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: HybridRetriever
    shop: str
    product: str | None = None
    kind: str | None = None
    k: int = 5

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        outcome = self.retriever.search(self.shop, query, product=self.product, kind=self.kind, k=self.k)
        return [
            Document(id=r.source_id, page_content=r.text,
                     metadata={"source_id": r.source_id, "kind": r.kind, "product": r.product,
                               "score": r.score, "title": r.title, "source": r.source, "shop": self.shop})
            for r in outcome.results
        ]
