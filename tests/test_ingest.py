"""Ingest into embedded Chroma and a real `chroma run` server: idempotent, diffing, atomic."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from service.container import Services
from service.errors import IndexChanged, IndexUnavailable, PackError, ShopNotFound
from service.knowledge.ingest import ingest_pack
from service.retrieval import lexical
from service.retrieval.hybrid import HybridRetriever
from service.retrieval.prepare import tokenize_documents
from service.retrieval.store import ChromaIndex, Hit
from tests.conftest import DEMO_PACK
from tests.packs import PRODUCTS_CSV, write_pack


def _ingest(svc: Services, pack: Path, index: ChromaIndex | None = None):  # type: ignore[no-untyped-def]
    return ingest_pack(pack, index or svc.index, svc.embedder, svc.lexical_store)


def _ids(svc: Services, shop: str) -> dict[str, str]:
    return svc.index.hashes(svc.index.collection(shop))


def _collections(svc: Services, shop: str) -> list[str]:
    prefix = ChromaIndex.collection_name(shop)
    return sorted(c.name for c in svc.index.client.list_collections() if c.name.startswith(prefix))


class _FailsWritingDocuments(ChromaIndex):
    """Chroma failing after the vectors were written, before the documents generation."""

    def write_documents(self, shop: str, documents: Sequence[Hit]) -> str:
        raise IndexUnavailable("Chroma failed to write documents: disk full")


class _StaleOnce(ChromaIndex):
    """Hands out a collection read before an ingest replaced it, once."""

    stale: Any = None

    def collection(self, shop: str) -> Any:
        if self.stale is not None:
            stale, self.stale = self.stale, None
            return stale
        return super().collection(shop)


def test_ingest_is_idempotent_and_diffs(services: Services, tmp_path: Path) -> None:
    pack = write_pack(tmp_path / "pack")
    first = _ingest(services, pack)
    assert (first.added, first.updated, first.removed) == (first.documents, 0, 0)
    before = _ids(services, "kitchen-mini")
    assert "product:K01" in before and "script:warranty" in before and "policy:free-shipping" in before

    generation = services.index.manifest("kitchen-mini")["documents_collection"]
    again = _ingest(services, pack)
    assert again.written == 0 and again.unchanged == first.documents
    assert _ids(services, "kitchen-mini") == before
    assert services.index.manifest("kitchen-mini")["documents_collection"] == generation

    # A changed product is updated, a removed one is gone, the rest untouched.
    changed = PRODUCTS_CSV.replace("K02,家用电饭煲 3L,电饭锅|饭煲,199", "K02,家用电饭煲 3L,电饭锅|饭煲,179")
    changed = "\n".join(line for line in changed.splitlines() if not line.startswith("K03")) + "\n"
    (pack / "products.csv").write_text(changed, encoding="utf-8")
    third = _ingest(services, pack)
    assert (third.added, third.updated, third.removed) == (0, 1, 1)
    after = _ids(services, "kitchen-mini")
    assert "product:K03" not in after
    assert after["product:K02"] != before["product:K02"]
    assert after["product:K01"] == before["product:K01"]
    # One documents generation is current; the replaced one is gone.
    current = services.index.manifest("kitchen-mini")["documents_collection"]
    assert current != generation
    assert _collections(services, "kitchen-mini") == sorted(["huashu_kitchen-mini", current])
    services.retriever.invalidate()
    hit = services.retriever.search("kitchen-mini", "电饭锅多少钱", k=1).results[0]
    assert hit.source_id == "product:K02" and "179元" in hit.text
    assert not [r for r in services.retriever.search("kitchen-mini", "烧水壶", k=10).results
                if r.source_id == "product:K03"]


def test_invalid_pack_leaves_index_exactly_as_it_was(services: Services, tmp_path: Path) -> None:
    pack = write_pack(tmp_path / "pack")
    _ingest(services, pack)
    before = _ids(services, "kitchen-mini")
    manifest = services.index.manifest("kitchen-mini")
    lexical = services.lexical_store.path("kitchen-mini").read_bytes()

    (pack / "products.csv").write_text(PRODUCTS_CSV.replace(",89,", ",,"), encoding="utf-8")
    (pack / "handbook" / "new.md").write_text("## 新段落 {#brand-new}\n新内容\n", encoding="utf-8")
    collections = _collections(services, "kitchen-mini")
    with pytest.raises(PackError, match=r"products.csv:4: price"):
        _ingest(services, pack)
    assert _ids(services, "kitchen-mini") == before
    assert services.index.manifest("kitchen-mini")["pack_hash"] == manifest["pack_hash"]
    assert services.lexical_store.path("kitchen-mini").read_bytes() == lexical
    assert _collections(services, "kitchen-mini") == collections


def test_failure_midway_leaves_no_half_written_index(services: Services, tmp_path: Path) -> None:
    pack = write_pack(tmp_path / "pack")
    failing = _FailsWritingDocuments(services.settings, services.index.client)
    # A new shop is built beside its final name: nothing of it is visible.
    with pytest.raises(IndexUnavailable, match="disk full"):
        _ingest(services, pack, failing)
    assert "kitchen-mini" not in services.index.shops()
    with pytest.raises(ShopNotFound):
        services.retriever.search("kitchen-mini", "破壁机", k=3)

    _ingest(services, pack)  # a clean run afterwards replaces the leftovers
    assert _collections(services, "kitchen-mini") == sorted(
        ["huashu_kitchen-mini", services.index.manifest("kitchen-mini")["documents_collection"]])
    before = _ids(services, "kitchen-mini")
    manifest = services.index.manifest("kitchen-mini")

    # An existing shop: vectors were updated in place, but readers keep the old texts and
    # manifest until the new documents generation is complete.
    (pack / "products.csv").write_text(PRODUCTS_CSV.replace(",199,", ",179,"), encoding="utf-8")
    with pytest.raises(IndexUnavailable, match="disk full"):
        _ingest(services, pack, failing)
    assert _ids(services, "kitchen-mini") == before
    assert services.index.manifest("kitchen-mini")["pack_hash"] == manifest["pack_hash"]
    services.retriever.invalidate()
    hit = services.retriever.search("kitchen-mini", "电饭锅多少钱", k=1).results[0]
    assert hit.source_id == "product:K02" and "199元" in hit.text

    report = _ingest(services, pack)
    assert report.updated == 1
    services.retriever.invalidate()
    assert "179元" in services.retriever.search("kitchen-mini", "电饭锅多少钱", k=1).results[0].text


def test_records_hold_vectors_only_and_every_process_sees_the_texts(
        services: Services, tmp_path: Path) -> None:
    report = _ingest(services, write_pack(tmp_path / "pack"))
    got = services.index.collection("kitchen-mini").get(include=["documents", "metadatas", "embeddings"])
    assert len(got["ids"]) == report.documents
    assert all(d is None for d in got["documents"]) and all(not m for m in got["metadatas"])
    assert len(got["embeddings"][0]) == services.embedder.embed("x").shape[0]

    # A fresh process (new client, no token cache) gets texts and metadata from Chroma alone.
    services.lexical_store.path("kitchen-mini").unlink()
    other = Services(services.settings)
    hit = other.retriever.search("kitchen-mini", "电饭锅多少钱", k=1).results[0]
    assert hit.source_id == "product:K02" and "199元" in hit.text and hit.title == "家用电饭煲 3L"
    assert other.retriever.state("kitchen-mini").get(["policy:free-shipping"])[0].text.startswith("包邮规则")


def test_index_of_the_previous_layout_is_read_then_rebuilt(services: Services, tmp_path: Path) -> None:
    """Schema 1 kept texts and metadata on the vector records themselves."""
    pack = write_pack(tmp_path / "pack")
    _ingest(services, pack)
    col = services.index.collection("kitchen-mini")
    docs = services.index.documents(col)
    got = col.get(include=["embeddings"])
    col.upsert(ids=got["ids"], embeddings=got["embeddings"], documents=[docs[i].text for i in got["ids"]],
               metadatas=[docs[i].metadata for i in got["ids"]])
    services.index.set_manifest(col, {**(col.metadata or {}), "schema": 1, "documents_collection": ""})
    services.index.drop_documents("kitchen-mini")
    services.lexical_store.path("kitchen-mini").unlink()

    old = Services(services.settings)
    assert "199元" in old.retriever.search("kitchen-mini", "电饭锅多少钱", k=1).results[0].text
    report = _ingest(services, pack)
    assert report.added == report.documents
    assert services.index.manifest("kitchen-mini")["schema"] == 2
    new = services.index.collection("kitchen-mini").get(include=["documents"])
    assert all(d is None for d in new["documents"])
    assert services.index.hashes(services.index.collection("kitchen-mini")) == {i: h.metadata["hash"] for i, h in docs.items()}


def test_reader_retries_when_an_ingest_replaced_its_generation(services: Services, tmp_path: Path) -> None:
    pack = write_pack(tmp_path / "pack")
    _ingest(services, pack)
    stale = services.index.collection("kitchen-mini")
    (pack / "products.csv").write_text(PRODUCTS_CSV.replace(",199,", ",179,"), encoding="utf-8")
    _ingest(services, pack)
    with pytest.raises(IndexChanged):
        services.index.documents(stale)

    index = _StaleOnce(services.settings, services.index.client)
    index.stale = stale
    retriever = HybridRetriever(services.settings, index, services.embedder, services.lexical_store)
    assert "179元" in retriever.search("kitchen-mini", "电饭锅多少钱", k=1).results[0].text


def test_shops_are_isolated(services: Services, tmp_path: Path) -> None:
    _ingest(services, write_pack(tmp_path / "a", shop_id="shop-a"))
    _ingest(services, write_pack(tmp_path / "b", shop_id="shop-b", name="另一家店",
                                 products=PRODUCTS_CSV.replace("K0", "B0")))
    assert {"shop-a", "shop-b"} <= set(services.index.shops())
    for query in ("破壁机多少钱", "电饭锅", "保修", "包邮吗", "B01", "K01"):
        for shop, other in (("shop-a", "B0"), ("shop-b", "K0")):
            results = services.retriever.search(shop, query, k=50).results
            assert results, query
            assert not [r for r in results if r.product and r.product.startswith(other)], (shop, query)
    with pytest.raises(ShopNotFound, match="unknown shop 'shop-c'"):
        services.retriever.search("shop-c", "破壁机", k=3)


def test_demo_pack_ingests_and_answers(services: Services) -> None:
    report = _ingest(services, DEMO_PACK)
    assert report.products >= 40 and report.sections >= 25
    hits = services.retriever.search("demo-shop", "黑枸杞孕妇能吃吗", k=5).results
    assert hits[0].source_id == "product:P009"


def test_lexical_cache_is_rebuilt_from_chroma(services: Services, tmp_path: Path) -> None:
    """Another host ingested (no local token file): search still works, from Chroma's documents."""
    _ingest(services, write_pack(tmp_path / "pack"))
    services.lexical_store.path("kitchen-mini").unlink()
    services.retriever.invalidate()
    hits = services.retriever.search("kitchen-mini", "料理机 保修多久", k=3, mode="lexical").results
    assert hits[0].source_id in {"product:K01", "script:warranty"}
    assert services.lexical_store.path("kitchen-mini").exists()


