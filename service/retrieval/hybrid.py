"""Hybrid retrieval: dense (Chroma) + BM25 (jieba), fused by reciprocal rank.

For one query in one shop:
1. the product is resolved — the one given in the request, else the ones named in the
   question — and its facts document is pinned first;
2. dense candidates come from the shop's collection, BM25 candidates from its lexical index;
3. the two rankings are fused by weighted reciprocal rank fusion, then filtered by kind and
   product (a product filter drops other products' facts, keeps shop-wide scripts/policy).

Per-shop state (lexical index, catalog, the documents themselves) is cached in the process
and reloaded when the shop's pack hash in Chroma changes, checked at most every
`REFRESH_SECONDS`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from service.config import Settings
from service.errors import IndexChanged, IndexUnavailable, InvalidRequest, ProductNotFound
from service.knowledge.documents import KINDS
from service.retrieval import lexical
from service.retrieval.approved import ApprovedIndex
from service.retrieval.catalog import Catalog
from service.retrieval.embeddings import Embedder
from service.retrieval.lexical import LexicalIndex, LexicalStore
from service.retrieval.spelling import PinyinCorrector
from service.retrieval.store import ChromaIndex, Hit
from service.understanding.intents import IntentClassifier, IntentResult, default_classifier

Mode = Literal["hybrid", "dense", "lexical"]
REFRESH_SECONDS = 2.0


@dataclass(frozen=True)
class SearchResult:
    source_id: str
    kind: str
    product: str | None
    text: str
    score: float
    title: str = ""
    source: str = ""
    intent: str = ""
    # Approved replies only: the question they answered and what was asked beyond authority.
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def as_dict(self) -> dict[str, Any]:
        body = {"source_id": self.source_id, "kind": self.kind, "product": self.product,
                "text": self.text, "score": round(self.score, 6), "title": self.title,
                "source": self.source, "intent": self.intent}
        if self.extra:
            body["extra"] = dict(self.extra)
        return body


@dataclass
class SearchOutcome:
    results: list[SearchResult]
    products: list[str] = field(default_factory=list)  # resolved products, pinned first
    intents: list[str] = field(default_factory=list)   # the buyer intents that were boosted
    query: str = ""                                     # the query as searched (typos corrected)


@dataclass
class _ShopState:
    collection: Any
    pack_hash: str
    shop: dict[str, Any]
    lexical: LexicalIndex
    catalog: Catalog
    corrector: PinyinCorrector
    checked_at: float
    documents: dict[str, Hit] = field(default_factory=dict)  # id -> text and metadata

    def get(self, ids: Iterable[str]) -> list[Hit]:
        """The shop's documents with these ids, in that order (unknown ids skipped)."""
        return [self.documents[i] for i in ids if i in self.documents]


