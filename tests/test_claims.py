"""Open-world claims (detector `claims`, rules grounding.claim / grounding.unsupported_claim)
and the policy statements added beside them: tables of reply in, rule and span out, with a
clean counter-example for each kind. Facts are the demo pack's (knowledge/demo-shop)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from service.container import Services
from service.errors import RuleError
from service.guardrails.lexicon import builtin_lexicon, load_lexicon, required_chars

CLAIM, UNSUPPORTED = "grounding.claim", "grounding.unsupported_claim"
CONTRADICTION, POLICY = "grounding.contradiction", "grounding.policy"

# (reply, chat product, {rule: offending text}); {} means no grounding rule may fire.
TABLE = [
    # attributes: polarity from the facts, a negator flips it
    ("亲，蔓越莓干是无糖的", "P024", {CLAIM: "无糖"}),                    # 配料含蔗糖
    ("亲，蔓越莓干配料含蔗糖", "P024", {}),
    ("亲，芒果干配料里有少量白砂糖，不是无糖的哦", "P022", {}),          # 不是无糖 = has sugar
    ("亲，原浆加了少量白砂糖调味", "P011", {CLAIM: "加了少量白砂糖"}),     # 不加糖
    ("亲，原浆不加水、不加糖", "P011", {}),
    ("亲，西梅干是去核的", "P025", {CLAIM: "去核"}),                      # 带核整颗
    ("亲，西梅干带核整颗", "P025", {}),
    ("亲，绿宝石葡萄干有籽的", "P017", {CLAIM: "有籽"}),
    ("亲，桂圆干是去壳的桂圆肉", "P019", {CLAIM: "去壳"}),
    ("亲，核桃仁是去壳的生仁", "P028", {}),
    ("亲，免洗小包装吃之前要洗一下哦", "P006", {CLAIM: "要洗一下"}),
    ("亲，免洗枸杞拆袋就能吃，不用洗", "P006", {}),
    ("亲，杏干颜色鲜亮是因为熏了硫", "P021", {CLAIM: "熏了硫"}),
    ("亲，杏干不熏硫，颜色是自然的橙黄偏褐", "P021", {}),
    ("亲，礼盒外盒印了价格", "P040", {CLAIM: "印了价格"}),
    ("亲，特优袋装89元，是纯头茬果哦", "P002", {CLAIM: "纯头"}),          # 头茬和二茬混合
    ("亲，比纯原浆更顺口", "P013", {}),                                 # 比纯原浆: the other thing
    ("亲，炭烧腰果是原味无盐的", "P030", {CLAIM: "无盐"}),
    ("亲，炭烧腰果含少量食盐，想控盐可以选原味无盐腰果仁", "P030", {}),   # 无盐 is the other's name
    ("亲，无花果干是冻干的", "P020", {CLAIM: "冻干"}),                    # conflicts with 自然晒干
    ("亲，特级袋装也是有机认证的", "P003", {UNSUPPORTED: "有机"}),         # facts silent: warn
    ("亲，有机会的话可以试试头茬大果", "P003", {}),
    ("亲，这款有机枸杞罐身贴有有机码", "P007", {}),
    ("亲，咱家的枸杞不染色不熏硫", "P002", {}),
    ("亲，芽茶就是用茶树嫩芽做的绿茶", "P014", {CLAIM: "茶树"}),          # 不是茶树叶子
    ("亲，芽茶是枸杞树的嫩芽，不是茶树叶子", "P014", {}),
    ("亲，您要带壳的还是去壳的？", "P019", {}),                          # a question claims nothing
    # contents of boxes and mixes
    ("亲，有的，礼盒里配了一个玻璃杯", "P040", {CLAIM: "玻璃杯"}),        # P040 has a spoon
    ("亲，礼盒里配了一只玻璃泡茶杯", "P041", {}),
    ("亲，每日坚果里有开心果和夏威夷果", "P038", {UNSUPPORTED: "开心果"}),
    ("亲，每日坚果里有核桃仁、巴旦木和腰果", "P038", {}),
    ("亲，礼盒里是三罐头茬红枸杞哦", "P040", {CLAIM: "三罐头茬红枸杞"}),
    ("亲，礼盒里是两罐头茬红枸杞加一小罐黑枸杞", "P040", {}),
    ("亲，养生干果礼盒里红枣、桂圆、枸杞各400g", "P042", {CLAIM: "各400g"}),
    ("亲，礼盒本身已经配了手提袋", "P040", {}),
    # comparisons and identity
    ("亲，和田骏枣比灰枣更甜", "P016", {CLAIM: "比灰枣更甜"}),            # 甜度比灰枣略低
    ("亲，和田骏枣甜度比灰枣略低", "P016", {}),
    ("亲，有机枸杞颗粒比常规特级更大哦", "P007", {CLAIM: "比常规特级更大"}),
    ("亲，若羌灰枣和和田骏枣一样大", "P015", {CLAIM: "和田骏枣一样大"}),  # 120-140 vs 55-65颗/500g
    ("亲，和田骏枣个头比灰枣大", "P016", {}),
    ("亲，甲级颗粒小，营养比特优差很多", "P004", {UNSUPPORTED: "比特优差"}),
    ("亲，山核桃就是纸皮核桃", "P037", {CLAIM: "山核桃就是纸皮核桃"}),
    ("亲，临安山核桃和纸皮核桃不是同一种，个头小很多", "P037", {}),
    ("亲，黑加仑就是黑葡萄干", "P018", {}),                            # two names of one product
    ("亲，顺丰通常会比中通快一些", None, {}),                          # not a product comparison
    # spec: package size, counts, price per unit, grade counts, percentages
    ("亲，原味腰果仁250g一罐79.9元", "P031", {CLAIM: "250g一罐"}),
    ("亲，原味腰果仁500g一罐79.9元", "P031", {}),
    ("亲，头茬大果罐装128元是一罐500g的", "P001", {CLAIM: "一罐500g"}),
    ("亲，尝鲜小罐是100g的", "P010", {CLAIM: "是100g"}),
    ("亲，尝鲜小罐是50g的迷你装", "P010", {}),
    ("亲，原浆家庭装是30ml×20袋", "P012", {CLAIM: "30ml×20袋"}),
    ("亲，黑枸杞尊享礼盒是诺木洪黑枸杞100g×2罐", "P041", {}),
    ("亲，年货礼包是10袋装的", "P045", {CLAIM: "是10袋装"}),
    ("亲，加一盒30袋经典款就包邮啦", "P039", {}),                        # 30袋 is the other product's
    ("亲，若羌灰枣39.9元一斤", "P015", {CLAIM: "39.9元一斤"}),           # 39.9 buys 1000g
    ("亲，特级袋装59.9元一袋", "P003", {}),
    ("亲，特级每50克不超过280粒", "P003", {CLAIM: "每50克不超过280粒"}),  # 特级 is 370
    ("亲，这款是特优级，每50克不超过280粒", "P001", {}),
    ("亲，这款是特优级的", "P003", {CLAIM: "特优"}),
    ("亲，开心果100%自然开口", "P032", {CLAIM: "100%"}),                 # 95%以上
    ("亲，开心果自然开口率95%以上", "P032", {}),
    # dates, storage after opening, brewing temperature, amounts, who may eat it, materials
    ("亲，预计11月20日补货哦", "P010", {POLICY: "11月20日补货"}),
    ("亲，预计12月5日左右补货", "P010", {}),
    ("亲，东北松子下个月1号就到货", "P035", {CLAIM: "1号就到货"}),
    ("亲，芽茶礼盒下周就补货了", "P046", {UNSUPPORTED: "下周就补货"}),
    ("亲，二茬是6月中下旬采摘的首批夏果", "P005", {CLAIM: "6月中下旬采摘"}),
    ("亲，二茬是7月上中旬采摘的", "P005", {}),
    ("亲，果汁开瓶后常温能放一周", "P013", {CLAIM: "常温"}),
    ("亲，果汁开瓶后冷藏，48小时内喝完", "P013", {}),
    ("亲，原浆未开封常温保存就行", "P011", {}),
    ("亲，纸皮核桃开袋后可以放两个月", "P027", {CLAIM: "放两个月"}),
    ("亲，黑枸杞直接用开水冲泡就好", "P009", {CLAIM: "开水"}),
    ("亲，黑枸杞用40-60℃的温水泡，别用开水", "P009", {}),
    ("亲，黑枸杞每次泡30粒", "P009", {CLAIM: "每次泡30粒"}),
    ("亲，黑枸杞每次5-10粒", "P009", {}),
    ("亲，芽茶可以续泡10次", "P014", {CLAIM: "续泡10次"}),
    ("亲，蔓越莓干糖尿病人也可以放心吃", "P024", {CLAIM: "糖尿病人也可以放心吃"}),
    ("亲，蔓越莓干含蔗糖，控糖的话要少吃", "P024", {}),
    ("亲，二茬小罐是玻璃罐装的", "P005", {CLAIM: "玻璃"}),              # PET透明密封罐
    ("亲，黑枸杞装在玻璃罐里", "P009", {}),
    # origins, policy statements
    ("亲，葡萄干是新疆和田的", "P017", {CONTRADICTION: "新疆和田的"}),
    ("亲，葡萄干是新疆吐鲁番的", "P017", {}),
    ("亲，礼盒里红枣桂圆枸杞都是新疆的", "P042", {CONTRADICTION: "是新疆的"}),
    ("亲，骏枣和灰枣都是新疆的", "P016", {}),
    ("亲，夏威夷果是澳洲进口的", "P033", {CONTRADICTION: "进口"}),
    ("亲，夏威夷果品种原产澳洲，本款是云南临沧种植的", "P033", {}),
    ("亲，蓝莓干原料是美国进口的，国内分装", "P023", {}),
    ("亲，可以开纸质专票，收货前就能开", None, {POLICY: "纸质专票"}),
    ("亲，申请开票后当天就能开出来", None, {POLICY: "当天就能开出"}),
    ("亲，店铺开增值税电子普通发票，确认收货后申请，3个工作日内开出", None, {}),
    ("亲，咱们默认发顺丰速运，不用加钱", None, {POLICY: "默认发顺丰"}),
    ("亲，默认发中通快递，顺丰需要补10元差价", None, {}),
    ("食品类概不退换。", None, {POLICY: "概不退换"}),
    ("亲，食品拆封后就不能退货了", None, {}),
    ("亲，支持微信支付的", None, {POLICY: "微信支付"}),
    ("亲，可以用花呗付款，也支持信用卡", None, {}),
]


@pytest.mark.parametrize(("text", "product", "expected"), TABLE, ids=[t for t, _, _ in TABLE])
def test_claim_table(demo: Services, text: str, product: str | None, expected: dict[str, str]) -> None:
    result = demo.guardrails.check("demo-shop", text, product=product)
    found: dict[str, list[str]] = {}
    for v in result.violations:
        if v.category == "grounding":
            found.setdefault(v.rule, []).append(text[v.span[0]:v.span[1]])
    if not expected:
        assert found == {}, found
    for rule, evidence in expected.items():
        assert rule in found, (found, text)
        assert any(evidence in got or got in evidence for got in found[rule]), (rule, found[rule], evidence)
    severities = {v.rule: v.severity for v in result.violations}
    assert all(severities[r] == ("warn" if r == UNSUPPORTED else "block") for r in expected)


def test_every_fact_line_of_every_product_passes(demo: Services) -> None:
    """A reply that repeats a product's own fact line (as the offline drafter's fact
    templates do) is never a contradicted or unsupported claim about that product."""
    catalog = demo.guardrails._shop("demo-shop").catalog
    failing = {}
    for pid, product in catalog.products.items():
        for line in product.text.splitlines()[1:]:
            label, _, value = line.partition(":")
            if label in ("价格", "库存"):
                continue
            text = f"亲，{value}～"
            rules = [v.rule for v in demo.guardrails.check("demo-shop", text, product=pid).violations
                     if v.rule in (CLAIM, UNSUPPORTED, CONTRADICTION, POLICY)]
            if rules:
                failing[(pid, label)] = rules
    assert failing == {}


def test_catalog_vocabulary(demo: Services) -> None:
    catalog = demo.guardrails._shop("demo-shop").catalog
    assert catalog.grades_of(catalog.products["P040"]) == ["特优", "特级"]  # 红枸杞特优级；黑枸杞特级
    assert catalog.grade_counts[("特级", "50g")] == frozenset({"370"})
    assert catalog.grade_counts[("W240", "1磅")] == frozenset({"240"})
    mentions = catalog.mentions("原味无盐腰果仁和红枣")
    assert [(m.term, m.products) for m in mentions][0] == ("无盐腰果", ("P031",))
    assert set(mentions[-1].products) == {"P015", "P016"}  # a kind of food: every product of it
    assert "特优级" not in catalog.naming_terms  # a grade word in a name does not name a product


def test_required_chars_are_a_safe_prefilter(demo: Services) -> None:
    """A reply is skipped for an attribute only when it holds none of the attribute's keys,
    so every match of its patterns, anywhere, must contain one."""
    assert required_chars(re.compile("加(了)?(少量)?糖|无糖")) == {"糖"}
    assert required_chars(re.compile("(要|需要)洗(一下)?")) == {"洗"}
    assert required_chars(re.compile("a?b?")) is None  # nothing is mandatory
    catalog = demo.guardrails._shop("demo-shop").catalog
    texts = [p.text for p in catalog.products.values()] + [t for t, _, _ in TABLE] + [catalog.handbook]
    matched = 0
    for attr in builtin_lexicon().attributes:
        for pattern in (attr.positive, attr.negative):
            for text in texts:
                for m in (pattern.finditer(text) if pattern is not None and attr.keys is not None else ()):
                    matched += 1
                    assert attr.keys & set(m.group(0)), (attr.id, m.group(0))  # type: ignore[operator]
    assert matched > 100


@pytest.mark.parametrize(("content", "message"), [
    ("attributes: []\n", r"claims.yaml:1: attributes: expected a list of attributes"),
    ("attributes:\n  - id: a\n    name: A\n", r"claims.yaml:2: attributes.0: attribute 'a' needs `positive`"),
    ("attributes:\n  - id: a\n    name: A\n    positive: ['(']\n",
     r"claims.yaml:4: attributes.0.positive: pattern does not compile"),
    ("attributes:\n  - id: a\n    name: A\n    positive: [x]\n    silent: loud\n",
     r"claims.yaml:5: attributes.0.silent: must be warn or pass"),
    ("attributes:\n  - id: a\n    name: A\n    positive: [x]\n    conflicts: [b]\n",
     r"claims.yaml:5: attributes.0.conflicts: unknown attribute 'b'"),
    ("attributes: [unclosed\n", r"claims.yaml:2: malformed YAML"),
])
def test_malformed_lexicon_names_file_line_field(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "claims.yaml"
    path.write_text(content + "not_is: [不是]\ncontainers: ['里有']\n" if "unclosed" not in content else content,
                    encoding="utf-8")
    with pytest.raises(RuleError, match=message):
        load_lexicon(path)


def test_claims_fail_open_without_products(demo: Services) -> None:
    """No product in the chat and none named: nothing to judge a claim against."""
    for text in ("亲，是无糖的", "亲，礼盒里配了一个玻璃杯", "亲，比那款更甜"):
        assert demo.guardrails.check("demo-shop", text).verdict == "pass", text