def test_new_embedder_rebuilds_the_collection(services: Services, tmp_path: Path) -> None:
    from service.retrieval.embeddings import HashingEmbedder

    pack = write_pack(tmp_path / "pack")
    _ingest(services, pack)
    other = HashingEmbedder(dim=256)
    report = ingest_pack(pack, services.index, other, services.lexical_store)
    assert report.added == report.documents
    assert services.index.manifest("kitchen-mini")["embedder"] == other.name
    assert services.index.shops() == ["kitchen-mini"]


def test_ingest_copy_of_demo_pack_with_a_section_removed(services: Services, tmp_path: Path) -> None:
    pack = tmp_path / "demo"
    shutil.copytree(DEMO_PACK, pack)
    first = _ingest(services, pack)
    handbook = pack / "handbook" / "04-规范与禁忌.md"
    text = handbook.read_text(encoding="utf-8")
    start = text.index("## ", text.index("{#off-topic-cost") - 40)
    end = text.index("\n## ", start + 3)
    handbook.write_text(text[:start] + text[end + 1:], encoding="utf-8")
    second = _ingest(services, pack)
    assert second.removed == 1 and second.added == 0 and second.documents == first.documents - 1
    assert "script:off-topic-cost" not in _ids(services, "demo-shop")


def test_worker_tokenises_like_this_process() -> None:
    # Words no other test teaches jieba: its dictionary is global to a process, and the
    # worker starts with the pack's words only.
    texts = [f"星空牌天文望远镜 80mm折射式 款{i:05d}(商品编号 T{i:05d})\n价格:{i}.5元\n保养方法:防潮防尘"
             for i in range(30)] + ["", "emoji😀 全角ＡＢＣ a-b_c.d"]
    names = [f"星空牌天文望远镜 款{i:05d} 观星镜{i:05d}" for i in range(30)] + ["", ""]
    words = lexical.catalog_words((n.split()[0], n.split()[1:]) for n in names if n)
    pending = tokenize_documents(texts, names, words, parallel_min=1)
    try:
        in_worker = pending.result()
    finally:
        pending.close()
    assert in_worker == tokenize_documents(texts, names, words).result()
    assert "观星镜00003" in in_worker[1][3].split() and "星空牌天文望远镜" in in_worker[0][0].split()


def test_a_worker_that_dies_is_an_error_not_a_hang() -> None:
    pending = tokenize_documents(["星空牌天文望远镜"] * 3, ["", "", ""], [], parallel_min=1)
    try:
        pending._proc.kill()  # type: ignore[attr-defined]
        with pytest.raises(IndexUnavailable, match="tokenising worker failed"):
            pending.result()
    finally:
        pending.close()
