"""Detector types that rules (YAML) refer to by name, registered with `@detector`.

A detector takes the rule's parameters, the text and the check context, and yields spans
[start, end) with an optional detail for the message. Whether a rule fails open or closed
is stated per detector below: "closed" means it flags when unsure, "open" that it stays
silent when the context it needs (a product, a price) is missing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import lru_cache
from dataclasses import dataclass, field
from typing import Any

from service.guardrails.context import CheckContext, ProductFacts
from service.guardrails.lexicon import builtin_lexicon

Span = tuple[int, int, str]  # start, end, detail ("" when the rule's message says it all)
Detector = Callable[["RuleSpec", str, CheckContext], Iterator[Span]]
DETECTORS: dict[str, Detector] = {}

CN_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "俩": 2, "三": 3, "四": 4, "五": 5, "六": 6,
             "七": 7, "八": 8, "九": 9, "十": 10, "半": 0.5}
NEGATORS = re.compile(
    # 不过 (but), 不错 (good), 不少 (many) … contain 不 and negate nothing.
    r"(不(?![过错少仅但久管如好客用到满够])|没(?![关事])|無|无法|别|勿|禁止|没办法|没法|并非|严禁|"
    r"拒绝|避免)"
)
QUALITY_CONTEXT = re.compile(r"(质量|坏|碎|破损|压坏|压扁|发霉|少发|漏发|发错|补发|补寄|变质|胀袋|虫|漏液|过期)")
CLAUSE_END = re.compile(r"[，。！？,.!?；;\n~～]")
SENTENCE_END = re.compile(r"[。！？!?\n]")
NUM = r"(\d+(?:\.\d+)?|[一二两三四五六七八九十半]+)"


@dataclass(frozen=True)
class RuleSpec:
    id: str
    category: str
    severity: str
    type: str
    message: str
    suggestion: str = ""
    params: dict[str, Any] = field(default_factory=dict)


def detector(name: str) -> Callable[[Detector], Detector]:
    def register(fn: Detector) -> Detector:
        DETECTORS[name] = fn
        return fn
    return register


# --- helpers -------------------------------------------------------------------------------


def to_number(raw: str) -> float | None:
    """'12', '3.5', '九', '十五', '两' -> number."""
    try:
        return float(raw)
    except ValueError:
        pass
    if not raw or any(c not in CN_DIGITS for c in raw):
        return None
    if raw == "十":
        return 10.0
    if "十" in raw:
        tens, _, ones = raw.partition("十")
        return float((CN_DIGITS[tens] if tens else 1) * 10 + (CN_DIGITS[ones] if ones else 0))
    if len(raw) == 2 and all(c in "一二三四五六七八九" for c in raw):  # 八五折 -> 8.5
        return CN_DIGITS[raw[0]] + CN_DIGITS[raw[1]] / 10
    return float(CN_DIGITS[raw[0]]) if len(raw) == 1 else None


def clause_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    left = max((m.end() for m in CLAUSE_END.finditer(text, 0, start)), default=0)
    right = CLAUSE_END.search(text, end)
    return left, right.start() if right else len(text)


def negated(text: str, start: int, window: int = 8) -> bool:
    """A negator shortly before `start` in the same clause ("不能给您打折")."""
    left, _ = clause_bounds(text, start, start)
    before = text[max(left, start - window): start]
    return bool(NEGATORS.search(before))


def refused_after(text: str, end: int) -> bool:
    """A refusal right after the match in the same clause ("打折是不行的", "包邮做不到")."""
    _, right = clause_bounds(text, end, end)
    return bool(re.search(r"(不行|不了|做不到|办不到|不可以|不能|没办法|没有的|不支持|不包)", text[end:right]))


def compile_all(patterns: list[str]) -> list[re.Pattern[str]]:
    return [re.compile(p, re.IGNORECASE) for p in patterns]


def sentence_negated(text: str, start: int, end: int) -> bool:
    """A refusal anywhere in the sentence: "其他顾客的地址……小杞不能告诉任何人"."""
    left = max((m.end() for m in SENTENCE_END.finditer(text, 0, start)), default=0)
    right = SENTENCE_END.search(text, end)
    return bool(NEGATORS.search(text[left:right.start() if right else len(text)]))


def _matches(rule: RuleSpec, text: str, patterns: list[re.Pattern[str]],
             ctx: CheckContext | None = None) -> Iterator[Span]:
    ctx = ctx or CheckContext()
    allow = [a for a in rule.params.get("allow", [])]
    negatable = rule.params.get("negatable", False)
    whole_sentence = rule.params.get("negation") == "sentence"
    unless = rule.params.get("unless_context", [])
    if unless:
        scope = text + " ".join(ctx.history)
        if any(word in scope for word in unless):
            return
    for pattern in patterns:
        for m in pattern.finditer(text):
            if any(text.find(a, max(0, m.start() - len(a)), m.end() + len(a)) != -1
                   and _overlaps(text, a, m.start(), m.end()) for a in allow):
                continue
            if negatable and (negated(text, m.start()) or refused_after(text, m.end())):
                continue
            if whole_sentence and sentence_negated(text, m.start(), m.end()):
                continue
            yield m.start(), m.end(), ""


def _overlaps(text: str, word: str, start: int, end: int) -> bool:
    for m in re.finditer(re.escape(word), text):
        if m.start() < end and start < m.end():
            return True
    return False


# --- generic detectors (fail closed: they flag what they match) ----------------------------


@detector("phrases")
def phrases(rule: RuleSpec, text: str, ctx: CheckContext) -> Iterator[Span]:
    """Literal phrases. Params: phrases, allow (words that contain a match and are fine),
    negatable (skip when refused: "不能加微信")."""
    yield from _matches(rule, text, rule.params["_compiled"], ctx)


@detector("regex")
def regex(rule: RuleSpec, text: str, ctx: CheckContext) -> Iterator[Span]:
    """Regular expressions. Params: patterns, allow, negatable, negation: sentence (a refusal
    anywhere in the sentence counts), unless_context (words in the text or the buyer's
    messages that make the wording legitimate, e.g. a quality problem)."""
    yield from _matches(rule, text, rule.params["_compiled"], ctx)


@detector("second_person")
def second_person(rule: RuleSpec, text: str, ctx: CheckContext) -> Iterator[Span]:
    """你 addressing the buyer. Params: allow (words where 你 is fine, e.g. 迷你)."""
    allow = rule.params.get("allow", [])
    for m in re.finditer("你", text):
        if any(_overlaps(text, word, m.start(), m.end()) for word in allow):
            continue
        yield m.start(), m.end(), ""


@detector("max_length")
def max_length(rule: RuleSpec, text: str, ctx: CheckContext) -> Iterator[Span]:
    """Longer than `max_chars`: chat replies are read on a phone."""
    limit = int(rule.params.get("max_chars", 300))
    if len(text) > limit:
        yield limit, len(text), f"{len(text)} 字,超过 {limit} 字"


# --- authority (read from the shop's policy) -----------------------------------------------

DISCOUNT_RATE = re.compile(rf"{NUM}\s*折")
CHARGE = re.compile(r"(给您|算您|就给您|收您)(就)?算?\s*(\d+(?:\.\d+)?)\s*(元|块)?(?!\s*(个|天|小时|克|g|斤|%))")
PRICE_CUT = re.compile(rf"(便宜|优惠|减|少收|让|抹掉?|立减|降|少算)(您|你|了)?\s*{NUM}\s*(元|块)")


@detector("discount")
def discount(rule: RuleSpec, text: str, ctx: CheckContext) -> Iterator[Span]:
    """Discounts and price changes beyond policy. Fails closed on price cuts, open on 折
    figures the policy allows. Params: phrases (price-change wording)."""
    policy = ctx.policy
    for m in DISCOUNT_RATE.finditer(text):
        rate = to_number(m.group(1))
        if rate is not None and 10 < rate < 100:
            rate /= 10  # 95折 is 9.5折
        if rate is None or not 0 < rate < 10 or negated(text, m.start()) or refused_after(text, m.end()):
            continue
        if (10 - rate) * 10 > policy.max_discount_percent + 1e-9:
            yield m.start(), m.end(), f"{m.group(0)} 超出可给的折扣({policy.max_discount_percent:g}%)"
    if policy.price_adjustable and policy.max_discount_percent > 0:
        return
    for m in PRICE_CUT.finditer(text):
        if not (negated(text, m.start()) or refused_after(text, m.end())):
            yield m.start(), m.end(), ""
    prices = ctx.prices()
    for m in CHARGE.finditer(text):
        value = float(m.group(3))
        if prices and any(abs(value - p * n) < 0.01 for p in prices for n in range(1, 11)):
            continue  # quoting the listed price (or a multiple) is not a discount
        if not negated(text, m.start()):
            yield m.start(), m.end(), ""
    yield from _matches(rule, text, rule.params["_compiled"], ctx)


GIFT = re.compile(
    # 送人/送礼/送长辈 name a recipient, 赠品 is a noun, 送货/送到 is delivery: none is a gift.
    # "给您加一份试吃装" gives too; "您再加一罐" is the buyer buying more, not a gift.
    rf"(?<![配运快递])(加送|多送|再送|附赠|赠送|送|赠|给您加|给您塞|给您放|给你加)"
    rf"(?![货到达出去回人礼品长辈朋友爸妈父母领导客户老师同事孩子家人给他给她])(给)?(您|你)?(再)?{NUM}?\s*"
    r"(个|份|袋|罐|盒|包|瓶|只|支|斤|块)?([\u4e00-\u9fffA-Za-z]{1,8})"
)


GENERIC_GIFT = re.compile(r"^(小)?(赠品|礼物|礼品|小礼|福利)")


@detector("gift")
def gift(rule: RuleSpec, text: str, ctx: CheckContext) -> Iterator[Span]:
    """Gifts outside `gifts.allowed` or above `max_per_order`. Fails closed."""
    gifts = ctx.policy.gifts
    allowed = [re.sub(rf"{NUM}(个|份|袋|罐|盒|包|瓶|只)$", "", g) for g in gifts.allowed]
    for m in GIFT.finditer(text):
        if negated(text, m.start()) or refused_after(text, m.end()):
            continue
        item = m.group(7)
        qty = to_number(m.group(5)) if m.group(5) else 1.0
        if item.startswith(("您", "的", "什么", "啥", "给")):
            continue
        matched = next((a for a in allowed if a and (a in item or item.startswith(a[:2]))), None)
        if matched is None and GENERIC_GIFT.match(item):
            matched = item  # "送一份小赠品": the quantity is checked, the item is unnamed
        if matched is None:
            if gifts.allowed or gifts.max_per_order == 0:
                yield m.start(), m.end(), f"“{item}”不在可赠送的礼品里"
        elif qty is not None and qty > gifts.max_per_order:
            yield m.start(), m.end(), f"每单最多送 {gifts.max_per_order} 份"


FREE_SHIPPING = re.compile(r"(包邮|免邮|免运费|不收运费|运费(我们|店铺|小店)?(来出|出了|承担|包了))")


@detector("free_shipping")
def free_shipping(rule: RuleSpec, text: str, ctx: CheckContext) -> Iterator[Span]:
    """Free shipping the policy does not give. Fails open without a product (the order total
    is unknown), closed for excluded regions."""
    policy = ctx.policy
    threshold = policy.free_shipping_min_order
    excluded = list(policy.model_extra.get("free_shipping_excluded_regions", []) if policy.model_extra else [])
    quality = bool(QUALITY_CONTEXT.search(text + " ".join(ctx.history)))
    for m in FREE_SHIPPING.finditer(text):
        if negated(text, m.start()) or refused_after(text, m.end()):
            continue
        if quality and m.group(0).startswith("运费"):
            continue  # the seller pays shipping for quality problems: policy, not a favour
        left, right = clause_bounds(text, m.start(), m.end())
        sentence = text[left:right]
        if threshold is None:
            yield m.start(), m.end(), "本店不设包邮"
            continue
        if re.search(rf"满\s*{threshold:g}|{threshold:g}\s*元", sentence):
            continue  # stating the rule, not granting it
        region = next((r for r in excluded if r in sentence), None)
        if region and not re.search(r"(除外|不包|补|加)", text[left:right]):
            yield m.start(), m.end(), f"{region}不在包邮范围"
        elif ctx.product is not None and ctx.product.price is not None and ctx.product.price < threshold:
            if not re.search(r"(凑|满|加购|再买|两件|两罐|两袋|一起)", text):
                yield m.start(), m.end(), f"这款 {ctx.product.price:g} 元,不满 {threshold:g} 元"


COMPENSATION = re.compile(rf"{NUM}\s*(元|块)(钱)?(的)?\s*(红包|优惠券|券|补偿|现金|无门槛)?")
COMPENSATION_WORDS = re.compile(r"(补偿|赔|红包|优惠券|券|退您|返您|补您|补给您|返现|退给您|退还您|补贴)")


@detector("compensation")
def compensation(rule: RuleSpec, text: str, ctx: CheckContext) -> Iterator[Span]:
    """Compensation above `compensation_max_cny`. Fails open when no compensation word is
    in the clause (the amount may be a price)."""
    cap = ctx.policy.compensation_max_cny
    total = 0.0
    for m in COMPENSATION.finditer(text):
        amount = to_number(m.group(1))
        left, right = clause_bounds(text, m.start(), m.end())
        if amount is None or not COMPENSATION_WORDS.search(text[left:right]):
            continue
        if re.search(r"(满|价|售价|运费|邮费|差价|补\s*$)", text[max(left, m.start() - 3):m.start()]):
            continue
        if re.search(r"(好评|差评|中评|评价|追评|晒图)", text):
            continue  # paying for reviews is the review-incentive rule's (compliance)
        if negated(text, m.start(), window=12) or refused_after(text, m.end()):
            continue
        total += amount
        if amount > cap + 1e-9:
            yield m.start(), m.end(), f"超过可自行补偿的 {cap:g} 元"
        elif total > cap + 1e-9:
            yield m.start(), m.end(), f"合计 {total:g} 元,超过可自行补偿的 {cap:g} 元"


DISPATCH = re.compile(r"(今天|今晚|马上|立刻|立即|当天|明天|明早|明天上午|明天下午)\s*(就|都|一定|肯定)?(能|可以|会)?(给您)?(安排)?(发货|发出|发走|寄出|发)")
ARRIVAL = re.compile(rf"(今天|明天|后天|{NUM}\s*天(内|之内|以内)?)\s*(就|肯定|一定|保证)?(能|可以|会)?(送到|到货|收到|送达|到)")
REGION_DAYS = {"same_province": ("宁夏", "银川", "中卫", "同省", "省内"), "remote": ("新疆", "西藏")}


@detector("speed")
def speed(rule: RuleSpec, text: str, ctx: CheckContext) -> Iterator[Span]:
    """Dispatch or delivery faster than the policy. Fails closed on dispatch promises."""
    policy = ctx.policy
    for m in DISPATCH.finditer(text):
        if negated(text, m.start()) or refused_after(text, m.end()):
            continue
        # (A stated number of hours is a claim about the policy: grounding checks it.)
        yield m.start(), m.end(), f"发货承诺快于 {policy.dispatch_within_hours} 小时"
    region = "other"
    scope = text + " ".join(ctx.history)
    for key, names in REGION_DAYS.items():
        if any(n in scope for n in names):
            region = key
    days_range = policy.delivery_days.get(region) or policy.delivery_days.get("other")
    low = to_number(str(days_range).split("-")[0]) if days_range else None
    if low is None:
        return
    for m in ARRIVAL.finditer(text):
        if negated(text, m.start()) or refused_after(text, m.end()):
            continue
        if re.search(r"\d\s*[-~到至]\s*$", text[max(0, m.start() - 3):m.start()]):
            continue  # "3-5天到" states the policy's range: grounding checks it
        days = {"今天": 0.0, "明天": 1.0, "后天": 2.0}.get(m.group(1)) if not m.group(2) else to_number(m.group(2))
        if days is None:
            continue
        if re.search(r"(大概|一般|预计|左右|约|通常|正常)", text[max(0, m.start() - 6):m.end() + 3]) and days >= low:
            continue
        if days < low:
            yield m.start(), m.end(), f"到货承诺快于政策({days_range} 天)"


# --- grounding (facts and policy) ----------------------------------------------------------

PRICE = re.compile(r"(\d+(?:\.\d+)?)\s*(元|块)")
PRICE_CONTEXT = re.compile(r"(这款|这个|这罐|这袋|这盒|它|价格|售价|现价|到手价|只要|才|卖|价|一罐|一袋|一盒|单价)")
THIS_PRODUCT = re.compile(r"(这款|这个|这罐|这袋|这盒|它|该商品|本品|咱家这)")
SHELF = re.compile(rf"保质期\S{{0,4}}?{NUM}\s*(个月|年|天)")
RETURN_DAYS = re.compile(rf"{NUM}\s*天(内)?(都)?(可以)?(无理由|退换|包退|退货)")
STOCK_CLAIM = re.compile(r"(有货|有现货|现货|库存充足|货很足|马上就?能?发|随时能拍|可以直接拍|直接拍就行)")


PLACES = ("宁夏", "中宁", "中卫", "银川", "青海", "柴达木", "诺木洪", "格尔木", "新疆", "若羌", "和田", "阿克苏",
          "吐鲁番", "库车", "阿图什", "莎车", "哈密", "喀什", "甘肃", "内蒙古", "河北", "山东", "山西", "陕西",
          "西安", "云南", "漾濞", "华坪", "四川", "广东", "广西", "海南", "福建", "莆田", "浙江", "临安", "江苏",
          "东北", "黑龙江", "伊春", "吉林", "辽宁", "长白山", "美国", "加州", "越南", "泰国", "澳洲", "智利",
          "土耳其", "伊朗")
ORIGIN_CLAIM = re.compile(rf"(是|产自|来自|产地是|产地在|原产地是|都是|也是)?({'|'.join(PLACES)})(?:(?![发寄送到运])[\u4e00-\u9fff]){{0,4}}?(产的|产|的货|的)")
PLACE_WORD = re.compile("|".join(sorted(PLACES, key=len, reverse=True)))
SCARCITY = re.compile(r"(只剩|仅剩|就剩|只有|剩下)(最后)?(不到)?\s*(\d+|[一二两三四五六七八九十几]+)\s*(盒|罐|袋|件|份|包|箱|瓶)")
STOCK_WORDS = re.compile(r"(库存|有货|现货|没货|缺货|补货|到货)")


@detector("facts")
def facts(rule: RuleSpec, text: str, ctx: CheckContext) -> Iterator[Span]:
    """Claims that contradict the facts of the product in the chat or of a product the reply
    names: prices, shelf life, stock, origin (every place named, 都是 for a box from several
    provinces, 进口 for a domestic origin). A price of any product in the shop is accepted
    unless the clause says it is this product's. Fails open without products."""
    known = ctx.known_numbers()
    for m in PRICE.finditer(text):
        value = float(m.group(1))
        left, right = clause_bounds(text, m.start(), m.end())
        before = text[left:m.start()]
        if COMPENSATION_WORDS.search(text[left:right]) or re.search(
                r"(运费|邮费|差价|满|还差|合计|一共|共|总共|成本|进价|利润|赚)", before):
            continue
        named = [p for p in ctx.products() if p.price is not None and _names(p, text[left:right])]
        if not named and ctx.product is not None and ctx.product.price is not None and (
                THIS_PRODUCT.search(before) or (PRICE_CONTEXT.search(before) and value not in ctx.shop_prices)):
            named = [ctx.product]
        if named:
            if not any(abs(value - p.price) < 0.01 or _is_multiple(value, p.price) for p in named):  # type: ignore[operator]
                yield m.start(), m.end(), f"标价 {'/'.join(f'{p.price:g}' for p in named)} 元"
        elif ctx.shop_prices and value not in ctx.shop_prices and value not in known and PRICE_CONTEXT.search(before):
            yield m.start(), m.end(), "店里没有这个价格"
    for product in ctx.products():
        shelf = _fact_number(product.text, "保质期")
        for m in SHELF.finditer(text):
            if product is not ctx.product and not _names(product, text[max(0, m.start() - 20):m.start()]):
                continue
            value = to_number(m.group(1))
            months = value * 12 if m.group(2) == "年" and value is not None else value
            if shelf is not None and months is not None and m.group(2) != "天" and abs(months - shelf) > 1e-9:
                yield m.start(), m.end(), f"保质期应为 {shelf:g} 个月"
    yield from _stock_claims(text, ctx)
    yield from _origin_claims(text, ctx)


