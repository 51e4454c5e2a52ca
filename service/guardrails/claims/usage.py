"""Usage claims judged against 储存方法 and 食用方法: storage after opening, brewing temperature and
how much to eat or how often to steep."""

from __future__ import annotations

import re
from collections.abc import Iterator

from service.guardrails.catalog_facts import ShopCatalog
from service.guardrails.claims.base import CN_NUM, CONTRADICTED, Finding, _clause, _number, negated, subjects
from service.guardrails.context import CheckContext, ProductFacts

# --- storage after opening, brewing temperature --------------------------------------------

OPENED = re.compile(r"(开(瓶|袋|罐|封|盖|包)|拆(开|封|袋))")
ROOM = re.compile(r"(常温|室温|不用冷藏|不需要冷藏|不用放冰箱|随便放)")
CHILLED = re.compile(r"(冷藏|冰箱|冷冻)")
DURATION = re.compile(rf"(放|存|保存|存放|搁|喝|吃)[^，。！？]{{0,3}}?{CN_NUM}\s*(个)?(小时|天|周|星期|礼拜|月|年)")
DURATION_FACT = re.compile(rf"{CN_NUM}\s*(个)?(小时|天|周|星期|月|年)(内|之内|以内)")
HOURS = {"小时": 1, "天": 24, "周": 168, "星期": 168, "礼拜": 168, "月": 720, "年": 8760}
BOILING = re.compile(r"(开水|沸水|滚水|刚烧开的水|热开水|100\s*℃|100度)")
DEGREES = re.compile(r"(\d+)\s*(?:-\s*(\d+)\s*)?(℃|度)")


def storage_findings(text: str, ctx: CheckContext, cat: ShopCatalog) -> Iterator[Finding]:
    """"开瓶后常温能放一周" where the facts say 开瓶后冷藏，48小时内喝完."""
    for m in OPENED.finditer(text):
        if negated(text, m.start(), window=2):
            continue  # 未开封 is the unopened product
        left, right = _clause(text, m.start(), m.end())
        clause = text[left:right]
        who = subjects(text, m.start(), m.end(), ctx, cat)
        rules = [_opened_rule(p) for p in who.candidates]
        rules = [r for r in rules if r is not None]
        if not rules:
            continue
        room = ROOM.search(clause)
        if room and not negated(clause, room.start()) and all(chilled for chilled, _ in rules):
            yield Finding(left + room.start(), left + room.end(), CONTRADICTED, "开封后要冷藏")
            continue
        d = DURATION.search(clause)
        if d:
            value = _number(d.group(2))
            limits = [h for _, h in rules if h is not None]
            if value is not None and limits and value * HOURS[d.group(4)] > max(limits) + 1e-9:
                yield Finding(left + d.start(), left + d.end(), CONTRADICTED, f"开封后 {max(limits):g} 小时内吃完")


def _opened_rule(product: ProductFacts) -> tuple[bool, float | None] | None:
    """(chilled after opening?, hours to finish) from the storage facts; None if silent."""
    storage = product.fact("储存方法")
    chilled, hours, said = False, None, False
    for clause in re.split(r"[；;。]", storage):
        for m in OPENED.finditer(clause):
            if negated(clause, m.start(), window=2):
                continue
            said = True
            chilled = chilled or bool(CHILLED.search(clause[m.end():]))
            d = DURATION_FACT.search(clause)
            if d and (value := _number(d.group(1))) is not None:
                h = value * HOURS[d.group(3)]
                hours = h if hours is None else min(hours, h)
            elif re.search(r"(当天|一次)(吃|喝)完", clause):
                hours = 24.0 if hours is None else min(hours, 24.0)
    return (chilled, hours) if said else None


def temperature_findings(text: str, ctx: CheckContext, cat: ShopCatalog) -> Iterator[Finding]:
    """Brewing hotter than the usage facts allow ("开水冲泡" for 40-60℃)."""
    for m in list(BOILING.finditer(text)) + list(DEGREES.finditer(text)):
        left, right = _clause(text, m.start(), m.end())
        if not re.search(r"(泡|冲|焖|沏)", text[left:right]) or negated(text, m.start()):
            continue
        who = subjects(text, m.start(), m.end(), ctx, cat)
        limits = [_max_temperature(p) for p in who.candidates]
        limits = [x for x in limits if x is not None]
        if not limits:
            continue
        claimed = 100.0 if m.re is BOILING else float(m.group(2) or m.group(1))
        if claimed > max(limits) + 10:
            yield Finding(m.start(), m.end(), CONTRADICTED, f"冲泡水温不超过 {max(limits):g}℃")


def _max_temperature(product: ProductFacts) -> float | None:
    usage = product.fact("食用方法")
    found = [float(m.group(2) or m.group(1)) for m in DEGREES.finditer(usage)]
    if re.search(r"(不要|别|勿)用?(刚烧开|开水|沸水)", usage):
        found.append(min(found) if found else 90.0)
    return max(found) if found else None


# --- how much to eat -------------------------------------------------------------------------

# "每天吃3袋", "每次5-10粒": the words between may only say how it is eaten (not "每日坚果30袋").
AMOUNT_CLAIM = re.compile(rf"(每天|每次|一天|一次|每日)\s*(?:[^，。！？；\d]{{0,3}}?(?:吃|喝|泡|冲|嚼|食用|放))?\s*"
                          rf"(?:约|大约|最多)?{CN_NUM}(?:\s*[-~到至]\s*{CN_NUM})?\s*(小)?(克|g|粒|颗|个|袋|瓶)")
STEEPS = re.compile(rf"(续泡|冲泡|泡)\s*{CN_NUM}(?:\s*[-~到至]\s*{CN_NUM})?\s*次")
AMOUNT_FACT = re.compile(rf"{CN_NUM}(?:\s*[-~到至]\s*{CN_NUM})?\s*(小)?(克|g|粒|颗|个|袋|瓶)")
COUNT_UNITS = {"克": "g", "g": "g", "粒": "count", "颗": "count", "个": "count", "袋": "袋", "瓶": "瓶"}


def amount_findings(text: str, ctx: CheckContext, cat: ShopCatalog) -> Iterator[Finding]:
    """"每天吃50克" where the usage facts say 10-20克: more than the facts advise."""
    for m in AMOUNT_CLAIM.finditer(text):
        unit = COUNT_UNITS[m.group(5)]
        claimed = _number(m.group(3) or m.group(2))
        who = subjects(text, m.start(), m.end(), ctx, cat)
        highs = [h for p in who.candidates for f in AMOUNT_FACT.finditer(p.fact("食用方法"))
                 if COUNT_UNITS[f.group(4)] == unit and (h := _number(f.group(2) or f.group(1))) is not None]
        if claimed is not None and highs and claimed > max(highs) + 1e-9:
            yield Finding(m.start(), m.end(), CONTRADICTED, f"食用方法写的是最多 {max(highs):g}{m.group(5)}")
    for m in STEEPS.finditer(text):  # "可以续泡10次" where the facts say 4-5次
        claimed = _number(m.group(3) or m.group(2))
        who = subjects(text, m.start(), m.end(), ctx, cat)
        highs = [h for p in who.candidates for f in STEEPS.finditer(p.fact("食用方法"))
                 if (h := _number(f.group(3) or f.group(2))) is not None]
        if claimed is not None and highs and claimed > max(highs) + 1e-9:
            yield Finding(m.start(), m.end(), CONTRADICTED, f"食用方法写的是最多续泡 {max(highs):g} 次")
