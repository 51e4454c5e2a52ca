"""Answers from the product's own facts: any column of products.csv.

A question names what it wants in two ways. By a cue ("保质期", "几瓦", "有现货吗"): the
column the cue belongs to (`fact_columns` in scripts.yaml) is quoted, the clauses of it that
fit the question first. By its words ("是咸的吗，我在控盐", "里面有核"): the clause of any
column that shares the rarest words with the question is quoted, so a fact written only
in `notes` still answers. Nothing is quoted that the product's facts do not say.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from service.drafting.match import Scorer, grams
from service.drafting.pieces import Piece, clauses, fill, sentence
from service.guardrails.context import ProductFacts
from service.understanding.buyer import CODE

NOT_ANSWERS = frozenset({"价格", "又称", "库存", "品类", "商品编号"})
BLANK = frozenset({"否", "无", "没有", "-", "/", "—", "N/A", "不适用"})  # a column saying "none"
ALTERNATIVE = re.compile(r"(着急的话|可以先买|可以看|可以选|有现货)")
RESTOCK = re.compile(r"(补货|到货|恢复|上架|有货)")
PRODUCT_ID = re.compile(r"[（(][A-Za-z]{0,3}\d+[)）]")
INCLUDED = re.compile(r"(带|配|含|附|送)(不带|不配|不含)?(?:个|了|有)?([\u4e00-\u9fff]{1,4}?)(吗|不|没|么|啊|呀|呢)")
VAGUE = frozenset({"啥", "什么", "啥东西", "什么东西", "东西", "些啥", "些什么", "点啥", "点什么"})
CODE_BONUS = 10.0       # a clause naming the fault code asked about wins over shared words
CODE_ENTRY = re.compile(r"(?<![A-Za-z])([Ee]\d{1,2})\s*[=＝:：]\s*([^，,；;、。]+)")
MAX_QUOTE = 60          # characters of one fact quoted in a chat reply
MIN_MATCH = 2.4         # what a clause must share with the question to be quoted unasked
NAME_WEIGHT = 0.3       # words of the product's name left in the question


@dataclass(frozen=True)
class FactColumn:
    label: str          # the label in the product's document (a column's header when unlabelled)
    cue: re.Pattern[str]
    text: str
    name: str           # how a citation names it
    weak: bool = False  # its cue is a verb, not the column's name


def fact_lines(product: ProductFacts) -> list[tuple[str, str]]:
    """(label, value) of the product's document, the first line (its name) left out."""
    out = []
    for line in product.text.splitlines()[1:]:
        label, sep, value = line.partition(":")
        if sep and value.strip():
            out.append((label.strip(), value.strip()))
    return out


def colours(product: ProductFacts) -> list[str]:
    """The colours the product comes in ("奶白、曜石黑" -> ["奶白", "曜石黑"])."""
    return [c for c in re.split(r"[、，,/ ]", product.fact("颜色")) if len(c) >= 2]


def name_words(product: ProductFacts) -> list[str]:
    """The product's name parts and aliases, longest first."""
    words = {w for w in [*product.name.split(), *product.fact("又称").split("、")] if len(w) >= 2}
    return sorted(words, key=len, reverse=True)


def without_name(question: str, product: ProductFacts | None) -> str:
    """The question with the product's own name taken out: naming the product asks nothing
    about it ("芒果干有没有加糖" asks about sugar, not mango)."""
    if product is None:
        return question
    for word in name_words(product):
        question = question.replace(word, " ")
    return question


PART = re.compile(r"[\s，,。？?！!、]+")


def parts(question: str) -> list[str]:
    """The separate questions of a message ("冲奶调几度 能一直保温吗"), when it has several."""
    found = [p for p in PART.split(question) if len(p) >= 3]
    return found if len(found) > 1 else []


def code_entries(clause: str, codes: set[str]) -> str:
    """Of a table of fault codes ("故障码：E1=…，E2=…"), the entries asked about, read as
    sentences ("E2是电机过热保护（…）"); any other clause as it is."""
    entries = [(m.group(1), m.group(2)) for m in CODE_ENTRY.finditer(clause) if m.group(1).lower() in codes]
    return "，".join(f"{code}是{meaning}" for code, meaning in entries) if entries else clause


