"""The suggestion pipeline: a conversation in, N checked candidates out.

Nothing blocked leaves as ready to send: every draft is checked, safe repairs applied and the
repaired text checked again; a draft that still blocks is dropped and the next one tried.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from service.drafting.facts import colours
from service.drafting.llm import DraftError, LLMDrafter
from service.drafting.offline import Draft, OfflineDrafter, slot_values
from service.errors import InvalidRequest, ProductNotFound
from service.guardrails.models import CheckResult
from service.guardrails.service import Guardrails
from service.knowledge.models import Policy
from service.retrieval.hybrid import HybridRetriever
from service.tokens import count_tokens
from service.understanding.buyer import Understanding, understand

MAX_TURNS = 20        # older turns are dropped (trimmed, not refused)
MAX_CANDIDATES = 10
FOLLOW_UP_CHARS = 15  # a message this short may only continue the one before
# Asking which product suits a need, naming none.
RECOMMEND = re.compile(r"(推荐|哪个好|哪款|哪一款|选哪|买哪|用哪个|哪个[^，。？?]{0,3}(合适|适合|好用)|"
                       r"有没有(能|可以)|有(能|可以)[^，。？?]{1,8}的(吗|没|不)|适合[^，。？?]{1,8}的)")
COLOUR = re.compile(r"([红橙黄绿青蓝紫粉白黑灰银金棕])色")
COLOUR_SCAN = 500     # a catalog this small is scanned for a colour the buyer names
RECOMMEND_INTENTS = ("product_question", "stock", "other")
PEOPLE = re.compile(r"(\d+|[一二两三四五六七八九十])\s*(口人|个人|口子|人吃|人用)")
HEADCOUNT = re.compile(r"(\d+|[一二两三四五六七八九十])\s*个(了|人)")   # "就5个了", counted only beside PEOPLE
RANGE = re.compile(r"(\d+)\s*[-~～到至]\s*(\d+)\s*(人|口人|个人)")
CN_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九十")} | {"两": 2}


def _count(raw: str) -> int | None:
    return int(raw) if raw.isdigit() else CN_DIGITS.get(raw)


def _most_people(text: str) -> int | None:
    """The most people a message counts ("三口人，周末老人来就5个了": 5), the busiest day
    being the one the size must serve."""
    counts = [c for m in [*PEOPLE.finditer(text), *HEADCOUNT.finditer(text)] if (c := _count(m.group(1))) is not None]
    return max(counts) if counts else None


def _serves(facts: Any, n: int) -> bool:
    """Whether a product's facts give a range of people ("适合3-8人") that holds n."""
    return any(int(m.group(1)) <= n <= int(m.group(2)) for m in RANGE.finditer(facts.text))


@dataclass
class Candidate:
    id: str
    text: str
    citations: list[dict[str, str]]
    verdict: str
    violations: list[dict[str, Any]]
    escalate: bool
    style: str = ""


@dataclass
class _Prepared:
    shop: str
    history: list[dict[str, str]]
    notes: list[str]
    state_shop: dict[str, Any]
    policy: Policy
    question: str
    facts: Any
    understanding: Understanding
    retrieved: list[dict[str, Any]]
    catalog: Any = None