def _names(product: ProductFacts, snippet: str) -> bool:
    """Does `snippet` name the product (its name without the brand, or an alias)?"""
    aliases = [a for a in product.fact("又称").split("、") if len(a) >= 2]
    core = product.name.split()
    # Name parts shorter than three characters (袋装, 罐装) are shared by many products.
    parts = [t for t in (core[1:] if len(core) > 1 else core) if len(t) >= 3]
    return any(t in snippet for t in [*aliases, *parts])


def _stock_claims(text: str, ctx: CheckContext) -> Iterator[Span]:
    for m in STOCK_CLAIM.finditer(text):
        if negated(text, m.start()):
            continue
        left, right = clause_bounds(text, m.start(), m.end())
        sentence = text[max(0, left - 30):right]
        named = [p for p in ctx.mentioned if _names(p, sentence)]
        if ctx.catalog is not None:
            # The product named nearest before the claim ("…礼盒在补货，单罐芽茶有现货").
            from service.guardrails.claims import subjects
            primary = subjects(text, m.start(), m.end(), ctx, ctx.catalog).primary
            named = [p for p in primary if p is not ctx.product] or named
        target = named[0] if named else ctx.product
        if not named and ctx.product is not None and ctx.product.price is not None:
            quoted = [float(x.group(1)) for x in PRICE.finditer(text[left:right])]
            if any(abs(q - ctx.product.price) > 0.01 for q in quoted):
                continue  # the clause is about another product, priced differently
        if target is not None and target.stock == 0:
            yield m.start(), m.end(), f"{target.name.split()[-1] if target.name else '这款'}目前缺货"
    for m in SCARCITY.finditer(text):
        target = ctx.product or (ctx.mentioned[0] if ctx.mentioned else None)
        amount = to_number(m.group(4).replace("几", "九"))
        if target is not None and target.stock is not None and amount is not None and target.stock > amount * 3:
            yield m.start(), m.end(), f"库存 {target.stock}"


