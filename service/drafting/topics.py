"""Answers from the shop's rules (shop.yaml): delivery days to where the buyer is, carriers
and their surcharges, payment, invoices, service hours, returns, price protection, …

Each topic of `topics` in scripts.yaml has a cue; a topic is answered when the buyer's last
message has its cue, or when the message carries the topic's intent and the buyer's message
before it has the cue ("我想退货" … "没拆，就是买多了"). A topic whose slots the shop does
not fill (no invoice section, no price protection) is not answered: nothing is invented.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from service.drafting.pieces import Piece, fill, sentence
from service.knowledge.models import Policy

CARRIER_NAMES = re.compile(r"(顺丰|京东|中通|韵达|圆通|申通|邮政|EMS|极兔|德邦|百世)", re.IGNORECASE)
OPENED = re.compile(r"(拆开|拆了|拆封|开封|打开|吃了|喝了|用了|用过|通电|开袋)")
ASK_RETURN = re.compile(r"(能退|可以退|退吗|想退|退掉|不想要|不要了|无理由)")
UNOPENED = re.compile(r"(没拆|未拆|没开封|未开封|没打开|未通电|没通电|没用过|没用)")
RECEIVED = re.compile(r"(收到|签收|到货|到手|拆开|拆封)")
COLOUR = re.compile(r"(换成|改成|换|改)([\u4e00-\u9fff]{1,3}色)")
SHIPPED = re.compile(r"((已经|已)(发货|发出|寄出)|发货了|发出了|寄出了)")
PAY_NAMES = re.compile(r"(微信支付|微信|云闪付|支付宝|花呗|信用卡|储蓄卡|借记卡|银行卡|余额宝|PayPal|paypal|数字人民币)")


@dataclass(frozen=True)
class Topic:
    id: str
    cue: re.Pattern[str]
    intents: tuple[str, ...]
    texts: dict[str, str]
    unless: re.Pattern[str] | None = None   # a message with this is about something else


@dataclass(frozen=True)
class Place:
    name: str       # as the buyer wrote it (乌鲁木齐)
    province: str   # 新疆
    kind: str       # same_province | remote | other


class Topics:
    def __init__(self, scripts: dict[str, Any]) -> None:
        self.topics = [Topic(str(t["id"]), re.compile(str(t["cue"]), re.IGNORECASE), tuple(t.get("intents", [])),
                             {k: str(v) for k, v in t.items() if k.startswith("text")},
                             re.compile(str(t["unless"])) if t.get("unless") else None)
                       for t in scripts.get("topics", [])]
        self.carriers: dict[str, Any] = scripts.get("carriers", {})
        self.delivery: dict[str, str] = scripts.get("delivery", {})
        # Longest names first: "内蒙古" before "内蒙".
        self.places = sorted(((name, province) for province, names in (scripts.get("regions") or {}).items()
                              for name in names), key=lambda p: len(p[0]), reverse=True)

    def asked(self, question: str, previous: str, intent: str) -> list[Topic]:
        """Topics of the last message; a follow-up that names none ("还没发，刚付的") carries
        on the topic of the buyer's message before it."""
        def has(t: Topic, text: str) -> bool:
            return bool(t.cue.search(text)) and not (t.unless and t.unless.search(question))

        now = [t for t in self.topics if has(t, question)]
        if now or not previous:
            return now + [t for t in self.topics if t not in now and intent in t.intents and has(t, previous)]
        return [t for t in self.topics if has(t, previous)]

    def place(self, texts: list[str], shop: dict[str, Any], policy: Policy) -> Place | None:
        """Where the buyer is, from their messages (latest first)."""
        warehouse = str(shop.get("warehouse", ""))
        home = next((prov for name, prov in self.places if name == prov and name in warehouse), "")
        excluded = [str(r) for r in (policy.model_extra or {}).get("free_shipping_excluded_regions", [])]
        for text in texts:
            for name, province in self.places:
                if name in text:
                    kind = ("remote" if province in excluded else "same_province" if province == home else "other")
                    return Place(name, province, kind)
        return None

    def answer(self, question: str, previous: str, intent: str, buyer_texts: list[str], values: dict[str, str],
               shop: dict[str, Any], policy: Policy, skip: set[str],
               elapsed_hours: float | None = None, shipped: bool = False) -> list[Piece]:
        """Pieces for the topics asked, in the order of `topics`; `skip` names topics already
        answered by another piece (a decline that states the remote surcharge). `shipped`:
        the agent already said the parcel is on its way."""
        place = self.place(buyer_texts, shop, policy)
        asked = [t for t in self.asked(question, previous, intent) if t.id not in skip
                 and not (t.id == "remote_fee" and (place is None or place.kind != "remote"))]
        ids = {t.id for t in asked}
        pieces: list[Piece] = []
        for topic in asked:
            if topic.id == "free_shipping" and ({"remote_fee", "carrier", "merge_orders"} & ids):
                continue
            if topic.id == "payment_methods" and "installments" in ids and values.get("huabei_note"):
                continue
            if topic.id == "invoice" and ({"invoice_rename", "warranty"} & ids):
                continue
            if topic.id == "no_reason_return" and ({"exchange", "cancel", "price_protection"} & ids):
                continue
            # "不想要了 能退吗 运费谁出": the return answer names who pays the freight too.
            asks_return = bool(ASK_RETURN.search(question))
            if topic.id == "no_reason_return" and "return_freight" in ids and not asks_return:
                continue
            if topic.id == "return_freight" and "no_reason_return" in ids and asks_return:
                continue
            if topic.id == "voltage" and "delivery_scope" in ids and not re.search(r"(110|电压|变压器|用)", question):
                continue
            if topic.id == "delivery_scope" and "voltage" in ids and not re.search(r"(寄|发|送|快递|邮)", question):
                continue  # "能在日本用吗" asks about the voltage, not shipping there
            if topic.id == "address_change" and ({"confidential"} & ids):
                continue
            if topic.id == "payment_methods" and ({"off_platform", "cod", "payment_trouble"} & ids):
                continue
            if topic.id == "remote_fee" and "delivery" in ids and place is not None and place.kind == "remote":
                piece = self._filled(topic, "text_after_delivery", values)
                if piece is not None:
                    pieces.append(piece)
                continue
            if topic.id == "no_reason_return":
                window = float(values.get("return_days", 0) or 0) * 24
                if elapsed_hours is not None and window and elapsed_hours > window:
                    piece = self._filled(topic, "text_late", values)
                elif OPENED.search(question) and not UNOPENED.search(question) and UNOPENED.search(
                        values.get("return_condition", "")):
                    piece = self._filled(topic, "text_opened", values)
                else:
                    piece = self._filled(topic, "text", values)
                if piece is not None:
                    pieces.append(piece)
                continue
            if topic.id == "exchange" and "order_edit" in ids and not RECEIVED.search(question):
                continue   # "刚拍的能换成黑色吗": the order is changed, nothing is sent back
            if topic.id == "address_change" and (shipped or SHIPPED.search(question)):
                piece = self._filled(topic, "text_shipped", values)
                if piece is not None:
                    pieces.append(piece)
                continue
            piece = self._one(topic, question, place, values, policy)
            if piece is not None:
                pieces.append(piece)
        return pieces

    def _one(self, topic: Topic, question: str, place: Place | None, values: dict[str, str],
             policy: Policy) -> Piece | None:
        if topic.id == "delivery":
            return self._delivery(place, values)
        if topic.id == "carrier":
            return self._carrier(question, values, policy)
        if topic.id == "remote_fee":
            if place is None or place.kind != "remote" or "remote_fee" not in values:
                return None
            text = f"{place.name}属于偏远地区，即使订单满{values.get('threshold', '')}元也需要补{values['remote_fee']}元运费，下单时会自动算好。"
            if "threshold" not in values:
                text = f"{place.name}属于偏远地区，需要补{values['remote_fee']}元运费，下单时会自动算好。"
            return Piece("topic", topic.id, text, {"remote_fee", "threshold"})
        if topic.id == "order_edit" and (colour := COLOUR.search(question)):
            return self._filled(topic, "text_colour", {**values, "colour": colour.group(2)})
        if topic.id == "exchange" and "exchange_days" not in values:
            return self._filled(topic, "text_via_return", values)
        if topic.id == "dispatch" and "same_day_cutoff" in values:
            return self._filled(topic, "text_cutoff", values)
        if topic.id == "installments" and "huabei_note" not in values:
            return self._filled(topic, "text_generic", values)
        if topic.id == "free_shipping" and "price" in values:
            return self._filled(topic, "text_short" if "gap" in values else "text_met", values)
        if topic.id == "payment_methods":
            asked = [m for m in PAY_NAMES.findall(question)]
            listed = values.get("payment_methods", "")
            missing = [m for m in asked if m not in listed and not any(x in m for x in listed.split("、"))]
            if missing:
                return self._filled(topic, "text_unsupported", {**values, "asked": missing[0]})
        return self._filled(topic, "text", values)

    @staticmethod
    def _filled(topic: Topic, key: str, values: dict[str, str]) -> Piece | None:
        template = topic.texts.get(key) or topic.texts.get("text")
        filled = fill(template, values) if template else None
        if filled is None:
            return None
        return Piece("topic", topic.id, sentence(filled[0]), filled[1])

    def _delivery(self, place: Place | None, values: dict[str, str]) -> Piece | None:
        if place is None:
            filled = fill(self.delivery.get("unknown", ""), values)
        else:
            filled = fill(self.delivery.get(place.kind, ""),
                          {**values, "place": place.name, "province": place.province})
        return Piece("topic", "delivery", filled[0], filled[1]) if filled else None

    def _entries(self, policy: Policy) -> list[tuple[str, str]]:
        """The shop's carriers with the surcharge each costs ("" for none), the default first."""
        extra = policy.model_extra or {}
        keys = {str(k): str(v) for k, v in (self.carriers.get("surcharge_keys") or {}).items()}

        def surcharge(entry: str) -> str:
            inline = re.search(r"(\d+(?:\.\d+)?)\s*元", entry)
            if inline:
                return inline.group(1)
            for key, name in keys.items():
                value = extra.get(f"{key}_surcharge_cny")
                if name in entry and isinstance(value, (int, float)):
                    return f"{value:g}"
            return ""

        return [(re.sub(r"[（(].*?[)）]", "", c).strip(), surcharge(c)) for c in policy.carriers]

    def faster_option(self, policy: Policy) -> str | None:
        """"能加急吗": the carrier the buyer may pay extra for, as a clause, if the shop has one."""
        entries = self._entries(policy) if policy.carriers else []
        alt = next(((n, s) for n, s in entries[1:] if s), None)
        if alt is None or not self.carriers.get("faster"):
            return None
        return str(self.carriers["faster"]).format(surcharge=alt[1], alt_carrier=alt[0])

    def _carrier(self, question: str, values: dict[str, str], policy: Policy) -> Piece | None:
        if not policy.carriers:
            return None
        entries = self._entries(policy)
        default = entries[0][0]
        alt = next(((n, s) for n, s in entries[1:] if s), None)
        m = CARRIER_NAMES.search(question)
        asked = m.group(1).upper() if m and m.group(1).lower() == "ems" else (m.group(1) if m else "")
        slots = {"default_carrier": default, "threshold": values.get("threshold", "")}
        c = self.carriers
        parts: list[str] = []
        match = next(((n, s) for n, s in entries if asked and asked in n), None)
        if not asked or (match and match[0] == default):
            parts.append(c["default"].format(**slots))
            if alt and not asked:
                parts.append(c["alternative"].format(surcharge=alt[1], alt_carrier=alt[0]))
        elif match and match[1]:
            key = "surcharge_no_free" if re.search(r"(包邮|免邮|运费)", question) and slots["threshold"] else "surcharge"
            parts.append(c[key].format(**slots, carrier=match[0], surcharge=match[1]))
        else:
            parts.append(c["unsupported"].format(**slots, carrier=asked))
            if alt:
                parts.append(c["alternative"].format(surcharge=alt[1], alt_carrier=alt[0]))
        return Piece("topic", "carrier", sentence("，".join(parts)), {"carriers"})