@dataclass
class Suggestion:
    id: str
    intent: str
    backend: str
    candidates: list[Candidate]
    usage: dict[str, int]
    latency_ms: float
    understanding: Understanding | None = None
    notes: list[str] = field(default_factory=list)
    prompt_version: str | None = None
    model: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The response body of POST /v1/suggestions (CONTRACTS §3, plus understanding)."""
        u = self.understanding
        return {"id": self.id, "intent": self.intent, "backend": self.backend, "usage": self.usage,
                "latency_ms": self.latency_ms, "candidates": [c.__dict__ for c in self.candidates],
                "stage": u.stage if u else "pre_sale", "mood": u.mood if u else "calm",
                "product": u.product if u else None,
                "beyond_authority": [r.kind for r in u.beyond_authority] if u else [],
                "notes": self.notes, "prompt_version": self.prompt_version, "model": self.model}


class SuggestionPipeline:
    def __init__(self, retriever: HybridRetriever, guardrails: Guardrails,
                 drafter: OfflineDrafter | None = None, max_message_chars: int = 2000,
                 llm: LLMDrafter | None = None) -> None:
        self.retriever = retriever
        self.guardrails = guardrails
        self.drafter = drafter or OfflineDrafter()
        self.llm = llm
        self.max_message_chars = max_message_chars

    def prepare(self, shop: str, history: list[dict[str, str]], product: str | None, n: int) -> _Prepared:
        """Validate, understand the buyer, and retrieve: everything before drafting."""
        history, notes = self._validate(history, n)
        state = self.retriever.state(shop)  # raises ShopNotFound
        if product is not None and product not in state.catalog:
            raise ProductNotFound(f"shop {shop!r} has no product {product!r}")
        policy = Policy.model_validate(state.shop.get("policy", {}))
        buyer = [t["text"] for t in history if t["role"] == "buyer"]
        question = buyer[-1]

        facts = self.guardrails.product_facts(shop, product) if product else None
        u = understand(buyer, policy, catalog=state.catalog, product=product,
                       price=facts.price if facts else None, history=history, shop=state.shop,
                       correct=lambda text: state.corrector.correct(text, min_same=0.5),
                       warranty=facts.fact("保修") if facts else "")
        mentioned = u.products   # every product the chat names, before one is settled on

        def settle(pid: str, recommended: bool = False) -> tuple[Any, Understanding]:
            """The conversation understood again, about product `pid`."""
            f = self.guardrails.product_facts(shop, pid)
            again = understand(buyer, policy, catalog=state.catalog, product=pid,
                               price=f.price if f else None, history=history, shop=state.shop,
                               warranty=f.fact("保修") if f else "")
            again.recommended = recommended
            return f, again

        if facts is None and u.product:
            facts, u = settle(u.product)
        elif product is not None and state.catalog is not None and (
                sibling := state.catalog.sized_sibling(product, question)):
            facts, u = settle(sibling)   # the chat is about the 3L one; "那5L的呢" asks of the 5L
        if u.product is None and state.catalog is not None and len(state.catalog.names) <= COLOUR_SCAN:
            # "复古绿那个多少钱", "粉色的随行杯能打冰沙不": the one product in that colour.
            coloured = self._in_colour(shop, state.catalog.names, question)
            if len(coloured) == 1:
                facts, u = settle(coloured[0])
        if u.product is None and u.intent in RECOMMEND_INTENTS and RECOMMEND.search(question):
            # "宝宝冲奶粉用哪个壶合适": the product whose facts fit the need best.
            pick = self.retriever.search(shop, question, kind="fact", k=1, understand=False).results
            if pick and pick[0].product:
                facts, u = settle(pick[0].product, recommended=True)
        people = PEOPLE.search(question)
        if people and product is None and len(mentioned) == 1 and state.catalog is not None:
            mentioned = state.catalog.siblings(mentioned[0])   # "3升和5升" named one of two sizes
        if people and product is None and len(mentioned) > 1 and (n := _most_people(question)) is not None:
            # "3升跟5升选哪个" … "我们家五口人": the one whose stated range holds that many.
            fits = [pid for pid in mentioned
                    if (f := self.guardrails.product_facts(shop, pid)) is not None and _serves(f, n)]
            if len(fits) == 1 and fits[0] != u.product:
                facts, u = settle(fits[0], recommended=True)
        # A short follow-up with no intent of its own ("自己喝，实惠点的就行") is searched
        # together with the buyer's message before it.
        query = question
        if u.intent == "other" and len(buyer) > 1 and len(question) <= FOLLOW_UP_CHARS:
            query = f"{buyer[-2]} {question}"
        outcome = self.retriever.search(shop, query, product=u.product, k=8)
        return _Prepared(shop=shop, history=history, notes=notes, state_shop=state.shop, policy=policy,
                         question=question, facts=facts, understanding=u,
                         retrieved=[r.as_dict() for r in outcome.results], catalog=state.catalog)

    def suggest(self, shop: str, history: list[dict[str, str]], product: str | None = None,
                n: int = 3) -> Suggestion:
        began = time.perf_counter()
        p = self.prepare(shop, history, product, n)
        u = p.understanding
        candidates: list[Candidate] = []
        llm_used = False
        usage: dict[str, int] | None = None
        if self.llm is not None:
            try:
                drafts = self.llm.draft(u, p.history, p.state_shop, p.policy, p.facts, p.retrieved, n)
                usage = dict(self.llm.last_usage)
                candidates, blocked = self._checked(shop, drafts, u.product, p.history, n)
                if blocked and len(candidates) < n:
                    # Regenerate once, with what was wrong as feedback.
                    retry = self.llm.draft(u, p.history, p.state_shop, p.policy, p.facts, p.retrieved, n,
                                           feedback="\n".join(blocked))
                    # Both calls are billed: the usage reported is their sum.
                    usage = {k: usage.get(k, 0) + v for k, v in self.llm.last_usage.items()}
                    more, _ = self._checked(shop, retry, u.product, p.history, n - len(candidates),
                                            seen={c.text for c in candidates})
                    candidates += more
                    p.notes.append("a blocked LLM draft was regenerated with the violations as feedback")
                llm_used = True
            except DraftError as exc:
                p.notes.append(f"LLM unavailable, offline drafts instead: {exc.message}")
                candidates = []
        candidates += self._complete(p, candidates, n)
        return self._suggestion(p, candidates, llm_used, began, usage)

    def stream(self, shop: str, history: list[dict[str, str]], product: str | None = None,
               n: int = 3) -> Iterator[tuple[str, dict[str, Any]]]:
        """Events as they happen: ("token", {"text"}) as the LLM writes, ("candidate", {...})
        as soon as a candidate is complete and passes the checks, then ("done", suggestion).
        Bad input raises before the first event, so the API can still answer 4xx."""
        began = time.perf_counter()
        p = self.prepare(shop, history, product, n)
        candidates: list[Candidate] = []
        llm_used = False
        if self.llm is not None:
            buffer, emitted = "", 0
            try:
                for piece in self.llm.stream(p.understanding, p.history, p.state_shop, p.policy, p.retrieved, n):
                    buffer += piece
                    yield "token", {"text": piece}
                    done = self.llm.completed(buffer)
                    for item in done[emitted:]:
                        emitted += 1
                        if len(candidates) >= n:
                            continue
                        drafts = self.llm.parse(json.dumps({"candidates": [item]}, ensure_ascii=False), p.retrieved)
                        more, _ = self._checked(shop, drafts, p.understanding.product, p.history, 1,
                                                seen={c.text for c in candidates})
                        for c in more:
                            candidates.append(c)
                            yield "candidate", c.__dict__
                llm_used = True
            except DraftError as exc:
                p.notes.append(f"LLM unavailable, offline drafts instead: {exc.message}")
        for c in self._complete(p, candidates, n):
            candidates.append(c)
            yield "candidate", c.__dict__
        yield "done", self._suggestion(p, candidates, llm_used, began).as_dict()

    def _complete(self, p: _Prepared, candidates: list[Candidate], n: int) -> list[Candidate]:
        """Checked offline drafts for the places still open; a holding reply when nothing
        passed at all. Returns only what it adds."""
        added: list[Candidate] = []
        if len(candidates) < n:
            offline = self.drafter.draft(p.understanding, p.question, p.state_shop, p.policy, p.facts,
                                         p.retrieved, n, history=p.history, resolve=self._resolver(p))
            added, _ = self._checked(p.shop, offline, p.understanding.product, p.history, n - len(candidates),
                                     seen={c.text for c in candidates})
            if candidates and added:
                p.notes.append(f"{len(added)} offline draft(s) completed the set")
        if not candidates and not added:
            added, _ = self._checked(p.shop, [self._holding_reply(p.state_shop, p.policy)],
                                     p.understanding.product, p.history, 1)
            p.notes.append("no draft passed the guardrails; a holding reply is offered")
        return added

    def _suggestion(self, p: _Prepared, candidates: list[Candidate], llm_used: bool,
                    began: float, llm_usage: dict[str, int] | None = None) -> Suggestion:
        if llm_used and self.llm is not None:
            backend, usage = "llm", dict(llm_usage if llm_usage is not None else self.llm.last_usage)
            version, model = self.llm.prompt.version, self.llm.model
        else:
            tokens = sum(count_tokens(c.text) for c in candidates)
            backend, version, model = "offline", None, None
            usage = {"prompt_tokens": 0, "completion_tokens": tokens, "total_tokens": tokens}
        return Suggestion(id=uuid.uuid4().hex, intent=p.understanding.intent, backend=backend,
                          candidates=candidates, understanding=p.understanding, notes=p.notes, usage=usage,
                          prompt_version=version, model=model,
                          latency_ms=round((time.perf_counter() - began) * 1000, 2))

    def _validate(self, history: list[dict[str, str]], n: int) -> tuple[list[dict[str, str]], list[str]]:
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_CANDIDATES:
            raise InvalidRequest(f"n: must be between 1 and {MAX_CANDIDATES}, got {n!r}")
        if not history:
            raise InvalidRequest("history: must hold at least the buyer's message to answer")
        for i, turn in enumerate(history):
            if turn.get("role") not in ("buyer", "agent"):
                raise InvalidRequest(f"history[{i}].role: must be buyer or agent")
            if not str(turn.get("text", "")).strip():
                raise InvalidRequest(f"history[{i}].text: must not be empty")
        if history[-1]["role"] != "buyer":
            raise InvalidRequest("history: the last turn must be the buyer's message to answer")
        last = history[-1]["text"]
        if len(last) > self.max_message_chars:
            raise InvalidRequest(f"history[{len(history) - 1}].text: {len(last):,} characters is over "
                                 f"the limit of {self.max_message_chars:,}")
        notes = []
        if len(history) > MAX_TURNS:
            notes.append(f"history trimmed to the last {MAX_TURNS} of {len(history)} turns")
            history = history[-MAX_TURNS:]
        return history, notes

    def _checked(self, shop: str, drafts: list[Draft], product: str | None,
                 history: list[dict[str, str]], n: int,
                 seen: set[str] | None = None) -> tuple[list[Candidate], list[str]]:
        """The first `n` drafts that pass after repair, and what blocked the others."""
        out: list[Candidate] = []
        blocked: list[str] = []
        seen = set(seen or ())
        for draft in drafts:
            if len(out) >= n:
                break
            repaired = self.guardrails.check_and_repair(shop, draft.text, product=product, history=history)
            result: CheckResult = repaired.result  # type: ignore[assignment]
            if result.verdict == "block":
                blocked += [f"“{draft.text}”:{v.message}" for v in result.violations if v.severity == "block"]
                continue
            if repaired.text in seen:
                continue
            seen.add(repaired.text)
            out.append(Candidate(id=uuid.uuid4().hex, text=repaired.text, citations=draft.citations,
                                 verdict=result.verdict, violations=[v.as_dict() for v in result.violations],
                                 escalate=draft.escalate or self._hands_over(draft.text), style=draft.style))
        return out, blocked

    def _in_colour(self, shop: str, products: Any, question: str) -> list[str]:
        """Products whose colours the question names: a colour by its name (复古绿), or
        else by its hue (粉色 of 樱花粉)."""
        offered = {pid: colours(f) for pid in products if (f := self.guardrails.product_facts(shop, pid)) is not None}
        named = [pid for pid, cs in offered.items() if any(c in question for c in cs)]
        if named or (hue := COLOUR.search(question)) is None:
            return named
        return [pid for pid, cs in offered.items() if any(hue.group(1) in c for c in cs)]

    @staticmethod
    def _resolver(p: _Prepared) -> Any:
        """The products a text names (exact names and aliases only), for the drafter."""
        if p.catalog is None:
            return None
        from service.retrieval.lexical import tokenize

        return lambda text: p.catalog.resolve(text, tokenize(text), fuzzy=False)

    def _hands_over(self, text: str) -> bool:
        return bool(re.search(r"(主管|店长|上级|领导)[^。！？]{0,6}(申请|请示|确认|处理|问问|反馈)|"
                              r"(申请|请示|问问|反馈给)[^。！？]{0,4}(主管|店长|上级|领导)", text))

    @staticmethod
    def _holding_reply(shop: dict[str, Any], policy: Policy) -> Draft:
        agent = slot_values(shop, policy, None)["agent"]
        return Draft(text=f"亲，您的问题{agent}收到了，马上帮您确认，请您稍等一下～", style="holding")