def _origin_claims(text: str, ctx: CheckContext) -> Iterator[Span]:
    warehouse = str(ctx.shop.get("warehouse", ""))
    for m in re.finditer(rf"(从)?({'|'.join(PLACES)})[\u4e00-\u9fff]{{0,3}}(仓库|仓)?(发货|发出|发的货)", text):
        if warehouse and m.group(2) not in warehouse and not negated(text, m.start()):
            yield m.start(), m.end(), f"发货地是{warehouse}"
    for m in ORIGIN_CLAIM.finditer(text):
        place = m.group(2)
        left, right = clause_bounds(text, m.start(), m.end())
        sentence = text[max(0, left - 25):right]
        named = [p for p in ctx.products() if _names(p, sentence)]
        candidates = named or ([ctx.product] if ctx.product is not None else [])
        if ctx.product is not None and ctx.product not in candidates:
            candidates.append(ctx.product)  # "与中宁枸杞是不同产区…标注青海产地": still the chat's product
        if not candidates or negated(text, m.start()):
            continue
        if re.search(r"(发货|仓库|快递|地区|包邮|运费|补)", text[m.end():right]):
            continue  # a place in a shipping sentence is a destination, not an origin
        # Every place in the claim must be the product's: "新疆和田的" for raisins from 吐鲁番
        # names 新疆 rightly and 和田 wrongly.
        places = [x.group(0) for x in PLACE_WORD.finditer(m.group(0))] or [place]
        where = [p.fact("产地") + p.name + p.fact("备注") + p.fact("又称") for p in candidates]
        wrong = next((x for x in places if all(x not in w for w in where)), None)
        if wrong is not None:
            yield m.start(), m.end(), f"产地是{candidates[0].fact('产地') or '详情页所写'}"
        elif re.search(r"(都是|全是|全都是|均为|全部是|都产自|都来自|都)$",
                       text[max(left, m.start() - 4):m.start() + len(m.group(1) or "")]):
            # "红枣桂圆枸杞都是新疆的" for a box from three provinces.
            parts = [x for x in re.split(r"[、，,；;+]", candidates[0].fact("产地")) if PLACE_WORD.search(x)]
            if len(parts) > 1 and any(all(pl not in part for pl in places) for part in parts):
                yield m.start(), m.end(), f"产地是{candidates[0].fact('产地')}"
    yield from _imported_claims(text, ctx)


