"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["fact", "script", "policy", "approved"]


class ErrorDetail(BaseModel):
    code: str = Field(examples=["shop_not_found"])
    message: str = Field(examples=["unknown shop 'nope': no knowledge pack is indexed under that id"])


class ErrorBody(BaseModel):
    error: ErrorDetail


class SearchRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={
        "examples": [{"shop": "demo-shop", "query": "黑枸杞孕妇能吃吗", "k": 5}]
    })

    shop: str = Field(description="Shop id as in its pack's shop.yaml.")
    query: str = Field(description="The buyer's question, as typed.")
    product: str | None = Field(
        None, description="Restrict to this product: its facts first, other products' facts dropped."
    )
    kind: Kind | None = Field(None, description="Only documents of this kind.")
    k: int = Field(5, description="How many results (1 to the configured maximum, 50 by default).")


class SearchResultOut(BaseModel):
    source_id: str = Field(examples=["product:P009"])
    kind: Kind
    product: str | None
    text: str
    score: float
    title: str = ""
    source: str = Field("", description="Where in the pack the document comes from (file:line).")


class SearchResponse(BaseModel):
    shop: str
    query: str
    products: list[str] = Field(description="Products resolved from the request or the query, pinned first.")
    results: list[SearchResultOut]
    latency_ms: float


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    version: str
    index: str = Field(description="Where Chroma lives: a data path or a server URL.")
    embedder: str
    shops: list[str]
    database: str = Field(description="ok, unavailable, or not migrated.")
    database_location: str = Field(description="The database URL (without its password).")


class Turn(BaseModel):
    role: Literal["buyer", "agent"]
    text: str


class CheckRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={
        "examples": [{"shop": "demo-shop", "product": "P003", "text": "亲,给您打个9折吧"}]
    })

    shop: str
    text: str = Field(description="The reply to check: a draft or what an agent typed.")
    product: str | None = Field(None, description="The product the chat is about: its facts are checked.")
    history: list[Turn] = Field(default_factory=list, description="The conversation so far.")


class ViolationOut(BaseModel):
    rule: str = Field(examples=["authority.discount"])
    category: Literal["authority", "grounding", "politeness", "compliance"]
    severity: Literal["block", "warn"]
    span: list[int] = Field(description="[start, end) character offsets in `text`.")
    message: str
    suggestion: str


class CheckResponse(BaseModel):
    verdict: Literal["pass", "warn", "block"]
    violations: list[ViolationOut]


class SuggestionRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "shop": "demo-shop", "product": "P003", "n": 3,
        "history": [{"role": "buyer", "text": "这个多少钱"}, {"role": "agent", "text": "亲,这款是59.9元哦"},
                    {"role": "buyer", "text": "能便宜点吗,买两袋"}]}]})

    shop: str
    history: list[Turn] = Field(description="The conversation, oldest first; the last turn is the buyer's.")
    product: str | None = Field(None, description="The product the chat is about, if the client knows it.")
    conversation_id: str | None = None
    n: int = Field(3, description="How many candidates (1 to 10).")


class Citation(BaseModel):
    source_id: str = Field(examples=["product:P003"])
    kind: Literal["fact", "script", "policy", "approved"]
    excerpt: str


class CandidateOut(BaseModel):
    id: str = Field(description="The draft id (drafts are stored and acted on by id).")
    text: str
    citations: list[Citation]
    verdict: Literal["pass", "warn", "block"]
    violations: list[ViolationOut]
    escalate: bool = Field(description="The reply hands the request to a supervisor instead of granting it.")


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class SuggestionResponse(BaseModel):
    id: str
    intent: str
    backend: Literal["llm", "offline"]
    candidates: list[CandidateOut]
    usage: Usage
    latency_ms: float
    stage: str = Field(description="pre_sale, in_sale or after_sale.")
    mood: str = Field(description="calm, impatient or angry.")
    product: str | None = Field(description="The product resolved from the request, history or text.")
    beyond_authority: list[str] = Field(description="What the buyer asked for beyond the agent's authority.")
    notes: list[str] = Field(default_factory=list, description="Why the backend fell back, what was trimmed.")
    prompt_version: str | None = Field(None, description="The prompt template's version (LLM drafts).")
    model: str | None = None


# --- drafts, stats, keys ------------------------------------------------------------------

DraftState = Literal["suggested", "edited", "approved", "rejected", "sent"]


class AuditOut(BaseModel):
    id: int
    action: Literal["approve", "edit", "reject", "sent"]
    actor: str = Field(description="The API key that acted (`local` without keys).")
    agent: str | None = Field(description="The person, when the client named one.")
    at: str
    before: dict[str, Any]
    after: dict[str, Any]
    detail: dict[str, Any] = Field(description="reason, override, the edit's verdict.")
    idempotency_key: str | None


class DraftOut(BaseModel):
    id: str
    suggestion_id: str
    shop: str
    state: DraftState
    text: str = Field(description="The text as it stands now (edited or not).")
    original_text: str = Field(description="The text as drafted.")
    verdict: Literal["pass", "warn", "block"] = Field(description="The guardrail verdict of `text`.")
    violations: list[ViolationOut]
    citations: list[Citation]
    escalate: bool
    edited: bool
    intent: str
    backend: Literal["llm", "offline"]
    product: str | None
    style: str = ""
    version: int = Field(description="Bumped by every action; send it back to act only on what you saw.")
    reject_reason: str | None
    override_reason: str | None
    created_at: str
    updated_at: str
    decided_at: str | None
    sent_at: str | None
    conversation_id: str | None = None
    history: list[Turn] = Field(default_factory=list, description="The conversation the draft answers.")
    question: str = ""
    beyond_authority: list[str] = Field(default_factory=list)
    audit: list[AuditOut] = Field(default_factory=list, description="Every action, oldest first.")


