"""Ingest into embedded Chroma and a real `chroma run` server: idempotent, diffing, atomic."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from service.container import Services
from service.errors import PackError, ShopNotFound
from service.knowledge.ingest import ingest_pack
from tests.conftest import DEMO_PACK
from tests.packs import PRODUCTS_CSV, write_pack


def _ingest(svc: Services, pack: Path):  # type: ignore[no-untyped-def]
    return ingest_pack(pack, svc.index, svc.embedder, svc.lexical_store)


def _ids(svc: Services, shop: str) -> dict[str, str]:
    return svc.index.hashes(svc.index.collection(shop))


def test_ingest_is_idempotent_and_diffs(services: Services, tmp_path: Path) -> None:
    pack = write_pack(tmp_path / "pack")
    first = _ingest(services, pack)
    assert (first.added, first.updated, first.removed) == (first.documents, 0, 0)
    before = _ids(services, "kitchen-mini")
    assert "product:K01" in before and "script:warranty" in before and "policy:free-shipping" in before

    again = _ingest(services, pack)
    assert again.written == 0 and again.unchanged == first.documents
    assert _ids(services, "kitchen-mini") == before

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
    with pytest.raises(PackError, match=r"products.csv:4: price"):
        _ingest(services, pack)
    assert _ids(services, "kitchen-mini") == before
    assert services.index.manifest("kitchen-mini")["pack_hash"] == manifest["pack_hash"]
    assert services.lexical_store.path("kitchen-mini").read_bytes() == lexical


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
