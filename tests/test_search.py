"""Hybrid retrieval on the demo pack: product resolution, filters and bad input."""

from __future__ import annotations

import pytest

from service.container import Services
from service.errors import InvalidRequest, ProductNotFound, ShopNotFound


def ids(svc: Services, query: str, **kw: object) -> list[str]:
    return [r.source_id for r in svc.retriever.search("demo-shop", query, **kw).results]  # type: ignore[arg-type]


@pytest.mark.parametrize(("query", "expected_first"), [
    ("黑枸杞孕妇能吃吗", "product:P009"),           # alias resolves the product
    ("大果黑枸杞保质期多久", "product:P009"),
    ("纸皮核桃多少钱一斤", "product:P027"),
    ("夏威夷果是什么味的", "product:P033"),
])
def test_named_product_facts_come_first(demo: Services, query: str, expected_first: str) -> None:
    assert ids(demo, query)[0] == expected_first


def test_typo_in_product_name_still_resolves(demo: Services) -> None:
    outcome = demo.retriever.search("demo-shop", "诺木红黑枸杞有货吗", k=3)
    assert "P009" in outcome.products


def test_requested_product_is_first_and_filters_other_products(demo: Services) -> None:
    results = demo.retriever.search("demo-shop", "这个保质期多久", product="P027", k=10).results
    assert results[0].source_id == "product:P027"
    assert all(r.product in (None, "P027") for r in results)


def test_kind_filter(demo: Services) -> None:
    for kind in ("script", "policy", "fact"):
        results = demo.retriever.search("demo-shop", "包邮吗 满多少", kind=kind, k=5).results
        assert results and all(r.kind == kind for r in results)
    assert ids(demo, "满多少包邮", kind="policy", k=1) == ["policy:free-shipping"]


def test_scores_are_best_first(demo: Services) -> None:
    results = demo.retriever.search("demo-shop", "退货运费谁出", k=10).results
    scores = [r.score for r in results]
    assert scores == sorted(scores, reverse=True) and len(results) == 10


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"query": ""}, InvalidRequest, "query: must not be empty"),
    ({"query": "   "}, InvalidRequest, "query: must not be empty"),
    ({"query": "包邮" * 2000}, InvalidRequest, "over the limit"),
    ({"query": "包邮", "k": 0}, InvalidRequest, "k: must be between 1 and 50"),
    ({"query": "包邮", "k": 10000}, InvalidRequest, "k: must be between 1 and 50"),
    ({"query": "包邮", "kind": "faq"}, InvalidRequest, "kind: must be one of"),
    ({"query": "包邮", "product": "P999"}, ProductNotFound, "no product 'P999'"),
    ({"query": "包邮", "shop": "nope"}, ShopNotFound, "unknown shop 'nope'"),
])
def test_bad_search_input(demo: Services, kwargs: dict[str, object], error: type, message: str) -> None:
    args = {"shop": "demo-shop", "k": 5, **kwargs}
    with pytest.raises(error, match=message):  # type: ignore[call-overload]
        demo.retriever.search(**args)


def test_langchain_retriever(demo: Services) -> None:
    from service.retrieval.langchain import HuashuRetriever

    retriever = HuashuRetriever(retriever=demo.retriever, shop="demo-shop", k=3)
    docs = retriever.invoke("黑枸杞怎么泡")
    assert len(docs) == 3
    assert docs[0].metadata["source_id"] == "product:P009" and docs[0].metadata["kind"] == "fact"
    assert "黑枸杞" in docs[0].page_content