class ActionBase(BaseModel):
    version: int | None = Field(None, description="Act only if the draft is still at this version (else 409).")
    agent: str | None = Field(None, max_length=128, description="The person acting, for the audit log.")


class ApproveRequest(ActionBase):
    override: bool = Field(False, description="Approve although the text is blocked (needs `reason`).")
    reason: str | None = Field(None, description="Why a blocked text is approved anyway.")


class EditRequest(ActionBase):
    model_config = ConfigDict(json_schema_extra={"examples": [{"text": "亲，这款59.9元，今天下单24小时内发货哦～"}]})

    text: str = Field(description="The agent's version; it is checked by the guardrails again.")


class RejectRequest(ActionBase):
    reason: str = Field(description="Why the draft is not usable (kept for the evaluators).")


class SentRequest(ActionBase):
    pass


class ConflictDetail(ErrorDetail):
    current: DraftOut | None = Field(None, description="The draft as it stands now.")


class ConflictBody(BaseModel):
    error: ConflictDetail


class RejectionReason(BaseModel):
    reason: str
    count: int


class StatsGroup(BaseModel):
    suggestions: int = Field(description="Suggestions made.")
    acted_on: int = Field(description="Suggestions with at least one draft approved, edited or rejected.")
    accepted: int = Field(description="Suggestions with a draft approved (or sent).")
    acceptance_rate: float | None = Field(description="accepted / acted_on.")
    approved: int = Field(description="Drafts approved or sent.")
    rejected: int
    sent: int
    approval_rate: float | None = Field(description="Drafts approved / (approved + rejected).")
    edit_rate: float | None = Field(description="Approved drafts that were edited first / approved drafts.")
    mean_edit_distance: float | None = Field(description="Mean Levenshtein distance (characters) between "
                                                         "the draft and the text approved or sent.")
    mean_edit_ratio: float | None = Field(description="The same, normalised by length (0 = unchanged, 1 = rewritten).")
    overrides: int = Field(description="Blocked texts approved with an override.")
    rejection_reasons: list[RejectionReason]


class StatsResponse(BaseModel):
    shop: str
    overall: StatsGroup
    by_intent: dict[str, StatsGroup]
    by_backend: dict[str, StatsGroup]


class KeyCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"name": "agent-xiaoqi", "roles": ["agent", "client"], "shops": ["demo-shop"]}]})

    name: str
    roles: list[Literal["client", "agent", "evaluator", "admin"]]
    shops: list[str] = Field(description="Shop ids, or [\"*\"] for every shop.")


class KeyOut(BaseModel):
    id: str
    name: str
    prefix: str = Field(description="The first characters of the secret, to recognise it.")
    roles: list[str]
    shops: list[str]
    created_at: str | None
    revoked_at: str | None


class KeyCreated(KeyOut):
    key: str = Field(description="The secret: shown this once, stored only as a hash.")


# --- evaluations --------------------------------------------------------------------------

class EvalRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True, json_schema_extra={"examples": [
        {"set": "golden-demo.jsonl", "baseline": "baseline-demo.json"},
        {"cases": [{"id": "bargain-1", "shop": "demo-shop", "product": "P003", "intent": "bargain",
                    "history": [{"role": "buyer", "text": "能便宜点吗"}], "must_not_include": ["打折"],
                    "expect_escalation": False}]},
    ]})

    set_name: str | None = Field(
        None, alias="set",
        description="A golden set (JSONL) by file name inside the eval folder (HUASHU_EVAL_DIR); "
                    "`.jsonl` may be left off. Give this or `cases`.")
    cases: list[dict[str, Any]] | None = Field(
        None, max_length=5000, description="Golden cases inline, in the golden-set format (CONTRACTS §2).")
    baseline: str | None = Field(
        None, description="A saved baseline (JSON) by file name inside the eval folder: compare and gate on it.")
    judge: bool = Field(False, description="Also score helpfulness and tone with the LLM judge (needs an LLM).")


class EvalProgress(BaseModel):
    done: int
    total: int


class EvalAccepted(BaseModel):
    id: str = Field(description="Poll GET /v1/evals/{id} for progress and results.")
    status: Literal["queued", "running", "done", "failed"]
    progress: EvalProgress


class EvalVerdict(BaseModel):
    status: Literal["pass", "fail"]
    reasons: list[str]


class EvalRun(BaseModel):
    id: str
    status: Literal["queued", "running", "done", "failed"]
    set: str
    progress: EvalProgress
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    error: str | None = Field(None, description="Why a failed run failed.")
    aggregates: dict[str, Any] | None = Field(
        None, description="When done: pass rate, check pass rate, intent accuracy, grounding rate, "
                          "blocked_ready, chrF mean, citation hit rate, latency p50/p95, tokens, cost.")
    per_intent: dict[str, dict[str, Any]] | None = None
    verdict: EvalVerdict | None = None
    comparison: dict[str, Any] | None = Field(
        None, description="With a baseline: per-metric deltas, regressions, cases flipped pass→fail and fail→pass.")
    errors: list[str] | None = Field(None, description="Invalid lines of the golden set (file:line: field: reason).")
    cases: list[dict[str, Any]] | None = Field(None, description="Per-case results, in the set's order.")
    reports: dict[str, str] | None = Field(
        None, description="Where report.json, junit.xml and report.html were written.")
    wall_seconds: float | None = None
    backends: dict[str, int] | None = None