class HybridRetriever:
    def __init__(self, settings: Settings, index: ChromaIndex, embedder: Embedder,
                 store: LexicalStore | None = None,
                 classifier: IntentClassifier | None = None,
                 approved: ApprovedIndex | None = None) -> None:
        self.settings = settings
        self.approved = approved
        self.classifier = classifier or default_classifier()
        self.index = index
        self.embedder = embedder
        self.store = store or LexicalStore(settings.lexical_path)
        self._shops: dict[str, _ShopState] = {}
        self._lock = threading.Lock()

    # --- shop state ---------------------------------------------------------------------

    def shop(self, shop: str) -> dict[str, Any]:
        """The shop's shop.yaml as ingested (raises ShopNotFound)."""
        return self._state(shop).shop

    def catalog(self, shop: str) -> Catalog:
        return self._state(shop).catalog

    def state(self, shop: str) -> _ShopState:
        """The shop's loaded index state (raises ShopNotFound); reloaded when its pack changes."""
        return self._state(shop)

    def _state(self, shop: str) -> _ShopState:
        now = time.monotonic()
        state = self._shops.get(shop)
        if state is not None and now - state.checked_at < REFRESH_SECONDS:
            return state
        with self._lock:
            for attempt in range(3):
                collection = self.index.collection(shop)
                manifest = collection.metadata or {}
                if state is not None and manifest.get("pack_hash") == state.pack_hash:
                    state.checked_at = now
                    return state
                try:
                    state = self._load(shop, collection, manifest)
                    break
                except IndexChanged:
                    if attempt == 2:
                        raise
                    # An ingest switched to new documents while we read them: read again.
            assert state is not None
            self._shops[shop] = state
            return state

    def _load(self, shop: str, collection: Any, manifest: dict[str, Any]) -> _ShopState:
        if manifest.get("embedder") != self.embedder.name:
            raise IndexUnavailable(
                f"shop {shop!r} was indexed with embedder {manifest.get('embedder')!r} but huashu "
                f"is configured with {self.embedder.name!r}; re-run `huashu ingest` for that pack"
            )
        documents = self.index.documents(collection)
        data = self.store.load(shop)
        if data is None or data.get("pack_hash") != manifest.get("pack_hash"):
            data = self._rebuild_lexical(shop, list(documents.values()), manifest)
        lexical.add_words(data.get("words", []))
        docs = data["docs"]
        ids = list(docs)
        catalog = Catalog(data.get("catalog", []), tokenize=lexical.tokenize)
        # The shop's own words: product terms, and the handbook's and policy's vocabulary.
        vocabulary = set(catalog.terms) | {t for d in docs.values() if d[0] in ("script", "policy")
                                           for t in d[2].split()}
        return _ShopState(
            collection=collection,
            pack_hash=str(manifest.get("pack_hash")),
            shop=json.loads(manifest.get("shop_json", "{}")),
            lexical=LexicalIndex(ids, [docs[i][0] for i in ids], [docs[i][1] for i in ids],
                                 [docs[i][2].split() for i in ids], [docs[i][3] for i in ids]),
            catalog=catalog,
            corrector=PinyinCorrector(vocabulary),
            checked_at=time.monotonic(),
            documents=documents,
        )

    def _rebuild_lexical(self, shop: str, hits: list[Hit], manifest: dict[str, Any]) -> dict[str, Any]:
        """The token cache is missing or stale (e.g. another host ingested): rebuild from the
        documents stored in Chroma."""
        catalog = [[h.metadata.get("product"), h.metadata.get("title", ""),
                    [a for a in str(h.metadata.get("aliases", "")).split("|") if a]]
                   for h in hits if h.metadata.get("kind") == "fact" and h.metadata.get("product")]
        words = lexical.catalog_words((name, aliases) for _, name, aliases in catalog)
        lexical.add_words(words)
        for row in catalog:
            row.append(" ".join(lexical.tokenize(lexical.catalog_text(row[1], row[2]))))
        docs = {h.id: [h.metadata.get("kind", ""), h.metadata.get("product", ""),
                       " ".join(lexical.tokenize(h.text)), h.metadata.get("intent", "")] for h in hits}
        data = {"schema": lexical.SCHEMA, "pack_hash": manifest.get("pack_hash"), "words": words,
                "docs": docs, "catalog": catalog}
        self.store.save(shop, data)
        return data

    def invalidate(self, shop: str | None = None) -> None:
        with self._lock:
            if shop is None:
                self._shops.clear()
            else:
                self._shops.pop(shop, None)

    # --- search -------------------------------------------------------------------------

    def search(self, shop: str, query: str, product: str | None = None,
               kind: str | Iterable[str] | None = None, k: int = 5,
               mode: Mode = "hybrid", understand: bool = True,
               intents: IntentResult | None = None) -> SearchOutcome:
        """Best documents first. `understand` turns on product resolution, the intent
        boost and query expansion; `intents` passes a classification already made."""
        query, kinds = self._validate(query, kind, k)
        state = self._state(shop)
        if product is not None and product not in state.catalog:
            raise ProductNotFound(f"shop {shop!r} has no product {product!r}")
        knobs = self.settings.retrieval

        if understand:
            query = state.corrector.correct(query)
        tokens = lexical.tokenize(query)
        pinned = [product] if product is not None else []
        wanted: list[str] = []
        if understand:
            if product is None:
                pinned = state.catalog.resolve(query, tokens)
            intents = intents or self.classifier.classify(query)
            wanted = _wanted_intents(intents, self.classifier.threshold)
            # Short colloquial questions share few words with the handbook: add the words
            # a handbook uses for the intent ("几号发" -> 发货 时间).
            for intent in wanted[:1]:
                tokens += [t for word in self.classifier.expansions.get(intent, ())
                           for t in lexical.tokenize(word)]

        rankings: list[tuple[float, list[str]]] = []
        vector = self.embedder.embed(query) if mode in ("hybrid", "dense") else None
        if vector is not None:
            # Over-fetch: filtering happens here, not in Chroma (see store.py).
            factor = 4 if (kinds is not None or product is not None) else 1
            n_dense = min(knobs.candidates * factor, len(state.lexical.ids))
            dense = self.index.query(shop, vector, n_dense, state.collection)
            known = state.lexical.kind_product
            dense = [h for h in dense if h.id in known and self._admits(known[h.id], kinds, product)][: knobs.candidates]
            rankings.append((knobs.dense_weight, [h.id for h in dense]))
        if mode in ("hybrid", "lexical"):
            lex = state.lexical.search(tokens, knobs.candidates, state.lexical.mask(kinds, product))
            rankings.append((knobs.lexical_weight, [i for i, _ in lex]))

        scores = _rrf(rankings, knobs.rrf_k)
        if wanted:
            # The scripts and policy rules written for the buyer's intent, in fused order,
            # are a third ranking (the runner-up intent at half weight).
            fused = sorted(scores, key=scores.__getitem__, reverse=True)
            order = {doc_id: rank for rank, doc_id in enumerate(fused)}
            for weight, intent in zip((knobs.intent_weight, knobs.intent_weight / 2), wanted):
                docs = [d for d, kind in state.lexical.by_intent.get(intent, []) if kinds is None or kind in kinds]
                docs.sort(key=lambda d: order.get(d, len(order)))
                for rank, doc_id in enumerate(docs, start=1):
                    scores[doc_id] = scores.get(doc_id, 0.0) + weight / (knobs.rrf_k + rank)
        ranked = sorted(scores, key=lambda i: scores[i], reverse=True)
        if kinds is None or "fact" in kinds:
            top = max(scores.values(), default=0.0)
            for rank, pid in enumerate(reversed(pinned)):
                scores[f"product:{pid}"] = top + (rank + 1) / knobs.rrf_k
            pinned_ids = [f"product:{p}" for p in pinned]
            ranked = pinned_ids + [i for i in ranked if i not in pinned_ids]
        ranked = ranked[:k]

        results = [self._result(hit, scores[hit.id]) for hit in state.get(ranked)]
        if vector is not None and (kinds is None or "approved" in kinds):
            # What agents approved for this intent (and product) comes right after the
            # product's facts: the shop's own best answer to such a question.
            learned = self._approved(shop, vector, wanted, pinned, kinds)
            lead = sum(1 for r in results if r.kind == "fact" and r.product in pinned)
            results = (results[:lead] + learned + results[lead:])[:k]
        return SearchOutcome(results=results, products=pinned, intents=wanted, query=query)

    def _approved(self, shop: str, vector: Any, wanted: list[str], pinned: list[str],
                  kinds: set[str] | None) -> list[SearchResult]:
        if self.approved is None or not (wanted or kinds == {"approved"}):
            return []
        product = pinned[0] if len(pinned) == 1 else None
        found = self.approved.search(shop, vector, wanted[0] if wanted else None, product)
        return [SearchResult(source_id=h.reply.source_id, kind="approved", product=h.reply.product,
                             text=h.reply.text, score=round(1.0 - h.distance, 6), title="已批准的回复",
                             source=f"draft:{h.reply.draft_id}", intent=h.reply.intent,
                             extra={"question": h.reply.question, "beyond": "|".join(h.reply.beyond),
                                    "edited": "true" if h.reply.edited else ""})
                for h in found]

    def _validate(self, query: str, kind: str | Iterable[str] | None, k: int) -> tuple[str, set[str] | None]:
        limits = self.settings.retrieval
        if not isinstance(query, str) or not query.strip():
            raise InvalidRequest("query: must not be empty")
        if len(query) > limits.max_query_chars:
            raise InvalidRequest(f"query: {len(query):,} characters is over the limit of {limits.max_query_chars:,}")
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= limits.max_k:
            raise InvalidRequest(f"k: must be between 1 and {limits.max_k}, got {k!r}")
        kinds: set[str] | None = None
        if kind is not None:
            kinds = {kind} if isinstance(kind, str) else set(kind)
            unknown = kinds - set(KINDS)
            if unknown or not kinds:
                raise InvalidRequest(f"kind: must be one of {', '.join(KINDS)}, got {sorted(unknown) or kind!r}")
        return query.strip(), kinds

    @staticmethod
    def _admits(kind_product: tuple[str, str], kinds: set[str] | None, product: str | None) -> bool:
        kind, owner = kind_product
        if kinds is not None and kind not in kinds:
            return False
        return product is None or owner in ("", product)

    @staticmethod
    def _result(hit: Hit, score: float) -> SearchResult:
        meta = hit.metadata
        return SearchResult(source_id=hit.id, kind=str(meta.get("kind", "")),
                            product=str(meta.get("product") or "") or None, text=hit.text,
                            score=score, title=str(meta.get("title", "")),
                            source=str(meta.get("source", "")), intent=str(meta.get("intent", "")))


def _wanted_intents(result: IntentResult, threshold: float) -> list[str]:
    """At most two intents: the best, and a runner-up that scores at least half as much."""
    ranked = [(i, s) for i, s in result.scores.items() if s >= threshold and i != "other"][:2]
    if len(ranked) == 2 and ranked[1][1] < ranked[0][1] / 2:
        ranked = ranked[:1]
    return [i for i, _ in ranked]


def _rrf(rankings: list[tuple[float, list[str]]], k: int) -> dict[str, float]:
    scores: dict[str, float] = {}
    for weight, ids in rankings:
        for rank, doc_id in enumerate(ids, start=1):
            scores[doc_id] = scores.get(doc_id, 0.0) + weight / (k + rank)
    return scores
