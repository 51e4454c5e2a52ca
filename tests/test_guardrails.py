"""Guardrails: tables of text in, rule and span out; rule files and overrides; API and CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from service.api.app import create_app
from service.container import Services
from service.errors import InvalidRequest, PackError, ShopNotFound
from service.guardrails.checker import RuleError, RuleSet
from service.guardrails.service import validate_pack_rules
from service.knowledge.ingest import ingest_pack
from service.knowledge.pack import load_pack
from tests.clients import local_client
from tests.conftest import DEMO_PACK
from tests.packs import write_pack

# (text, product, expected {rule: offending substring}) — an empty dict means "pass".
TABLE = [
    # authority
    ("亲，这款不能打折的哦，已经是活动价了", "P003", {}),
    ("没办法改价的亲，这是标价", None, {}),
    ("给您打个9折吧", "P003", {"authority.discount": "9折"}),
    ("亲，给您便宜5元", "P003", {"authority.discount": "便宜5元"}),
    ("那给您改价到50吧", "P003", {"authority.discount": "改价"}),
    ("亲，送您一份试吃装～", "P003", {}),
    ("再送您两罐枸杞", "P003", {"authority.gift": "再送您两罐枸杞"}),
    ("给您多送两个密封夹", "P003", {"authority.gift": "多送两个密封夹"}),
    ("送人的话推荐礼盒", None, {}),
    ("这款给您包邮", "P003", {"authority.free_shipping": "包邮"}),
    ("满99元包邮哦，您再凑一点就够了", "P003", {}),
    ("新疆也给您包邮", "P001", {"authority.free_shipping": "包邮"}),
    ("给您补偿20元红包", None, {"authority.compensation": "20元红包"}),
    ("给您补偿5元，您看可以吗", None, {}),
    ("今天就给您发货", None, {"authority.speed": "今天就给您发货"}),
    ("付款后48小时内发货哦", None, {}),
    ("保证明天到", None, {"authority.guarantee": "保证明天到"}),
    ("发货后外省一般3-5天到", None, {}),
    # grounding
    ("亲，这款59.9元", "P003", {}),
    ("这款49.9元", "P003", {"grounding.contradiction": "49.9元"}),
    ("这款保质期12个月", "P003", {"grounding.contradiction": "保质期12个月"}),
    ("亲，15天无理由退换", None, {"grounding.policy": "15天无理由"}),
    ("亲，支持7天无理由退换哦", None, {}),
    ("有货的亲，拍下就发", "P010", {"grounding.contradiction": "有货"}),
    # politeness
    ("你好，请问有什么可以帮您", None, {"polite.second_person": "你"}),
    ("迷你装很适合试吃", None, {}),
    ("不买就别问", None, {"polite.rude": "不买就别问"}),
    ("嗯", None, {"polite.bare_ack": "嗯"}),
    ("您凭什么说是假货", None, {"polite.interrogate": "凭什么"}),
    ("这是您自己的问题", None, {"polite.blame": "是您自己的问题"}),
    ("食品概不退换", None, {"polite.flat_refusal": "概不退换"}),
    ("亲，马上给您处理！！！", None, {"polite.shouting": "！！！"}),
    # compliance
    ("这是全网最好的枸杞", None, {"compliance.absolute_claim": "最好的"}),
    ("最晚48小时内发货，最近物流很快", None, {}),
    ("开封后最好放冰箱冷藏", None, {}),
    ("加我微信，私下给您优惠", None, {"compliance.off_platform": "加我微信"}),
    ("亲，我们不能私下转账哦，请在平台下单", None, {}),
    ("好评返现5元哦", None, {"compliance.review_incentive": "好评返现"}),
    ("我们的进价只要20", None, {"compliance.confidential": "进价只要"}),
    ("成本和利润是经营数据，不方便透露哦", None, {}),
    ("黑枸杞能降血糖", None, {"compliance.medical_claim": "降血糖"}),
    ("枸杞不能治病，身体不适请咨询医生", None, {}),
]


@pytest.mark.parametrize(("text", "product", "expected"), TABLE, ids=[t for t, _, _ in TABLE])
def test_rule_table(demo: Services, text: str, product: str | None, expected: dict[str, str]) -> None:
    result = demo.guardrails.check("demo-shop", text, product=product)
    found: dict[str, list[str]] = {}
    for v in result.violations:
        found.setdefault(v.rule, []).append(text[v.span[0]:v.span[1]])
    for rule, evidence in expected.items():
        assert rule in found, (found, text)
        assert any(evidence in got or got in evidence for got in found[rule]), (rule, found[rule], evidence)
    if not expected:
        assert result.verdict == "pass", found


def test_verdict_and_spans(demo: Services) -> None:
    text = "你好，这款49.9元，给您打个9折"
    result = demo.guardrails.check("demo-shop", text, product="P003")
    assert result.verdict == "block"
    assert {v.category for v in result.violations} == {"politeness", "grounding", "authority"}
    for v in result.violations:
        assert 0 <= v.span[0] < v.span[1] <= len(text) and v.message and v.suggestion
    warn_only = demo.guardrails.check("demo-shop", "亲，马上处理！！！")
    assert warn_only.verdict == "warn"


def test_demo_handbook_scripts_pass(demo: Services) -> None:
    """Every sample reply in the demo handbook's scripts (rule sections explain what not
    to say, and quote it) passes the guardrails."""
    pack = load_pack(DEMO_PACK)
    replies = [m.group(1) for s in pack.sections if not s.id.startswith("rule-")
               for m in re.finditer(r"「([^」]+)」", s.text)]
    assert len(replies) > 80
    failing = {r: [v.rule for v in demo.guardrails.check("demo-shop", r).violations] for r in replies}
    assert {r: v for r, v in failing.items() if v} == {}


@pytest.mark.parametrize(("text", "message"), [
    ("", "text: must not be empty"),
    ("  ", "text: must not be empty"),
    ("亲" * 100_000, "over the limit"),
    ("亲\x00您好", r"control character U\+0000 at offset 1"),
])
def test_bad_text(demo: Services, text: str, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        demo.guardrails.check("demo-shop", text)


def test_unknown_shop(demo: Services) -> None:
    with pytest.raises(ShopNotFound):
        demo.guardrails.check("nope", "您好")


@pytest.mark.parametrize(("content", "message"), [
    ("category: politeness\nrules:\n  - id: x\n    type: nope\n    severity: block\n    message: m\n", "unknown type 'nope'"),
    ("category: politeness\nrules:\n  - id: x\n    type: phrases\n    severity: fatal\n    message: m\n    phrases: [a]\n", "severity must be block or warn"),
    ("category: politeness\nrules:\n  - id: x\n    type: regex\n    severity: warn\n    message: m\n    patterns: ['(']\n", "pattern does not compile"),
    ("category: manners\nrules:\n  - id: x\n    type: phrases\n    severity: warn\n    message: m\n    phrases: [a]\n", "category must be one of"),
    ("category: politeness\nrules: [unclosed\n", "malformed YAML"),
])
def test_malformed_rule_files_fail_at_load(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "bad.yaml").write_text(content, encoding="utf-8")
    with pytest.raises(RuleError, match=message) as caught:
        RuleSet.builtin(tmp_path)
    assert "bad.yaml" in caught.value.message


def test_pack_overrides(services: Services, tmp_path: Path) -> None:
    pack = write_pack(tmp_path / "pack")
    (pack / "guardrails.yaml").write_text(
        "disable: [polite.shouting]\n"
        "severity: {compliance.absolute_claim: warn}\n"
        "rules:\n"
        "  - id: shop.no_competitor\n    category: compliance\n    type: phrases\n    severity: block\n"
        "    message: 不提竞争对手\n    phrases: [某东]\n", encoding="utf-8")
    ingest_pack(pack, services.index, services.embedder, services.lexical_store, validate=validate_pack_rules)
    g = services.guardrails
    assert g.check("kitchen-mini", "马上处理！！！").verdict == "pass"
    assert g.check("kitchen-mini", "这是最好的破壁机").verdict == "warn"
    result = g.check("kitchen-mini", "某东更贵哦")
    assert [v.rule for v in result.violations] == ["shop.no_competitor"]

    (pack / "guardrails.yaml").write_text("disable: [no.such.rule]\n", encoding="utf-8")
    with pytest.raises(PackError, match="disable: unknown rule 'no.such.rule'"):
        ingest_pack(pack, services.index, services.embedder, services.lexical_store, validate=validate_pack_rules)


def test_check_api(demo: Services) -> None:
    with local_client(create_app(services=demo)) as client:
        r = client.post("/v1/check", json={"shop": "demo-shop", "product": "P003", "text": "你好，给您打个9折",
                                           "history": [{"role": "buyer", "text": "能便宜点吗"}]})
        assert r.status_code == 200
        body = r.json()
        assert body["verdict"] == "block"
        rules = {v["rule"]: v for v in body["violations"]}
        assert rules["authority.discount"]["span"] == [7, 9]
        assert rules["authority.discount"]["category"] == "authority"
        assert rules["polite.second_person"]["severity"] == "block"
        assert client.post("/v1/check", json={"shop": "demo-shop", "text": ""}).json()["error"]["code"] == "invalid_request"
        assert client.post("/v1/check", json={"shop": "nope", "text": "您好"}).status_code == 404
        ok = client.post("/v1/check", json={"shop": "demo-shop", "text": "亲，满99元包邮哦"}).json()
        assert ok == {"verdict": "pass", "violations": []}


def test_check_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from service.cli import app
    from service.config import get_settings

    monkeypatch.setenv("HUASHU_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        assert runner.invoke(app, ["ingest", str(DEMO_PACK)]).exit_code == 0
        blocked = runner.invoke(app, ["check", "--shop", "demo-shop", "--json", "给您打个9折"])
        assert blocked.exit_code == 1 and json.loads(blocked.stdout)["verdict"] == "block"
        passed = runner.invoke(app, ["check", "--shop", "demo-shop", "亲，满99元包邮哦"])
        assert passed.exit_code == 0 and "verdict: pass" in passed.stdout
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize(("text", "fixed", "still"), [
    ("你好，这款是你要的吗", "您好，这款是您要的吗", "pass"),
    ("这是最好的枸杞！！！", "这是很好的枸杞！", "pass"),
    ("迷你装给你留着", "迷你装给您留着", "pass"),
    ("给你打个9折", "给您打个9折", "block"),   # the discount needs a person, not a repair
])
def test_repair(demo: Services, text: str, fixed: str, still: str) -> None:
    result = demo.guardrails.check_and_repair("demo-shop", text)
    assert result.text == fixed
    assert result.changes and all(c.before != c.after for c in result.changes)
    assert result.result is not None and result.result.verdict == still


def test_eval_guardrails_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from service.cli import app
    from service.config import get_settings

    monkeypatch.setenv("HUASHU_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text(
        '{"id": "a", "shop": "demo-shop", "text": "给您打个9折", "expected": [{"category": "authority", "evidence": "9折"}]}\n'
        "not json\n"
        '{"id": "b", "shop": "demo-shop", "text": "亲，满99元包邮哦", "expected": []}\n'
        '{"id": "c", "shop": "demo-shop", "text": "你好", "expected": []}\n', encoding="utf-8")
    runner = CliRunner()
    try:
        runner.invoke(app, ["ingest", str(DEMO_PACK)])
        result = runner.invoke(app, ["eval", "guardrails", str(labelled), "--json"])
        assert result.exit_code == 0, result.output
        body = json.loads(result.stdout)
        assert body["cases"] == 3 and body["errors"][0].startswith("labelled.jsonl:2:")
        scores = {s["category"]: s for s in body["scores"]}
        assert scores["authority"]["tp"] == 1 and scores["politeness"]["fp"] == 1
        assert [m["id"] for m in body["misses"]] == ["c"]
        assert body["clean_passed"] == 1 and body["clean_total"] == 2
    finally:
        get_settings.cache_clear()
