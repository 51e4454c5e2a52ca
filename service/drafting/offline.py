"""The offline drafter: replies composed from the shop's own scripts and facts, no LLM.

Candidates, best first:
0. replies the shop's agents approved for the same intent and requests (kind `approved`);
1. the composed reply: it answers what the message asks, piece by piece — an apology where
   one is owed, the remedy for a problem with the goods or the parcel (policy: who pays,
   the claim window), the kind decline of a request beyond authority with what is allowed
   instead, the facts asked for (any products.csv column), the shop's rules asked about
   (shop.yaml: delivery days to the buyer's region, carriers, payment, invoices, …), and the
   hand-over when the supervisor decides (Understanding.escalation);
2. the shop's own sample replies (「…」 of the retrieved handbook sections) that fit the
   message — first when nothing above had anything to say;
3. built-in templates per intent and per request beyond authority (`scripts.yaml`), three
   styles each, filled with the shop's facts; a template whose slots have no value is skipped.
Every candidate then goes through the guardrails in the pipeline; blocked ones are dropped.
Nothing shop-specific lives here: it all comes from the pack and the built-in scripts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from service.drafting import samples as shop_samples
from service.drafting.facts import CODE, PRODUCT_ID, FactAnswerer, colours, fact_lines, name_words
from service.drafting.pieces import Piece, clauses, fill, sentence
from service.drafting.topics import SHIPPED, Topics
from service.guardrails.context import ProductFacts
from service.knowledge.models import Policy
from service.understanding.buyer import (
    QUALITY_WORDS,
    REPLACE_OR_REFUND,
    Understanding,
    code_asked,
    gift_named,
    warranty_term,
)
from service.understanding.intents import BUILTIN_DIR

__all__ = ["Draft", "OfflineDrafter", "builtin_scripts", "fill", "slot_values", "short_name"]

SCRIPTS_FILE = BUILTIN_DIR / "scripts.yaml"
STYLES = ("concise", "warm", "next_step")
# Which policy rule a slot quotes: the citation for a filled template.
SLOT_POLICY = {
    "threshold": "free-shipping", "gap": "free-shipping", "dispatch_hours": "dispatch",
    "days_same": "delivery-days", "days_other": "delivery-days", "days_remote": "delivery-days",
    "carriers": "carriers", "default_carrier": "carriers", "gift": "gifts", "gifts": "gifts",
    "gift_quota": "gifts", "compensation_max": "compensation", "return_days": "returns-no-reason",
    "return_condition": "returns-no-reason", "no_reason_payer": "returns-no-reason",
    "exchange_days": "returns-no-reason", "escalation": "escalation", "claim_hours": "returns-quality",
    "claim_window": "returns-quality", "replace_days": "returns-quality", "remote_fee": "free-shipping",
}
PRODUCT_SLOTS = {"product", "item", "price", "spec", "shelf_life", "storage", "usage", "not_suitable_for",
                 "origin", "stock", "grade"}
FACT_LABELS = {"spec": "规格", "shelf_life": "保质期", "storage": "储存方法", "usage": "食用方法",
               "not_suitable_for": "不适宜人群", "origin": "产地", "stock": "库存", "grade": "等级"}
PAYER = {"seller": "店铺", "buyer": "您"}
PLATFORM = {"tmall": "天猫", "taobao": "淘宝", "jd": "京东"}
CN_COUNT = {1: "一样", 2: "两样", 3: "三样", 4: "四样"}
# A price seen elsewhere ("别家才49", "外面便宜"): answered with what this product is.
COMPARE = re.compile(r"(别家|别的店|其他家|其他店|人家|外面|网上|线下|超市|实体店|直播间)[^，。！？]{0,8}(\d|便宜|才|只要|更低)")
PROBLEM_KINDS_IN_TRANSIT = {"delayed", "lost", "not_shipped", "courier"}
CARRIER_NAMED = re.compile(r"(顺丰|京东|EMS|中通|韵达|圆通|申通)")   # the topics answer a named carrier
FAULT_CODE = re.compile(CODE.pattern + "|故障码|报错代码|错误码")
SIZE = re.compile(r"\d+(\.\d+)?\s*(L|l|升|ml|毫升|寸|档)")
BUYING_PART = re.compile(r"(单独买|单买|单独卖|另外买|能买到|有没有卖|有卖吗|有得卖|买得到|配件卖|买来(用|换)|能不能买)")
# "按了没反应", "一点动静都没有": before it is a defect, what the unit needs to start.
NO_START = re.compile(r"(没反应|没有反应|反应都没有|一点反应|动静都没有|不启动|启动不了|按了没用|没动静|不工作|开不了机|按[^，。！？]{0,4}不(动|转))")
START_CONDITION = re.compile(r"(才(会|能)?(启动|工作|运行|通电)|否则不(会)?启动)")
# "打了十来分钟有焦味，机身好烫": run longer than the facts allow ("连续工作不超过5分钟").
OVERHEAT = re.compile(r"(好烫|很烫|发烫|烫手|过热|焦味|糊味|烧焦味)")
DUTY_CYCLE = re.compile(r"连续(工作|使用|运行|打|搅打)")
# "3L那个内胆我能买来用吗": what a part fits, where the facts say.
FITS_ASKED = re.compile(r"(能不能用|能用吗|能用不|通用|适配|适用于|配得上|兼容|用得了|买来用|装得上|能装上)")
FITS = re.compile(r"(适配|通用|兼容|配套)")
# The buyer picks a listed gift: "就要刮刀", or "刮刀和食谱吧，帮我备注" (named first, then settled).
GIFT_PICKED = (r"(?<![不别])(选|要|就要|那就|就|挑|备注)(了)?[^，。！？不]{{0,6}}{name}(?![^，。！？]{{0,2}}(不要|没放|没收到|不用))",
               r"^[^，。！？不别没]{{0,8}}{name}[^，。！？不别没]{{0,8}}(吧|就行|就好|就可以|帮我备注|备注一下)")
# "收到没有拉花缸啊", "盒子里找不到量勺": a named thing absent on arrival.
MISSING_PART = re.compile(r"(收到|拆开|打开|盒子里|箱子里|里面|包装里)[^，。！？]{0,4}(没有|没看到|没找到|找不到|少了|缺了?)(那个|个|一个)?"
                          r"(?P<part>[\u4e00-\u9fff]{2,6}?)(啊|呀|吗|呢|了|，|。|！|？|$|\s)|"
                          r"(^|[，。！？\s])(?P<named>[\u4e00-\u9fff]{2,6}?)(没有|没看到|没找到|找不到)(啊|呀|呢|了|$|\s|[，。！？])")
RETRIED = re.compile(r"(还是|试过|试了|照做|照着|重新放|放好了|都弄了|也不行|每次都|天天|反复|老是|总是|"
                     r"又(是(?!啥|什么|怎么)|出现|跳|来|[Ee]\d))")
# "之前在别家买收到有划痕": a problem with another shop's goods is no problem to settle here.
ELSEWHERE = re.compile(r"(别家|别的店|其他店|其他家|外面买)")
# "功率多大，怕跳闸": a worry before buying names no problem to settle.
WORRY = re.compile(r"(怕|担心|害怕|会不会|容不容易|会)$")
HYPOTHETICAL = re.compile(r"(如果|万一|要是|假如|以后|之后|到时候)")
# "能发京东吗 韵达我们这老丢件": another carrier asked for; the trouble told is the reason, not this parcel's.
OTHER_CARRIER = re.compile(r"(能|可以|可不可以|能不能)(发|走|用|换)(个)?(京东|顺丰|中通|圆通|申通|邮政|EMS|极兔)")
# A complaint in the buyer's words, whatever the intent it was classified as.
COMPLAINT = re.compile(r"(投诉|差劲|太差|失望|垃圾|骗子|骗人|坑人|坑爹|黑店|破(东西|玩意|电器|店|烂)|什么(东西|服务|玩意)|气死|"
                       r"无语|恶心|退钱|给个说法|态度(差|太)|耍我|忽悠|sb|SB|傻逼|傻b|煞笔|智障|脑残)")
NEGATIVE_REVIEW = re.compile(r"(差评|中评|不满意|失望|生气|不好|太差|垃圾|看着办|投诉|烦)")
ADDRESS_CUE = re.compile(r"(改成|新地址|地址是|地址改|寄到|收货地址)")
ADDRESS_TOKEN = re.compile(r"(省|市|区|县|镇|乡|路|街|巷|村|小区|号楼|栋|单元|室)")
PHONE = re.compile(r"1[3-9]\d{9}")
DECLINED = re.compile(r"(权限|没法|没办法|不能|改不了|做不了|免不了|只能|办不到)")
APOLOGY = re.compile(r"(抱歉|不好意思|对不起|歉意|添麻烦)")
REMEDY = re.compile(r"(补发|退款|换新|重发|补寄|退货|维修)")
MAX_REPLY = 150   # characters; pieces beyond it are left out (the agent sends chat lines)
MIN_SAMPLE = 8.0  # how well a shop sample must fit the message to be offered (match.Scorer units)
STRONG_SAMPLE = 14.0  # a sample this good goes first when the facts found only share words
# "选3L还是5L", "推荐一款": the shop's advice on choosing beats a fact that shares a word.
PICKING = re.compile(r"((选|买|要|拿)[^，。！？]{0,8}还是|推荐|哪款|哪个[^，。！？]{0,4}好|买哪|选哪|哪一款|哪种|怎么选|选多大)")
# Follow-ups about a problem already told ("拍了，你看怎么处理吧") are answered with its remedy.
FOLLOW_UP = re.compile(r"(怎么处理|怎么办|怎么解决|处理一下|给个说法|拍了|照片|图片|视频|到底|不行就|你看|还能修|能修吗|还保修|保修吗|能换吗|能退吗)")
MAX_MARKED_CLAUSE = 40  # a start condition or a fit longer than this is a paragraph, not a check
SHORT_REPLY = 8       # "20多天了": an answer to the agent's question about the problem told before
FOLLOW_UP_CHARS = 12  # "那5L的呢": short enough to carry on the question before
RETURN_TOPICS = {"no_reason_return", "exchange", "return_freight", "cancel"}
FREIGHT_ASKED = re.compile(r"(运费|邮费)[^，。！？]{0,4}(谁出|谁承担|谁付|怎么算|要我出|我出)")
# Questions where a product out of stock must be said to be so, asked or not.
OUT_OF_STOCK_TOLD = {"stock", "shipping_time", "product_question", "payment", "other", "greeting"}
# Intents a bare "tell me more" (the opener's `alone` text) answers well.
ALONE_INTENTS = {"greeting", "other", "complaint", "quality_issue", "logistics", "bad_review"}
# Intents whose answer is a shop rule, not a product fact: a product clause that only
# shares words with the message ("包邮吗" ~ a note on the parcel) answers nothing there.
# Not order_change ("换成石墨灰") nor gift_request ("送刮刀吗"): those are about the product.
RULE_INTENTS = {"bargain", "free_shipping_request", "shipping_time", "logistics", "payment",
                "complaint", "bad_review", "off_topic_private", "thanks_farewell"}


@dataclass
class Draft:
    text: str
    style: str
    citations: list[dict[str, str]] = field(default_factory=list)
    escalate: bool = False


@lru_cache
def builtin_scripts(path: Path = SCRIPTS_FILE) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "intents" not in data:
        raise ValueError(f"{path}: expected `intents`, `beyond` and `facts`")
    return data


def short_name(name: str, shop: dict[str, Any]) -> str:
    """The product's name without the brand in front ("杞源堂 宁夏…" -> "宁夏…")."""
    parts = name.split()
    brand = str(shop.get("brand") or "")
    if len(parts) > 1 and (parts[0] == brand or parts[0] in str(shop.get("name", ""))):
        parts = parts[1:]
    return " ".join(parts)


