"""Date claims: when a sold-out product is restocked and when it was harvested."""

from __future__ import annotations

import re
from collections.abc import Iterator

from service.guardrails.catalog_facts import ShopCatalog
from service.guardrails.claims.base import CONTRADICTED, UNSUPPORTED, Finding, negated, subjects
from service.guardrails.context import CheckContext

# --- restock and harvest dates -------------------------------------------------------------

RESTOCK = re.compile(r"(下个?月|下周|下星期|月底|月初|过几天|过两天|这几天|这周|本周|明天|后天|(\d{1,2})(号|日))"
                     r"[^，。！？]{0,6}?(就)?(能|会|可以)?(补货|到货|补上|有货|上架|恢复)")
FACT_DATE = re.compile(r"(\d{1,2})月(\d{1,2})日")
HARVEST = re.compile(r"(\d{1,2})月(上|中|下)?(上|中|下)?旬?[^，。！？]{0,6}(采摘|采的|摘的|采收|收获|上市)")


def date_findings(text: str, ctx: CheckContext, cat: ShopCatalog) -> Iterator[Finding]:
    for m in RESTOCK.finditer(text):
        if negated(text, m.start()):
            continue
        who = subjects(text, m.start(), m.end(), ctx, cat)
        out = [p for p in who.primary if p.stock == 0]
        if not out:
            continue
        dates = {(int(a), int(b)) for p in out for a, b in FACT_DATE.findall(p.text)}
        exact = re.search(r"(\d{1,2})月(\d{1,2})(日|号)", text[max(0, m.start() - 6):m.end()])
        if exact and (int(exact.group(1)), int(exact.group(2))) in dates:
            continue  # "12月12日左右补货": the policy rule checks stated dates
        if exact:
            continue
        day = re.search(r"(\d{1,2})(号|日)", m.group(0))  # "下个月1号": the day can be checked
        verdict = CONTRADICTED if dates and day and all(int(day.group(1)) != d for _, d in dates) else UNSUPPORTED
        yield Finding(m.start(), m.end(), verdict,
                      "预计补货日期:" + "、".join(f"{a}月{b}日" for a, b in sorted(dates)) if dates else "商品信息没有补货日期")
    for m in HARVEST.finditer(text):
        who = subjects(text, m.start(), m.end(), ctx, cat)
        stated = {int(h.group(1)) for p in who.candidates for h in HARVEST.finditer(p.text)}
        if stated and int(m.group(1)) not in stated:
            yield Finding(m.start(), m.end(), CONTRADICTED, "采摘时间是" + "、".join(f"{s}月" for s in sorted(stated)))
        elif not stated and who.primary:
            yield Finding(m.start(), m.end(), UNSUPPORTED, "商品信息没有写采摘时间")