FOREIGN = ("美国", "加州", "加利福尼亚", "缅因", "佐治亚", "威斯康星", "越南", "泰国", "澳洲", "澳大利亚", "智利",
           "土耳其", "伊朗", "日本", "韩国", "新西兰", "加拿大", "意大利", "法国", "西班牙", "进口")
IMPORTED = re.compile(r"(进口|国外产|国外的|海外产|海外直采)")
DOMESTIC = re.compile(rf"({'|'.join(p for p in PLACES if p not in FOREIGN)}|省|自治区)")


def _imported_claims(text: str, ctx: CheckContext) -> Iterator[Span]:
    """"夏威夷果是澳洲进口的" for nuts grown in 云南. Fails open when the origin names no place."""
    for m in IMPORTED.finditer(text):
        if negated(text, m.start()) or text[max(0, m.start() - 1):m.start()] == "比":
            continue
        left, right = clause_bounds(text, m.start(), m.end())
        sentence = text[max(0, left - 25):right]
        named = [p for p in ctx.products() if _names(p, sentence)]
        candidates = named or ([ctx.product] if ctx.product is not None else [])
        origins = [p.fact("产地") for p in candidates]
        if not candidates or any(any(f in o for f in FOREIGN) for o in origins):
            continue
        if any(re.search(r"(?<!比)进口", p.text) for p in candidates):
            continue
        if all(DOMESTIC.search(o) for o in origins):
            yield m.start(), m.end(), f"产地是{origins[0]}"