def _money(value: Any) -> str:
    return f"{float(value):g}"


def slot_values(shop: dict[str, Any], policy: Policy, product: ProductFacts | None) -> dict[str, str]:
    """Every slot a template may use, from shop.yaml and the product's facts; a slot the pack
    does not fill is absent, so the templates that need it are skipped."""
    extra = policy.model_extra or {}
    returns = policy.returns.model_extra or {}
    values: dict[str, str] = {"agent": str(shop.get("agent_name", "客服")), "shop": str(shop.get("name", "")),
                              **({"platform": PLATFORM[str(shop["platform"])]}
                                 if str(shop.get("platform")) in PLATFORM else {}),
                              "escalation": policy.escalation_to,
                              "dispatch_hours": f"{policy.dispatch_within_hours}",
                              "compensation_max": f"{policy.compensation_max_cny:g}",
                              "return_days": f"{policy.returns.no_reason_days}",
                              "no_reason_payer": PAYER[policy.returns.no_reason_shipping_paid_by],
                              "quality_payer": PAYER[policy.returns.quality_issue_shipping_paid_by]}
    if policy.returns.condition:
        values["return_condition"] = policy.returns.condition
    if policy.free_shipping_min_order is not None:
        values["threshold"] = f"{policy.free_shipping_min_order:g}"
    if policy.gifts.allowed and policy.gifts.max_per_order > 0:
        values["gift"] = policy.gifts.allowed[0]
        values["gifts"] = "、".join(policy.gifts.allowed)
        values["gift_quota"] = CN_COUNT.get(min(policy.gifts.max_per_order, len(policy.gifts.allowed)),
                                            f"{policy.gifts.max_per_order}样")
    if policy.carriers:
        values["carriers"] = "、".join(policy.carriers)
        values["default_carrier"] = re.sub(r"[（(].*?[)）]", "", policy.carriers[0]).strip()
    for key, slot in (("same_province", "days_same"), ("other", "days_other"), ("remote", "days_remote")):
        if policy.delivery_days.get(key):
            values[slot] = str(policy.delivery_days[key])
    if extra.get("remote_shipping_fee_cny") is not None:
        values["remote_fee"] = _money(extra["remote_shipping_fee_cny"])
        values["remote_regions"] = "、".join(str(r) for r in extra.get("free_shipping_excluded_regions", []))
    if returns.get("quality_claim_within_hours"):
        values["claim_hours"] = str(returns["quality_claim_within_hours"])
        values["claim_window"] = f"{returns['quality_claim_within_hours']}小时"
    if returns.get("quality_replace_days"):
        values["replace_days"] = str(returns["quality_replace_days"])
        values.setdefault("claim_window", f"{returns['quality_replace_days']}天")
    if returns.get("exchange_days") or returns.get("quality_replace_days") is None:
        values["exchange_days"] = str(returns.get("exchange_days") or policy.returns.no_reason_days)
    for key in ("warranty_repair", "not_covered", "warranty_needs"):
        if returns.get(key):
            values[key] = str(returns[key]).rstrip("。")
    if extra.get("price_protection_days"):
        values["price_protection_days"] = str(extra["price_protection_days"])
        values["price_protection_excludes"] = str(extra.get("price_protection_excludes") or "活动优惠")
    if extra.get("same_day_cutoff"):
        values["same_day_cutoff"] = str(extra["same_day_cutoff"])
    if shop.get("payment_methods"):
        values["payment_methods"] = "、".join(str(m) for m in shop["payment_methods"])
    for key in ("service_hours", "delivery_scope", "voltage_note", "certification", "warehouse"):
        if shop.get(key):
            values[key] = str(shop[key]).rstrip("。")
    if shop.get("huabei_interest_free"):
        values["huabei_note"] = str(shop["huabei_interest_free"]).rstrip("。")
    if shop.get("unpaid_order_auto_close_hours"):
        values["auto_close_hours"] = str(shop["unpaid_order_auto_close_hours"])
    invoice = shop.get("invoice")
    if isinstance(invoice, dict) and invoice.get("type"):
        kinds = re.split(r"[；;]", str(invoice["type"]))
        values["invoice_type"] = kinds[0].strip()
        special = next((k.strip() for k in kinds if "专用" in k), "")
        if special:
            values["special_invoice"] = special
        if invoice.get("how"):
            values["invoice_how"] = str(invoice["how"]).rstrip("。")
        if invoice.get("issued_within"):
            values["invoice_within"] = str(invoice["issued_within"])
    if product is not None:
        values["product"] = short_name(product.name, shop)
        values["item"] = values["product"].split()[0]
        if product.price is not None:
            values["price"] = f"{product.price:g}"
            threshold = policy.free_shipping_min_order
            if threshold is not None and product.price < threshold:
                values["gap"] = f"{threshold - product.price:.1f}".rstrip("0").rstrip(".")
        for slot, label in FACT_LABELS.items():
            value = product.fact(label).strip().rstrip("。；;")
            if value:
                values[slot] = value
        if (warranty := product.fact("保修").strip()):
            values["warranty"] = re.split(r"[，,；;]", warranty)[0]   # the whole unit's term first
        appliance = bool(product.fact("电压") or product.fact("功率"))
        values["verb"] = "使用" if appliance else ("喝" if "喝" in product.text else "吃")
    return values