class FactAnswerer:
    def __init__(self, scripts: dict[str, Any]) -> None:
        self.columns = [FactColumn(str(c["label"]), re.compile(str(c["cue"]), re.IGNORECASE), str(c.get("text", "")),
                                   str(c.get("name", c["label"])), bool(c.get("weak", False)))
                        for c in scripts.get("fact_columns", [])]
        self.names = {c.label: c.name for c in self.columns}
        self.synonyms = {str(k): [str(w) for w in v] for k, v in (scripts.get("synonyms") or {}).items()}
        self.stock = scripts.get("facts", {})

    def asked(self, question: str, product: ProductFacts | None = None) -> list[FactColumn]:
        """The columns the question asks about. The product's own name and aliases are
        taken out first: "这个特级枸杞多少钱" asks the price, not the grade."""
        question = without_name(question, product)
        return [c for c in self.columns if c.cue.search(question)]

    def answer(self, question: str, product: ProductFacts, values: dict[str, str],
               unasked: bool = True) -> list[Piece]:
        """Pieces for the columns the question asks about, then (when `unasked`) the clause
        that fits its words best. Cue answers are kind "fact", word matches kind "clue"."""
        lines = fact_lines(product)
        facts = {label: value for label, value in lines}
        asking = without_name(question, product)
        query = grams(asking + " " + " ".join(w for key, words in self.synonyms.items() if key in asking
                                              for w in words))
        named = grams(product.name)  # what is left of the name ("黑枸杞" of "新疆黑枸杞") says little
        weighted = [(label, c, grams(c)) for label, v in lines if label not in NOT_ANSWERS for c in clauses(v)]
        scorer = Scorer(g for _, _, g in weighted)

        # A fault code the message names ("跳E1") picks the clause that explains it.
        codes = {c.lower() for c in CODE.findall(question)}

        def score(g: frozenset[str]) -> float:
            bonus = CODE_BONUS if codes and codes & g else 0.0
            return bonus + sum(scorer.weight(x) * (NAME_WEIGHT if x in named else 1.0) for x in query & g)

        pieces: list[Piece] = []
        answered: set[str] = set()
        weak: list[Piece] = []   # answers to weak cues, scored by how their value fits the question
        for column in self.asked(question, product):
            if column.label in answered:
                continue
            if column.label == "价格":
                filled = fill(column.text, values) if "price" in values else None
                if filled:
                    pieces.append(self._piece("fact", "价格", filled[0], filled[1], product, values["price"]))
                    answered.add(column.label)
                continue
            if column.label == "库存":
                pieces += self._stock(product, values, lines)
                answered.add(column.label)
                continue
            value = facts.get(column.label)
            if not value or not column.text or value in BLANK:
                continue
            quote = self._quote(value, score)
            text = column.text
            asked_for = INCLUDED.search(question) if column.label == "in_box" else None
            if asked_for and asked_for.group(3) in VAGUE:
                asked_for = None           # "要配啥吗" asks for the list, not about one thing
            if asked_for and asked_for.group(3) not in value:
                # "带盆吗": what the box lacks is said first, then what it holds.
                text = "{item}不带" + asked_for.group(3) + "，包装里有：{value}。"
            filled = fill(text, {**values, "value": quote})
            if filled:
                piece = self._piece("fact", column.name, filled[0], filled[1], product, quote)
                pieces.append(piece)
                answered.add(column.label)
                if column.weak and asked_for:
                    piece.score = MIN_MATCH * 3   # the thing asked about is named: this answers it
                elif column.weak:
                    piece.score = score(grams(value))
                    weak.append(piece)
        if not unasked:
            return pieces
        ranked = sorted(((score(g), label, c) for label, c, g in weighted if label not in answered),
                        key=lambda t: t[0], reverse=True)
        # With the asked columns answered, a further clause must fit clearly better; a weak
        # cue answer that shares nothing with the question gives way to one that does.
        # A weak cue answer gives way to a clause that fits at least twice as well, and to a
        # weak answer that fits better.
        best_weak = max((p.score for p in weak), default=0.0)
        losers = [p for p in weak if p.score < best_weak or (p.score == 0 and len(pieces) > 1)]
        if ranked:
            # (a weak answer sharing nothing gives way to any clause that shares something real)
            losers += [p for p in weak if p not in losers
                       and ranked[0][0] >= (MIN_MATCH / 3 if p.score == 0 else max(MIN_MATCH, 2 * p.score))]
        weak = losers
        strong = [p for p in pieces if p not in weak]
        needed = MIN_MATCH * 3 if strong else MIN_MATCH / 3 if any(p.score == 0 for p in weak) else MIN_MATCH
        if ranked and ranked[0][0] >= needed and not any(ranked[0][2] in p.text for p in pieces):
            pieces = strong
            top, label, clause = ranked[0]
            pieces.append(self._clue(label, code_entries(clause, codes), top, product, values))
        # "炖燕窝要多久 三个胆能一起炖吗": a second question in the message gets its own
        # clause, when one fits it clearly and nothing said so far does.
        if pieces:
            said = [grams(without_name(p.text.replace(values.get("item", ""), ""), product)) for p in pieces]
            for part in parts(asking):
                part_grams = grams(part + " " + " ".join(w for key, words in self.synonyms.items()
                                                         if key in part for w in words))
                covered = max(sum(scorer.weight(x) for x in part_grams & g) for g in said)
                fit = max(((sum(scorer.weight(x) for x in part_grams & g), lab, c) for lab, c, g in weighted
                           if lab not in answered and not any(c in p.text for p in pieces)),
                          key=lambda t: t[0], default=None)
                if fit is not None and fit[0] >= MIN_MATCH * 1.5 and fit[0] > covered * 1.2:
                    pieces.append(self._clue(fit[1], fit[2], fit[0], product, values, named=False))
                    break
        return pieces

    def _clue(self, label: str, clause: str, score: float, product: ProductFacts,
              values: dict[str, str], named: bool = True) -> Piece:
        """A clause quoted for its words; the second one of a reply goes without the name."""
        clause = PRODUCT_ID.sub("", clause)    # "只适配3L电饭煲（K03）": ids are the pack's, not the buyer's
        item = values.get("item", "这款")
        if label == "颜色":
            text = f"{item if named else ''}有{clause}可选"   # colours read as a choice, not a label
        else:
            text = f"{item}{'' if clause.startswith(('是', '有', '为')) else '：'}{clause}" if named else clause
        piece = self._piece("clue", self.names.get(label, label), sentence(text), {"item"}, product, clause)
        piece.score = score
        return piece

    def stock_pieces(self, product: ProductFacts, values: dict[str, str]) -> list[Piece]:
        """The stock sentence for the product (out of stock: with its restock date, if given)."""
        return self._stock(product, values, fact_lines(product))

    def _stock(self, product: ProductFacts, values: dict[str, str], lines: list[tuple[str, str]]) -> list[Piece]:
        key = "stock_out" if product.stock == 0 else "stock_in"
        slots = dict(values)
        if product.stock == 0:
            # The pack's own restock date, when it gives one ("预计2026年12月5日补货").
            restock = next((c.strip() for label, v in lines if label not in NOT_ANSWERS
                            for c in re.split(r"[；;，,。：:]", v) if RESTOCK.search(c) and re.search(r"\d", c)), "")
            if restock and self.stock.get("stock_out_dated"):
                key, slots["restock"] = "stock_out_dated", restock
            # What the pack suggests meanwhile ("着急的话可以看5.5L可视款（K05）"), without the id.
            instead = next((c.strip() for label, v in lines if label not in NOT_ANSWERS
                            for c in re.split(r"[；;。]", v) if ALTERNATIVE.search(c)), "")
            if instead:
                slots["instead"] = re.sub(r"[（(][A-Za-z]*\d+[)）]", "", instead)
        filled = fill(str(self.stock.get(key, "")), slots) if self.stock.get(key) else None
        if not filled:
            return []
        text = filled[0]
        if slots.get("instead"):
            text += sentence(slots["instead"])
        return [self._piece("fact", "库存", text, filled[1] - {"restock"}, product, f"{product.stock}")]

    @staticmethod
    def _quote(value: str, score: Any) -> str:
        """The clauses of a value that fit the question best, in their order, within MAX_QUOTE."""
        parts = clauses(value)
        if len(value) <= MAX_QUOTE or len(parts) == 1:
            return value.rstrip("。；;")[: MAX_QUOTE * 2]
        ranked = sorted(range(len(parts)), key=lambda i: score(grams(parts[i])), reverse=True)
        keep: list[int] = []
        for i in ranked:
            if sum(len(parts[j]) for j in keep) + len(parts[i]) > MAX_QUOTE and keep:
                break
            keep.append(i)
        return "；".join(parts[i] for i in sorted(keep))

    @staticmethod
    def _piece(kind: str, label: str, text: str, slots: set[str], product: ProductFacts, excerpt: str) -> Piece:
        return Piece(kind, label, text, slots, [{"source_id": f"product:{product.id}", "kind": "fact",
                                                 "excerpt": f"{label}:{excerpt}"[:120]}])