POLICY_DISPATCH = re.compile(r"(\d+)\s*(个)?小时(内|之内|以内)?[^，。！？]{0,3}(发货|发出|安排发货)")
POLICY_RANGE = re.compile(r"(\d+)\s*[-~到至]\s*(\d+)\s*(个)?(工作日|天)")
POLICY_THRESHOLD = re.compile(r"满\s*(\d+(?:\.\d+)?)\s*(元|块)?\s*(就|即可|才)?(全国)?(包邮|免邮|免运费)")
POLICY_FEE = re.compile(r"补\s*(\d+(?:\.\d+)?)\s*(元|块)(的)?(运费|邮费|差价)?")
CLAIM_WINDOW = re.compile(r"(\d+)\s*(天|小时)(内|之内|以内)[^，。！？]{0,8}(拍照|联系|反馈|申请|提出)")
COD_CLAIM = re.compile(r"(可以|支持|能|也能)(货到付款|到付)")
SERVICE_HOURS = re.compile(r"(早上?|上午)?\s*(\d{1,2})\s*(点|:00)\s*(到|至|-|~)\s*(晚上?|下午)?\s*(\d{1,2})\s*(点|:00)")
UNPAID_CLOSE = re.compile(r"(\d+)\s*小时(后|内|之后)?[^，。！？]{0,4}(自动)?(关闭|取消)")
CARRIER = re.compile(r"(发|走|用|默认|可以发|能发)?(中通|圆通|韵达|申通|顺丰|京东快递|京东物流|邮政|EMS|极兔|百世|德邦)")
OPENED_RETURN = re.compile(r"(拆封|拆开|开封|吃过)(后|了|过)?(的)?(也|都)?(支持|可以|能|照样)[^。！？]{0,6}(无理由|退货|退换)")
NO_REASON_FREIGHT = re.compile(r"(无理由|不喜欢|不想要)[^。！？]{0,10}运费[^。！？]{0,6}(店铺|我们|卖家|小店|商家)(承担|出|负责)")
RESTOCK_DATE = re.compile(r"(\d{1,2})月(\d{1,2})(日|号)[^，。！？]{0,6}(补货|到货|恢复|上架)")
LIST_SEPARATOR = re.compile(r"[、，,；;。]")
REGIONS = {"same_province": ("宁夏", "银川", "中卫", "省内", "同省", "本地"), "remote": ("新疆", "西藏", "偏远")}