def citations_for(used: set[str], product: ProductFacts | None, values: dict[str, str]) -> list[dict[str, str]]:
    cites: list[dict[str, str]] = []
    if product is not None and used & PRODUCT_SLOTS:
        labels = {**FACT_LABELS, "price": "价格"}  # price is read from the document, not a fact line
        excerpt = "；".join(f"{labels.get(s, s)}:{values[s]}" for s in sorted(used & PRODUCT_SLOTS)
                           if s not in ("product", "item") and s in values)
        cites.append({"source_id": f"product:{product.id}", "kind": "fact",
                      "excerpt": (excerpt or f"商品:{values.get('product', product.id)}")[:120]})
    for rule in sorted({SLOT_POLICY[s] for s in used if s in SLOT_POLICY}):
        cites.append({"source_id": f"policy:{rule}", "kind": "policy", "excerpt": ""})
    return cites


class OfflineDrafter:
    name = "offline"

    def __init__(self, scripts: dict[str, Any] | None = None) -> None:
        self.scripts = scripts or builtin_scripts()
        s = self.scripts
        self.fact_answers = FactAnswerer(s)
        self.topics = Topics(s)
        self.openers = [(o["id"], re.compile(o["cue"]) if o.get("cue") else None, str(o["text"]))
                        for o in s.get("openers", [])]
        self.alone = {str(o["text"]): str(o["alone"]) for o in s.get("openers", []) if o.get("alone")}
        self.problems = [(p["id"], re.compile(p["cue"]), p) for p in s.get("problems", [])]
        stop = s.get("stop_use") or {}
        self.stop_cue = re.compile(stop["cue"]) if stop.get("cue") else None
        self.doubt = re.compile(s["doubt"]) if s.get("doubt") else None

    def draft(self, understanding: Understanding, question: str, shop: dict[str, Any], policy: Policy,
              product: ProductFacts | None, retrieved: list[dict[str, Any]], n: int,
              history: list[dict[str, str]] | None = None,
              resolve: Callable[[str], list[str]] | None = None) -> list[Draft]:
        """More candidates than `n`, best first; the pipeline keeps the first `n` that pass.
        `history` is the conversation (ending with `question`); `resolve` names the products
        a text mentions (the shop's catalog), to keep samples about other products out."""
        u = understanding
        values = slot_values(shop, policy, product)
        turns = history or [{"role": "buyer", "text": question}]
        buyer = [t["text"] for t in turns if t["role"] == "buyer"] or [question]
        previous = buyer[-2] if len(buyer) > 1 else ""
        if product is not None and SIZE.search(" ".join(buyer)):
            # "3升跟5升的选哪个": the buyer tells the sizes apart, so the reply names the size.
            size = next((w for w in values.get("product", "").split()[1:] if SIZE.fullmatch(w)), "")
            if size and size not in values["item"]:
                values["item"] += size
        drafts: list[Draft] = self._approved(u, retrieved)

        agent_last = next((t["text"] for t in reversed(turns) if t["role"] == "agent"), "")
        pieces = self._pieces(u, question, previous, buyer, values, shop, policy, product, agent_last)
        # Choosing between products, their names are the topic: they count in full.
        names = name_words(product) if product is not None and not PICKING.search(question) else None
        fitting = shop_samples.pick(question, " ".join(buyer[:-1]), u.intent, retrieved, policy, u.product,
                                    u.products, u.escalate, resolve, names, u.intents, min_score=MIN_SAMPLE)
        opener = self._opener(u, question, pieces)
        samples = [self._sample_draft(s, opener, pieces, values) for s in fitting[:2]]
        body = pieces
        # A clause found only by its words gives way to a shop sample that fits much better.
        clues_only = body and all(p.kind == "clue" for p in body)
        sample_first = bool(clues_only and fitting and (
            fitting[0].score >= STRONG_SAMPLE or PICKING.search(question)))
        if sample_first and len(body) > 1:
            # Two clauses answer two questions ("声音大不大…能预约吗"): the sample goes first
            # only if it says the figures of both.
            figures = {n for p in body for n in re.findall(r"\d+(?:[.-]\d+)?", p.text)}
            sample_first = figures <= set(re.findall(r"\d+(?:[.-]\d+)?", fitting[0].text))
        if body and not sample_first:
            drafts.append(self._composed(opener, body, values, product, u))
            drafts += samples
        elif body:
            drafts += samples[:1]
            drafts.append(self._composed(opener, body, values, product, u))
            drafts += samples[1:]
        else:
            drafts += samples
            alone = fill(self.alone.get(opener, ""), values) if opener in self.alone else None
            if alone and not samples and u.intent in ALONE_INTENTS:
                drafts.append(Draft(text=alone[0], style="composed"))
            elif alone and not samples:
                # "有没有货啊，急用": the question has its own answer; the opener goes before it.
                first = next(iter(self._templates(u, values, product, policy)), None)
                if first is not None:
                    text = opener.format(**values) + re.sub(r"^(亲|您好亲)[，,～]?", "", first.text)
                    drafts.append(Draft(text=text, style="composed", citations=first.citations,
                                        escalate=first.escalate))
            if product is not None and u.intent in ("product_question", "stock"):
                drafts += self._default_facts(values, product)
        templates = self._templates(u, values, product, policy)
        if u.beyond_authority and not u.escalate and not u.injection:
            # A first request is declined, not handed over; the agent still gets, third,
            # the choice of offering to ask the supervisor.
            offer = next((d for d in templates if d.escalate), None)
            if offer is not None and drafts:
                templates.remove(offer)
                drafts.insert(min(len(drafts), 2), offer)
        drafts += templates
        return drafts

    # --- the pieces of the composed reply --------------------------------------------------

    def _pieces(self, u: Understanding, question: str, previous: str, buyer: list[str],
                values: dict[str, str], shop: dict[str, Any], policy: Policy,
                product: ProductFacts | None, agent_last: str = "") -> list[Piece]:
        pieces: list[Piece] = []
        if u.recommended and product is not None:
            filled = fill(str(self.scripts.get("recommend", "")), values)
            if filled:
                pieces.append(Piece("fact", "recommend", sentence(filled[0]), filled[1]))
        marked = self._marked_clause(question, product, values)
        if marked is not None:
            pieces.append(marked)
        coded = code_asked(question, buyer)
        # A check to make comes before any remedy, and asks for the video itself.
        checks = ("start_condition", "duty_cycle")
        problem = self._problem(u, coded, values, told=buyer[:-1]) if marked is None or marked.key not in checks else None
        if problem is None and marked is None and previous and (FOLLOW_UP.search(question) or len(question) <= SHORT_REPLY
                                             or u.intent == "complaint" or u.mood in ("angry", "impatient")
                                             or REPLACE_OR_REFUND.search(question)):
            # The problem told a few messages back ("不出热风了" … "视频发你了" … "再拖就投诉"):
            # the remedy is still what is owed; what came after may say the photos were sent.
            for back in range(2, min(len(buyer), 4) + 1):
                problem = self._problem(u, buyer[-back], values, photos=" ".join(buyer[-back + 1:]))
                if problem is not None:
                    break
        if problem is None and marked is None:
            problem = self._missing_from_box(u, question, values, product)
        if problem is not None:
            stop = self._stop_use(question, values, product)
            if stop is not None and problem.key != "hypothetical":
                pieces.append(stop)
            pieces.append(problem)
        part = self._part_warranty(u, question, values, product)
        if part is not None:
            pieces.append(part)
        declines = self._declines(u, question, buyer, values, product, policy, shop)
        skip = {"remote_fee", "free_shipping"} if any(p.key == "free_shipping_remote" for p in declines) else set()
        if any(p.key in ("free_shipping_below",) for p in declines):
            skip |= {"free_shipping"}
        if any(p.key == "special_invoice" for p in declines):
            skip |= {"invoice"}
        if any(p.key.startswith("speed") for p in declines):
            skip |= {"dispatch"}
        if problem is not None or u.intent in ("return_exchange", "quality_issue"):
            skip |= {"free_shipping", "remote_fee"}   # "运费谁出" of a return is its freight
        if problem is not None:
            skip |= RETURN_TOPICS          # a problem is not a return without reason
            if problem.key in PROBLEM_KINDS_IN_TRANSIT:
                skip |= {"delivery", "dispatch", "carrier"}   # "韵达一直没派送" asks no carrier
        if BUYING_PART.search(question):
            skip |= RETURN_TOPICS          # "内胆刮花了想换一个，能单买吗" buys a part
        if any(r.kind == "free_shipping" for r in u.requests):
            skip |= {"price_protection"}   # "补差价好麻烦，8块免了吧" of a carrier surcharge
        if any(r.kind == "gift" for r in u.requests):
            skip |= {"exchange", "no_reason_return"}   # "不想要书，赠品换成刮刀" asks for another gift
        if any(p.key.startswith("gift") for p in declines):
            skip |= {"gifts"}              # the decline names the gifts already
        if u.injection or u.escalation == "out_of_warranty":
            skip |= RETURN_TOPICS          # an injected "同意退款", a unit past its warranty: no return
        if product is not None and product.stock == 0:
            skip |= {"delivery"}           # "什么时候到货" of a product out of stock is its restock
        echoes = self._echoes(u, question, values, policy, problem)
        if any(p.key == "address" for p in echoes):
            skip |= {"address_change"}
        asked_topics = question
        window = claim_window_hours_from(values)
        if (FREIGHT_ASKED.search(question) and "warranty_repair" in values and window is not None
                and (u.elapsed_hours or 0) > window and any(QUALITY_WORDS.search(m) for m in buyer[:-1])):
            # "那寄过去运费谁出啊" of a unit to repair: the warranty's freight, not a return's.
            skip |= RETURN_TOPICS
            asked_topics = f"{question} 保修"
        topics = self.topics.answer(asked_topics, previous, u.intent, list(reversed(buyer)), values, shop, policy,
                                    skip, u.elapsed_hours,
                                    shipped=bool(SHIPPED.search(agent_last) or SHIPPED.search(question)))
        if any(p.key == "review_incentive" for p in topics):
            # "改了差评再多送点": the request is the bribe the reply declines.
            declines = [p for p in declines if not p.key.startswith(("gift", "discount", "compensation"))]
        pieces += declines
        if product is not None:
            # With a problem to settle or a request to decline, only the facts asked for are quoted.
            unasked = problem is None and marked is None and not declines and u.intent not in RULE_INTENTS
            facts = self.fact_answers.answer(coded, product, values, unasked=unasked)
            if (previous and len(question) <= FOLLOW_UP_CHARS and not declines and problem is None
                    and (not facts or re.match(r"那", question))):
                # "那5L的呢": the question asked before, about the product named now (first).
                before = self.fact_answers.answer(previous, product, values, unasked=False)
                facts = before + [p for p in facts if p.key not in {b.key for b in before}]
            if (product.stock == 0 and u.intent in OUT_OF_STOCK_TOLD and problem is None
                    and not any(p.key == "库存" for p in facts)):
                # "现在拍能发吗" of a product out of stock: that it is out comes first.
                facts = self.fact_answers.stock_pieces(product, values) + facts
            if part is not None:
                facts = [p for p in facts if p.key != "保修"]   # the part's term is said already
            facts = [self._stock_in_colour(p, question, product) if p.key == "库存" else p for p in facts]
            pieces += [p for p in facts if p.kind != "clue"]
        # A clause found only by shared words comes after the rules asked about: it is the
        # first to go when the reply runs long ("保修卡丢了" is a warranty question, not the box list).
        pieces += topics + echoes
        if product is not None:
            pieces += [p for p in facts if p.kind == "clue"]
        if u.escalate:
            template = self.scripts.get("escalate", {}).get(u.escalation) or self.scripts["escalate"]["repeat"]
            filled = fill(template, values)
            if filled:
                pieces.append(Piece("escalate", u.escalation, sentence(filled[0]), filled[1]))
        # A piece another one already says ("付款后48小时内发货。") is left out.
        kept: list[Piece] = []
        for piece in pieces:
            if not any(piece.text.rstrip("。") in other.text for other in pieces if other is not piece
                       and len(other.text) > len(piece.text)):
                kept.append(piece)
        return kept

    def _problem(self, u: Understanding, question: str, values: dict[str, str], photos: str = "",
                 told: Sequence[str] = ()) -> Piece | None:
        """The remedy for what went wrong, unless the buyer only asks whether it is normal.
        `photos` is the follow-up that may say the photos were sent; `told`, the buyer's
        earlier messages."""
        if u.injection or BUYING_PART.search(question):
            return None    # "内胆刮花了，能单独买吗" asks to buy a part, not for a remedy
        # "放好了还是E1": the fix the code asks for was tried; the code is now a defect. A code
        # not named before ("好了能转了 又跳E2了") is a new one to explain.
        codes = {c.lower() for c in CODE.findall(question)}
        before = {c.lower() for m in told for c in CODE.findall(m)}
        retried_code = bool(FAULT_CODE.search(question) and RETRIED.search(question + photos)
                            and (not told or not codes or codes & before))
        for pid, cue, spec in self.problems:
            if pid in PROBLEM_KINDS_IN_TRANSIT and OTHER_CARRIER.search(question):
                continue
            m = next((m for m in cue.finditer(question)
                      if not _negated(question, m.start()) and not WORRY.search(question[:m.start()])
                      and not ELSEWHERE.search(question[:m.start()])), None)
            if m is None and pid == "defect" and retried_code:
                m = FAULT_CODE.search(question)
            if m is None:
                continue
            if pid == "defect" and FAULT_CODE.search(question) and not retried_code and not re.search(
                    r"(怎么处理|怎么办|退|换|赔|修)", question + photos):
                return None    # "显示E1": what the code means comes first, from the product's facts
            if self.doubt is not None and self.doubt.search(question) and pid == "defect" and not re.search(
                    r"(怎么处理|怎么办|退|换|赔|修)", question + photos):
                return None
            key = "text_late" if u.escalation in ("late_claim", "out_of_warranty") else "text"
            if HYPOTHETICAL.search(question[:m.start()]) and pid == "defect" and "text_hypo" in spec:
                filled = fill(str(spec["text_hypo"]), values)
                if filled:
                    return Piece("remedy", "hypothetical", sentence(filled[0]), filled[1])
            if pid == "defect":
                window = claim_window_hours_from(values)
                if u.escalation in ("late_claim", "out_of_warranty"):
                    key = "text_late"        # the supervisor decides the remedy
                elif re.search(r"(拍了|照片发|发了照片|图发|拍好了|视频发|拍好发|发你了|发给你了|发过去了)", question + photos):
                    within = u.elapsed_hours is None or window is None or u.elapsed_hours <= window
                    replace = "replace_days" in values and "claim_hours" not in values and within
                    key = "text_photos_replace" if replace else "text_photos_sent"
                elif (u.elapsed_hours is not None and window is not None and u.elapsed_hours > window
                      and "warranty_repair" in values and not u.escalate):
                    key = "text_warranty_needs" if "warranty_needs" in values else "text_warranty"
                elif "replace_days" in values and "claim_hours" not in values:
                    key = "text_replace"
                elif "claim_window" in values:
                    key = "text_claim"
            filled = fill(str(spec.get(key) or spec["text"]), values) or fill(str(spec["text"]), values)
            if filled:
                return Piece("remedy", pid, sentence(filled[0]), filled[1])
        return None

    def _missing_from_box(self, u: Understanding, question: str, values: dict[str, str],
                          product: ProductFacts | None) -> Piece | None:
        """"收到没有拉花缸啊" where the box list names a 拉花缸: a missing part, whatever it is
        called (the `missing` problem's own cue lists only common ones)."""
        if product is None or u.injection or BUYING_PART.search(question):
            return None
        box = product.fact("in_box")
        m = MISSING_PART.search(question)
        part = (m.group("part") or m.group("named") or "") if m is not None else ""
        if not box or len(part) < 2 or part not in box:
            return None
        spec = next((spec for pid, _, spec in self.problems if pid == "missing"), None)
        filled = fill(str(spec["text"]), values) if spec else None
        return Piece("remedy", "missing", sentence(filled[0]), filled[1]) if filled else None

    @staticmethod
    def _stock_in_colour(piece: Piece, question: str, product: ProductFacts) -> Piece:
        """"红的有没有货": the stock sentence names the colour asked about (樱桃红)."""
        if product.stock == 0:
            return piece
        offered = colours(product)
        hue = re.search(r"([红橙黄绿青蓝紫粉白黑灰银金棕])(色|的)", question)
        named = next((c for c in offered if c in question), None) or (
            next((c for c in offered if hue.group(1) in c), None) if hue else None)
        if named is None or "目前有现货" not in piece.text:
            return piece
        # The pack counts stock per product, not per colour: the colour is offered, the product in stock.
        return Piece(piece.kind, piece.key, piece.text.replace("目前有现货", f"有{named}，目前有现货", 1),
                     piece.slots, piece.citations, piece.score)

    @staticmethod
    def _part_warranty(u: Understanding, question: str, values: dict[str, str],
                       product: ProductFacts | None) -> Piece | None:
        """"电机坏了还保吗" of a unit whose motor has its own term: that term, and whether the
        time the buyer told is within it. A term that ran out is the decline's to say."""
        if product is None or u.escalation == "out_of_warranty" or not QUALITY_WORDS.search(question):
            # (only of a part that broke: "保修几年，电机呢" asks the terms, which the facts give)
            return None
        term = warranty_term(product.fact("保修"), question)
        if term is None or re.match(r"(整机|全机|机器)", term[1]) or "整机" not in product.fact("保修"):
            return None
        within = u.elapsed_hours is not None and u.elapsed_hours <= term[0]
        text = f"{values.get('item', '这款')}{term[1]}" + ("，您这台还在保修期内" if within else "")
        return Piece("fact", "part_warranty", sentence(text), {"item"},
                     [{"source_id": f"product:{product.id}", "kind": "fact", "excerpt": f"保修:{term[1]}"}])

    @staticmethod
    def _marked_clause(question: str, product: ProductFacts | None, values: dict[str, str]) -> Piece | None:
        """Two questions the facts answer in a clause of their own, whatever column holds it:
        "按了没反应" of a unit whose facts say when it starts ("杯体拧紧、磁吸开关吸合后才会启动"),
        to check first, unless the buyer says they tried; and "能买来用吗" of a part whose facts
        say what it fits ("只适配3L电饭煲，5L款不通用")."""
        if product is None:
            return None
        if NO_START.search(question) and not RETRIED.search(question):
            marker, key = START_CONDITION, "start_condition"
            # A battery unit is charged first ("充满电再试").
            charge = "先充满电，再" if re.search(r"(电池|充电)", product.fact("电压")) else "先"
            text = charge + "看一下：{clause}；还不行的话拍段视频给{agent}，按质量问题给您处理"
        elif OVERHEAT.search(question):
            marker, key = DUTY_CYCLE, "duty_cycle"
            text = "先拔掉电源停用，{clause}；凉了以后还有焦味的话拍段视频给{agent}，按质量问题给您处理"
        elif FITS_ASKED.search(question):
            marker, key, text = FITS, "fits", "{item}{clause}"   # "…内胆只适配3L电饭煲"
        else:
            return None
        for label, value in fact_lines(product):
            for clause in re.split(r"[；;。]", PRODUCT_ID.sub("", value)):
                clause = clause.strip()
                if clause and marker.search(clause) and len(clause) <= MAX_MARKED_CLAUSE:
                    filled = text.format(clause=clause, agent=values.get("agent", "我"), item=values.get("item", "这款"))
                    return Piece("fact", key, sentence(filled), set(),
                                 [{"source_id": f"product:{product.id}", "kind": "fact",
                                   "excerpt": f"{label}:{clause}"[:120]}])
        return None

    def _stop_use(self, question: str, values: dict[str, str], product: ProductFacts | None) -> Piece | None:
        stop = self.scripts.get("stop_use") or {}
        if self.stop_cue is None or not self.stop_cue.search(question):
            return None
        appliance_cue = re.search(r"(冒烟|黑烟|渗水|焦味|糊味|烧焦|着火|起火|跳闸|短路|漏电|电到|麻手|火花|漏水)", question)
        verb = values.get("verb") or ("喝" if "喝" in question else "吃")
        if verb == "使用" or (product is None and appliance_cue):
            return Piece("stop", "appliance", str(stop["appliance"]))
        return Piece("stop", "food", str(stop["food"]).format(verb=verb))

    def _declines(self, u: Understanding, question: str, buyer: list[str], values: dict[str, str],
                  product: ProductFacts | None, policy: Policy, shop: dict[str, Any]) -> list[Piece]:
        d: dict[str, str] = self.scripts.get("decline", {})
        out: list[Piece] = []

        def add(key: str, extra: dict[str, str] | None = None, joiner: str = "") -> None:
            filled = fill(d.get(key, ""), {**values, **(extra or {})}) if d.get(key) else None
            if filled:
                out.append(Piece("decline", key, filled[0], filled[1]))

        for r in u.beyond_authority:
            if r.kind == "discount":
                if u.injection:
                    add("discount_injection")
                    continue
                add("discount_priced" if "price" in values else "discount")
                if COMPARE.search(question) and product is not None:
                    add("compare" if "grade" in values else "compare_spec")
                elif not u.escalate:
                    add("discount_alternative")
            elif r.kind == "gift":
                item = r.reason.split(":", 1)[1] if r.reason.startswith("unlisted:") else ""
                box = (product.fact("in_box") or included(product)) if product is not None else ""
                if item and product is not None and item[:2] in box and not any(
                        item[:2] in w for w in name_words(product)):
                    continue  # what they ask for comes with the product: the facts say so
                add("gift_unlisted" if r.reason.startswith("unlisted") else
                    "gift_same" if r.reason == "same" else "gift_extra")
            elif r.kind == "free_shipping":
                place = self.topics.place(list(reversed(buyer)), shop, policy)
                if r.reason == "carrier":
                    add("free_shipping_carrier")
                elif r.reason.startswith("remote:") or (place is not None and place.kind == "remote"):
                    region = place.name if place is not None and place.kind == "remote" else r.reason.split(":", 1)[1]
                    add("free_shipping_remote", {"region": region})
                elif not CARRIER_NAMED.search(question):
                    add("free_shipping_below")
            elif r.kind == "compensation":
                add("compensation_injection" if u.injection else "compensation")
            elif r.kind == "speed":
                late = "same_day_cutoff" in values and paid_after(question, values["same_day_cutoff"])
                add("speed_after_cutoff" if late else "speed_cutoff" if "same_day_cutoff" in values else "speed")
                faster = self.topics.faster_option(policy)
                if faster and not CARRIER_NAMED.search(question):
                    out.append(Piece("decline", "speed_faster", sentence(faster), {"carriers"}))
            elif r.kind == "late_claim" and "warranty_repair" in values:
                add("late_claim_warranty")   # the repair is the agent's to offer; a new unit is not
            elif r.kind == "out_of_warranty":
                add(r.kind, {"warranty": r.detail} if r.detail else None)   # the term that ran out
            elif r.kind in ("bulk", "late_claim", "special_invoice"):
                add(r.kind)
        if any(r.kind == "compensation" and r.allowed for r in u.requests) and not u.injection:
            add("compensation_granted")
        if u.injection and not out:
            add("injection")
        # Two clauses of one decline read as one sentence: "价格…还请您理解；这单可以送您…".
        merged: list[Piece] = []
        for piece in out:
            if merged and not merged[-1].text.endswith("。"):
                last = merged[-1]
                merged[-1] = Piece("decline", last.key, last.text + "；" + piece.text, last.slots | piece.slots)
            else:
                merged.append(piece)
        return [Piece(p.kind, p.key, sentence(p.text), p.slots) for p in merged]

    def _echoes(self, u: Understanding, question: str, values: dict[str, str], policy: Policy,
                problem: Piece | None) -> list[Piece]:
        """What the buyer just told, said back: the gift they chose, their new address."""
        out: list[Piece] = []
        template = self.scripts.get("gift_chosen")
        asking = re.search(r"(吗|？|\?|能不能|可不可以|可以不|行不行)", question)
        if template and problem is None and not asking and not any(r.kind == "gift" for r in u.beyond_authority):
            chosen = [name for gift in policy.gifts.allowed if (name := gift_named(question, gift))
                      and any(re.search(form.format(name=re.escape(name)), question) for form in GIFT_PICKED)]
            if chosen:
                names = "和".join(chosen[:max(policy.gifts.max_per_order, 1)])
                out.append(Piece("echo", "gift", sentence(template.format(chosen=names)), {"gifts"}))
        if ADDRESS_CUE.search(question) or u.intent == "order_change":
            tokens = [t for t in re.split(r"[\s,，:：;；]+", PHONE.sub(" ", question)) if ADDRESS_TOKEN.search(t)]
            tokens = [re.sub(r"^(改成|改为|新地址是?|地址是|寄到)", "", t) for t in tokens]
            address = max(tokens, key=len) if tokens else ""
            if len(address) >= 6:
                out.append(Piece("echo", "address",
                                 f"新地址是：{address}，{values['agent']}这就备注给仓库，麻烦您核对一下对不对。"))
        return out

    def _opener(self, u: Understanding, question: str, pieces: list[Piece]) -> str:
        texts = {oid: (cue, text) for oid, cue, text in self.openers}
        for oid in ("confused", "waiting"):
            cue, text = texts.get(oid, (None, ""))
            if cue is not None and cue.search(question):
                return text
        problem = next((p.key for p in pieces if p.kind == "remedy"), "")
        if problem in ("delayed", "not_shipped"):
            return texts.get("waiting", (None, "亲，"))[1]
        if (problem and problem != "hypothetical") or u.escalation in ("late_claim", "out_of_warranty"):
            return texts.get("problem", (None, "亲，"))[1]
        if problem == "hypothetical":
            return texts.get("plain", (None, "亲，"))[1]
        if (u.mood == "angry" or u.intent == "complaint" or u.escalation in ("compensation", "supervisor")
                or COMPLAINT.search(question)
                or (u.intent == "bad_review" and NEGATIVE_REVIEW.search(question))):
            return texts.get("angry", (None, "亲，"))[1]
        if u.mood == "impatient":
            return texts.get("waiting", (None, "亲，"))[1]
        return texts.get("plain", (None, "亲，"))[1]

    # --- candidates ------------------------------------------------------------------------

    def _composed(self, opener: str, body: list[Piece], values: dict[str, str], product: ProductFacts | None,
                  u: Understanding) -> Draft:
        opener = opener.format(**values) if "{" in opener else opener
        kept: list[Piece] = []
        length = len(opener)
        must = ("stop", "remedy", "decline", "escalate")
        for piece in body:
            if piece.kind not in must and length + len(piece.text) > MAX_REPLY and kept:
                continue
            kept.append(piece)
            length += len(piece.text)
        text = opener + "".join(p.text for p in kept)
        slots = {s for p in kept for s in p.slots}
        cites = [c for p in kept for c in p.citations]
        cites = cites + [c for c in citations_for(slots, product, values)
                         if c["source_id"] not in {x["source_id"] for x in cites}]
        escalate = any(p.kind == "escalate" for p in kept)
        return Draft(text=text, style="composed", citations=cites, escalate=escalate)

    def _sample_draft(self, sample: shop_samples.Sample, opener: str, pieces: list[Piece],
                      values: dict[str, str]) -> Draft:
        """A shop sample, with the apology it lacks and the pieces it does not cover (a
        decline, the hand-over)."""
        # A handbook line that continues the one before ("不过店铺券…") starts a reply badly.
        text = re.sub(r"^(不过|但是|但|另外|而且|同时|还有)[，,]?", "亲，", sample.text)
        if opener != "亲，" and not APOLOGY.search(text):
            text = opener + re.sub(r"^亲[，,]?", "", text)
        extra = [p for p in pieces if p.kind == "escalate" and values["escalation"] not in text]
        extra += [p for p in pieces if p.kind == "decline" and not DECLINED.search(text)
                  and not any(p.kind == "escalate" for p in extra)]
        text = sentence(text) + "".join(p.text for p in extra)
        return Draft(text=text, style="shop", escalate=any(p.kind == "escalate" for p in extra),
                     citations=[{"source_id": sample.source_id, "kind": "script", "excerpt": sample.text[:80]}])

    def _default_facts(self, values: dict[str, str], product: ProductFacts) -> list[Draft]:
        facts = self.scripts.get("facts", {})
        sentences, used = [], set()
        for slot in ("price", "spec"):
            filled = fill(str(facts.get(slot, "")), values) if facts.get(slot) else None
            if filled:
                sentences.append(filled[0])
                used |= filled[1]
        if not sentences:
            return []
        return [Draft(text="亲，" + "".join(sentences), style="facts",
                      citations=citations_for(used | {"product"}, product, values))]

    def _templates(self, u: Understanding, values: dict[str, str], product: ProductFacts | None,
                   policy: Policy) -> list[Draft]:
        out: list[Draft] = []
        # An injected "instruction" is not the buyer's request: no template answers it.
        for request in ([] if u.injection else u.beyond_authority):
            for variant in self.scripts.get("beyond", {}).get(request.kind, []):
                out += self._from_template(variant, values, product, escalate_word=policy.escalation_to)
        for variant in self.scripts.get("intents", {}).get(u.intent, []):
            out += self._from_template(variant, values, product)
        if not out:
            for variant in self.scripts.get("intents", {}).get("other", []):
                out += self._from_template(variant, values, product)
        return out

    @staticmethod
    def _from_template(variant: dict[str, Any], values: dict[str, str], product: ProductFacts | None,
                       escalate_word: str | None = None) -> list[Draft]:
        filled = fill(str(variant.get("text", "")), values)
        if filled is None:
            return []
        text, used = filled
        escalate = bool(escalate_word) and escalate_word in text
        return [Draft(text=text, style=str(variant.get("style", "")), escalate=escalate,
                      citations=citations_for(used, product, values))]

    @staticmethod
    def _approved(understanding: Understanding, retrieved: list[dict[str, Any]]) -> list[Draft]:
        """Approved replies that answered the same kind of request: same intent, and the same
        requests beyond authority (a reply that declined a discount does not answer a gift)."""
        asked = sorted(r.kind for r in understanding.beyond_authority)
        out = []
        for doc in retrieved:
            extra = doc.get("extra") or {}
            if doc["kind"] != "approved" or doc.get("intent") != understanding.intent:
                continue
            if sorted(b for b in str(extra.get("beyond", "")).split("|") if b) != asked:
                continue
            out.append(Draft(text=doc["text"], style="approved", citations=[
                {"source_id": doc["source_id"], "kind": "approved", "excerpt": doc["text"][:80]}]))
        return out


