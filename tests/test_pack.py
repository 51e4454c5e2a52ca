"""Loading and validating knowledge packs: every problem named by file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.errors import PackError
from service.knowledge.documents import build_documents
from service.knowledge.pack import load_pack
from tests.conftest import DEMO_PACK
from tests.packs import PRODUCTS_CSV, write_pack


def test_demo_pack_is_complete() -> None:
    pack = load_pack(DEMO_PACK)
    assert pack.shop.id == "demo-shop"
    assert pack.shop.platform == "tmall"
    assert len(pack.products) >= 40
    assert len(pack.sections) >= 25
    assert pack.shop.policy.free_shipping_min_order == 99
    intents = {s.intent for s in pack.sections}
    for intent in ("greeting", "authenticity", "product_question", "stock", "bargain", "gift_request",
                   "free_shipping_request", "payment", "shipping_time", "logistics", "order_change",
                   "return_exchange", "quality_issue", "complaint", "bad_review",
                   "off_topic_private", "thanks_farewell"):
        assert intent in intents, intent
    p = pack.product("P009")
    assert p is not None and "黑枸杞" in p.aliases and p.facts["shelf_life"]


def test_documents_have_stable_readable_ids() -> None:
    docs = build_documents(load_pack(DEMO_PACK))
    ids = [d.id for d in docs]
    assert len(ids) == len(set(ids))
    assert "product:P001" in ids and "script:bargain-first" in ids and "policy:free-shipping" in ids
    shipping = next(d for d in docs if d.id == "policy:free-shipping")
    assert "99元" in shipping.text and shipping.source.startswith("shop.yaml:")
    fact = next(d for d in docs if d.id == "product:P009")
    assert fact.kind == "fact" and fact.product == "P009" and "保质期" in fact.text
    assert fact.source == "products.csv:10"


def _mutate(tmp_path: Path, change: str) -> Path:
    pack = write_pack(tmp_path / "pack")
    if change == "no-shop":
        (pack / "shop.yaml").unlink()
    elif change == "bad-yaml":
        (pack / "shop.yaml").write_text("id: x\nname: [unclosed\nplatform: tmall\n", encoding="utf-8")
    elif change == "bad-field":
        text = (pack / "shop.yaml").read_text(encoding="utf-8").replace("max_per_order: 1", "max_per_order: lots")
        (pack / "shop.yaml").write_text(text, encoding="utf-8")
    elif change == "bad-shop-id":
        text = (pack / "shop.yaml").read_text(encoding="utf-8").replace("id: kitchen-mini", "id: Kitchen Mini")
        (pack / "shop.yaml").write_text(text, encoding="utf-8")
    elif change == "no-id":
        (pack / "products.csv").write_text(PRODUCTS_CSV.replace("K02,", ",", 1), encoding="utf-8")
    elif change == "no-price":
        (pack / "products.csv").write_text(PRODUCTS_CSV.replace(",199,", ",,", 1), encoding="utf-8")
    elif change == "bad-price":
        (pack / "products.csv").write_text(PRODUCTS_CSV.replace(",199,", ",一百九,", 1), encoding="utf-8")
    elif change == "dup-id":
        (pack / "products.csv").write_text(PRODUCTS_CSV.replace("K03,", "K01,", 1), encoding="utf-8")
    elif change == "no-price-column":
        (pack / "products.csv").write_text("id,name\nK01,破壁机\n", encoding="utf-8")
    elif change == "gbk":
        (pack / "handbook" / "after-sales.md").write_bytes("# 标题\n\n## 保修\n保修一年\n".encode("gbk"))
    elif change == "huge":
        with (pack / "handbook" / "huge.md").open("w", encoding="utf-8") as fh:
            fh.write("# 大文件\n\n## 段落\n")
            fh.write("很长的内容。" * 3_000_000)  # ~54 MB in UTF-8
    elif change == "dup-section":
        (pack / "handbook" / "more.md").write_text("## 再说保修 {#warranty}\n内容\n", encoding="utf-8")
    elif change == "empty-section":
        (pack / "handbook" / "more.md").write_text("## 空的 {#empty}\n\n## 有内容 {#full}\n内容\n", encoding="utf-8")
    return pack


BAD_PACKS = [
    ("no-shop", "shop.yaml: missing"),
    ("bad-yaml", "shop.yaml:3: malformed YAML: expected ',' or ']', but got ':' (while parsing a flow sequence that starts on line 2)"),
    ("bad-field", "shop.yaml:11: policy.gifts.max_per_order:"),
    ("bad-shop-id", "shop.yaml:1: id:"),
    ("no-id", "products.csv:3: id: missing"),
    ("no-price", "products.csv:3: price: missing"),
    ("bad-price", "products.csv:3: price: '一百九' is not a number"),
    ("dup-id", "products.csv:4: id: duplicate id 'K01' (first defined on line 2)"),
    ("no-price-column", "products.csv:1: header lacks required column(s) price"),
    ("gbk", "handbook/after-sales.md:1: not valid UTF-8"),
    ("huge", "handbook/huge.md: 5"),
    ("dup-section", "handbook/more.md:1: id: duplicate section id 'warranty'"),
    ("empty-section", "handbook/more.md:1: section '空的' has no text"),
]


@pytest.mark.parametrize(("change", "expected"), BAD_PACKS, ids=[c for c, _ in BAD_PACKS])
def test_bad_pack_is_named_precisely(tmp_path: Path, change: str, expected: str) -> None:
    pack = _mutate(tmp_path, change)
    with pytest.raises(PackError) as caught:
        load_pack(pack)
    assert any(p.startswith(expected) for p in caught.value.problems), caught.value.problems
    if change == "huge":
        assert "limit" in caught.value.problems[0]


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    pack = write_pack(tmp_path / "pack", products=PRODUCTS_CSV.replace(",199,", ",,").replace("K03,", ",", 1))
    with pytest.raises(PackError) as caught:
        load_pack(pack)
    assert len(caught.value.problems) == 2
    assert "2 problems" in caught.value.message


def test_jsonl_and_yaml_product_files(tmp_path: Path) -> None:
    pack = write_pack(tmp_path / "a")
    (pack / "products.csv").unlink()
    (pack / "products.jsonl").write_text(
        '{"id": "K01", "name": "破壁机", "price": 299, "aliases": ["料理机"], "power": "800W"}\n'
        '{"id": "K02", "name": "电饭煲"}\n', encoding="utf-8")
    with pytest.raises(PackError) as caught:
        load_pack(pack)
    assert caught.value.problems == ["products.jsonl:2: price: missing: every product needs a price in CNY"]
    (pack / "products.jsonl").unlink()
    (pack / "products.yaml").write_text("- id: K01\n  name: 破壁机\n  price: 299\n  power: 800W\n", encoding="utf-8")
    loaded = load_pack(pack)
    assert loaded.products[0].facts == {"power": "800W"}