@detector("policy_claims")
def policy_claims(rule: RuleSpec, text: str, ctx: CheckContext) -> Iterator[Span]:
    """Statements of the shop's own rules that get them wrong: dispatch hours, delivery days
    by region, free-shipping threshold, surcharges, return and claim windows, cash on
    delivery, service hours, restock dates, invoice kind/timing/speed (`invoice`), the
    default carrier and a carrier's surcharge, payment methods (`payment_methods`), a
    blanket 概不退换 when returns are allowed. Fields a shop.yaml does not have are not
    checked (fails open)."""
    policy, extra = ctx.policy, {**(ctx.policy.model_extra or {}), **ctx.shop}
    for m in POLICY_DISPATCH.finditer(text):
        if int(m.group(1)) != policy.dispatch_within_hours and not negated(text, m.start()):
            yield m.start(), m.end(), f"付款后 {policy.dispatch_within_hours} 小时内发货"
    for m in POLICY_RANGE.finditer(text):
        left, right = clause_bounds(text, m.start(), m.end())
        if not re.search(r"(到|送达|收到|签收|到货)", text[m.end():right] + text[left:m.start()]):
            continue
        # The region is the nearest one named before the range in the sentence, unless
        # another range stands between: "宁夏省内一般1-2天、其他省份3-5天".
        sentence_start = max((x.end() for x in SENTENCE_END.finditer(text, 0, m.start())), default=0)
        previous = max((r.end() for r in POLICY_RANGE.finditer(text, sentence_start, m.start())), default=sentence_start)
        seg = max((x.end() for x in LIST_SEPARATOR.finditer(text, previous, m.start())), default=previous) \
            if previous > sentence_start else sentence_start
        before = text[seg:m.start()]
        region = next((k for k, names in REGIONS.items() if any(n in before for n in names)), "other")
        expected = policy.delivery_days.get(region)
        if expected and f"{m.group(1)}-{m.group(2)}" != str(expected).replace("~", "-"):
            yield m.start(), m.end(), f"一般 {expected} 天"
    for m in RETURN_DAYS.finditer(text):
        value = to_number(m.group(1))
        if value is not None and value != policy.returns.no_reason_days and "无理由" in text[m.start():m.end() + 6]:
            yield m.start(), m.end(), f"无理由退换为 {policy.returns.no_reason_days} 天"
    if policy.carriers:
        for m in CARRIER.finditer(text):
            name = m.group(2)
            if not any(name in c for c in policy.carriers) and not negated(text, m.start()) \
                    and not refused_after(text, m.end()):
                yield m.start(), m.end(), "合作快递:" + "、".join(policy.carriers)
    condition = policy.returns.condition
    if "未拆封" in condition or "拆封后不" in condition:
        for m in OPENED_RETURN.finditer(text):
            if not negated(text, m.start()):
                yield m.start(), m.end(), f"无理由退换条件:{condition}"
    if policy.returns.no_reason_shipping_paid_by == "buyer":
        for m in NO_REASON_FREIGHT.finditer(text):
            if not negated(text, m.start()):
                yield m.start(), m.end(), "无理由退换的运费由买家承担"
    # Restock dates in the notes, as "12-05" or "2026年12月5日"; any product in play may be meant.
    dates = {d for product in ctx.products() for d in _restock_dates(product)}
    for m in RESTOCK_DATE.finditer(text):
        if dates and (int(m.group(1)), int(m.group(2))) not in dates:
            yield m.start(), m.end(), "补货日期与商品信息不符"
    threshold = policy.free_shipping_min_order
    for m in POLICY_THRESHOLD.finditer(text):
        if threshold is not None and abs(float(m.group(1)) - threshold) > 1e-9:
            yield m.start(), m.end(), f"满 {threshold:g} 元包邮"
    fees = {float(v) for k, v in extra.items() if k.endswith("_cny") and isinstance(v, (int, float))}
    for m in POLICY_FEE.finditer(text):
        if fees and float(m.group(1)) not in fees and not negated(text, m.start()):
            yield m.start(), m.end(), "补差价金额与政策不符"
    claim_hours = policy.returns.model_extra.get("quality_claim_within_hours") if policy.returns.model_extra else None
    quality = bool(QUALITY_CONTEXT.search(text + " ".join(ctx.history))) and "无理由" not in text
    for m in CLAIM_WINDOW.finditer(text):
        hours = int(m.group(1)) * (24 if m.group(2) == "天" else 1)
        if claim_hours and hours != claim_hours and (quality or m.group(4) == "拍照"):
            yield m.start(), m.end(), f"质量问题请在签收后 {claim_hours} 小时内反馈"
    if extra.get("cod") is False:
        for m in COD_CLAIM.finditer(text):
            if not negated(text, m.start()):
                yield m.start(), m.end(), "不支持货到付款"
    hours_text = str(extra.get("service_hours", ""))
    window = re.findall(r"(\d{1,2}):\d{2}", hours_text)
    for m in SERVICE_HOURS.finditer(text):
        if len(window) == 2 and re.search(r"(在线|客服|上班|服务)", text):
            start, end = int(m.group(2)), int(m.group(6)) + (12 if m.group(5) and int(m.group(6)) < 12 else 0)
            if (start, end) != (int(window[0]), int(window[1])):
                yield m.start(), m.end(), f"客服时间 {hours_text}"
    close = extra.get("unpaid_order_auto_close_hours")
    for m in UNPAID_CLOSE.finditer(text):
        if close and int(m.group(1)) != int(close) and re.search(r"(付款|未付|没付|拍下)", text):
            yield m.start(), m.end(), f"未付款订单 {close} 小时后关闭"
    yield from _carrier_terms(text, policy.carriers)
    if isinstance(extra.get("invoice"), dict):
        yield from _invoice_claims(text, extra["invoice"])
    methods = extra.get("payment_methods")
    if isinstance(methods, list) and methods:
        yield from _payment_claims(text, [str(x) for x in methods])
    if policy.returns.no_reason_days > 0:
        for m in BLANKET_REFUSAL.finditer(text):
            if not RETURN_CONDITION.search(_sentence(text, m.start(), m.end())):
                yield m.start(), m.end(), f"未拆封商品支持 {policy.returns.no_reason_days} 天无理由退换"