def included(product: ProductFacts) -> str:
    """What comes with the product (its facts but its name, aliases and category)."""
    return "\n".join(line for line in product.text.splitlines()[1:]
                     if not line.startswith(("又称:", "品类:", "价格:")))


def _negated(text: str, start: int) -> bool:
    """"不是质量问题", "没有发霉": the problem is denied ("是不是坏了" asks, it does not deny)."""
    before = text[max(0, start - 4):start]
    return bool(re.search(r"(不是|没有|没|无|并非)$", before)) and not before.endswith("是不是")


CLOCK = re.compile(r"(凌晨|早上|上午|中午|下午|傍晚|晚上)?\s*(\d{1,2}|[一二两三四五六七八九十]{1,3})(?:[:：](\d{2})|点(半)?)")
CN_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


def clock_hour(text: str) -> int:
    """"9", "九", "十一": the hour of a clock time."""
    if text.isdigit():
        return int(text)
    tens, _, ones = text.rpartition("十")
    if "十" not in text:
        return CN_DIGITS.get(text, 0)
    return CN_DIGITS.get(tens, 1) * 10 + CN_DIGITS.get(ones, 0)


def paid_after(question: str, cutoff: str) -> bool:
    """"下午5点付款，今天能发吗" with a 16:00 cut-off: the order ships the next day."""
    cut = re.match(r"(\d{1,2})[:：](\d{2})", cutoff)
    m = CLOCK.search(question)
    if cut is None or m is None or not re.search(r"(付|拍|下单|买)", question[m.end():m.end() + 6]):
        return False
    hour = clock_hour(m.group(2))
    hour += 12 if m.group(1) in ("下午", "傍晚", "晚上") and hour < 12 else 0
    minute = int(m.group(3) or 0) + (30 if m.group(4) else 0)
    return (hour, minute) > (int(cut.group(1)), int(cut.group(2)))


def claim_window_hours_from(values: dict[str, str]) -> float | None:
    if "claim_hours" in values:
        return float(values["claim_hours"])
    if "replace_days" in values:
        return float(values["replace_days"]) * 24
    return None