CARRIER_NAMES = r"(中通|圆通|韵达|申通|顺丰|京东快递|京东物流|京东|邮政|EMS|极兔|百世|德邦)"
DEFAULT_CARRIER = re.compile(rf"默认(发|走|用|是)?{CARRIER_NAMES}")
UPGRADE_FREE = re.compile(rf"{CARRIER_NAMES}[^。！？]{{0,10}}?(不用加钱|不加钱|不用补|不需要补|不收差价|不用补差价|免费|"
                          r"不额外收费|不用另外付|不另外收|也包邮)")
GRANTING = re.compile(r"(给您|帮您|为您|小杞|这单|这次|就不用|免了|免掉)")
BLANKET_REFUSAL = re.compile(r"(概不退换|不退不换|一律不退|不予退换|不能退换|不支持退换|不给退|不能退货|不支持退货|不退货)")
RETURN_CONDITION = re.compile(r"(拆封|开封|拆开|吃过|超过|过了|已经|二次销售|定制|使用|签收.{0,4}天后|天后)")
PAPER_INVOICE = re.compile(r"纸质(的)?(发票|票|专票|普票)?")
SPECIAL_INVOICE = re.compile(r"(专票|专用发票)")
INVOICE_EARLY = re.compile(r"(收货前|收到货前|发货前|签收前|下单后?就|付款后?就|拍下就|没收货|未收货)[^。！？]{0,6}(开|申请)")
INVOICE_FAST = re.compile(r"(当天|当日|马上|立刻|立即|秒|几分钟|一小时|半小时|今天)[^。！？，]{0,6}(开出|开好|出票|开具|就能开|就可以开)")
INVOICE_DAYS = re.compile(r"(\d+)\s*(个)?(工作日|天)(内|之内|以内)?[^。！？，]{0,4}(开出|开好|出票|开具)")


@lru_cache(maxsize=4096)
def _restock_dates(product: ProductFacts) -> frozenset[tuple[int, int]]:
    return frozenset((int(mo), int(d)) for mo, d in
                     re.findall(r"(?<!\d)(\d{1,2})(?:-|月)(\d{1,2})(?!\d)", product.fact("备注")))


def _sentence(text: str, start: int, end: int) -> str:
    left = max((m.end() for m in SENTENCE_END.finditer(text, 0, start)), default=0)
    right = SENTENCE_END.search(text, end)
    return text[left:right.start() if right else len(text)]


def _payment_claims(text: str, methods: list[str]) -> Iterator[Span]:
    """A way to pay that shop.yaml's `payment_methods` does not list ("支持微信支付")."""
    for m in builtin_lexicon().payment_re.finditer(text):
        word = m.group(0)
        left, right = clause_bounds(text, m.start(), m.end())
        paying = re.search(r"(支付|付款|付钱|买单|结账|刷)", text[left:right]) or \
            re.search(r"(支持|可以用|能用|用)$", text[left:m.start()])
        if not paying or negated(text, m.start()) or refused_after(text, m.end()):
            continue
        if any(word in method or method in word for method in methods):
            continue
        yield m.start(), m.end(), "支付方式:" + "、".join(methods)


def _carrier_terms(text: str, carriers: list[str]) -> Iterator[Span]:
    """The default carrier is the first listed; one listed with 补差价 is not free."""
    if not carriers:
        return
    for m in DEFAULT_CARRIER.finditer(text):
        if m.group(2) not in carriers[0] and not negated(text, m.start()):
            yield m.start(), m.end(), f"默认发{carriers[0]}"
    for m in UPGRADE_FREE.finditer(text):
        listed = next((c for c in carriers if m.group(1) in c), "")
        if GRANTING.search(_sentence(text, m.start(), m.end())):
            continue  # "这单差价就不用补了" waives the fee: the authority rules' business
        if re.search(r"(补差价|加价|另付|需补|加钱)", listed):
            yield m.start(), m.end(), f"{listed}"


def _invoice_claims(text: str, invoice: dict[str, Any]) -> Iterator[Span]:
    """Invoice kind, timing and speed against shop.yaml's `invoice` (type, how, issued_within)."""
    if not re.search(r"(发票|开票|专票|普票|票)", text):
        return
    kind, how, within = (str(invoice.get(k, "")) for k in ("type", "how", "issued_within"))
    checks = []
    if "电子" in kind and "纸质" not in kind:
        checks.append((PAPER_INVOICE, f"开的是{kind}"))
    if "普通" in kind and "专用" not in kind:
        checks.append((SPECIAL_INVOICE, f"开的是{kind}"))
    if "收货后" in how:
        checks.append((INVOICE_EARLY, "确认收货后才能申请开票"))
    if within:
        checks.append((INVOICE_FAST, f"{within}内开出"))
    for pattern, detail in checks:
        for m in pattern.finditer(text):
            if not negated(text, m.start()):
                yield m.start(), m.end(), detail
    # Every duration the policy names is true of some invoice ("2个工作日（专票5个工作日）").
    days = {int(d) for d in re.findall(r"\d+", within)}
    for m in INVOICE_DAYS.finditer(text):
        if days and int(m.group(1)) not in days:
            yield m.start(), m.end(), f"{within}内开出"


UNITS = {"克": "g", "g": "g", "G": "g", "kg": "kg", "公斤": "kg", "斤": "斤", "毫升": "ml", "ml": "ml",
         "ML": "ml", "个月": "月", "月": "月", "年": "年", "天": "天", "小时": "小时", "粒": "粒", "袋": "袋",
         "罐": "罐", "盒": "盒", "瓶": "瓶", "%": "%", "毫克": "mg", "mg": "mg", "厘米": "cm", "cm": "cm",
         "倍": "倍"}
QUANTITY = re.compile(r"(\d+(?:\.\d+)?)\s*(毫克|mg|毫升|ml|ML|厘米|cm|kg|公斤|个月|小时|克|g|G|斤|年|天|粒|袋|罐|盒|瓶|%|倍)")


@lru_cache(maxsize=4096)
def quantities(text: str) -> frozenset[tuple[float, str]]:
    """(value, unit) pairs in a text, with 斤 and kg also as grams."""
    found = {(float(v), UNITS[u]) for v, u in QUANTITY.findall(text)}
    found |= {(v * 500, "g") for v, u in found if u == "斤"} | {(v * 1000, "g") for v, u in found if u == "kg"}
    return frozenset(found)


PACKAGES = {"袋", "罐", "盒", "瓶"}
SPEC_COUNT = re.compile(r"([共×xX*]\s*\d+(?:\.\d+)?\s*[袋罐盒瓶])|(\d+\s*[袋罐盒瓶]装)|(每[盒箱袋]\d+)")


@detector("unsupported_numbers")
def unsupported_numbers(rule: RuleSpec, text: str, ctx: CheckContext) -> Iterator[Span]:
    """A quantity with its unit (250g, 18个月, 3罐) that neither the facts of the products in
    play nor the policy state. Fails open when no product is in play."""
    if not ctx.products():
        return
    known = set(ctx.shop_quantities or (quantities(ctx.policy_text) | quantities(ctx.handbook_text)))
    for product in ctx.products():
        known |= quantities(product.text)
    for m in QUANTITY.finditer(text):
        value, unit = float(m.group(1)), UNITS[m.group(2)]
        if (value, unit) in known or value in (0.0, 1.0) or (unit == "斤" and (value * 500, "g") in known):
            continue
        if unit == "%" and value == 100:
            continue  # "100%纯天然" is the absolute-claim rule's
        if unit in PACKAGES and not SPEC_COUNT.search(text[max(0, m.start() - 2):m.end() + 1]):
            continue  # "10罐没问题", "100盒的话": an order quantity, not a fact
        if unit == "天" and re.search(r"\d\s*[-~到至]\s*$", text[max(0, m.start() - 3):m.start()]):
            continue  # the upper end of a day range: the policy rule checks ranges
        yield m.start(), m.end(), ""


def _is_multiple(value: float, price: float) -> bool:
    return any(abs(value - price * n) < 0.01 for n in range(2, 11))


def _fact_number(text: str, label: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(label + ":"):
            m = re.search(r"(\d+(?:\.\d+)?)\s*(个月|年)", line)
            if m:
                return float(m.group(1)) * (12 if m.group(2) == "年" else 1)
    return None


# The claim detectors live in their own module; importing it registers them.
from service.guardrails import claims as _claims  # noqa: E402,F401
