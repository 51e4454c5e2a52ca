"""The `huashu` command line (CONTRACTS §4).

Every command takes `--json` for machine-readable output on stdout and honours the same
HUASHU_* environment as the server. Errors go to stderr as one line, with an exit status
that says what went wrong (see EXIT below).
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from service.config import get_settings
from service.errors import BackendError, Conflict, HuashuError, InvalidRequest, NotFound, PackError
from service.evaluation.baseline import DEFAULT_TOLERANCES
from service.evaluation.pricing import DEFAULT_PRICING

if TYPE_CHECKING:  # the container pulls in Chroma, LangChain and scikit-learn: `--help` need not
    from service.container import Services

# Exit statuses: 0 ok, 1 failure (or a regression), 2 bad usage or bad input,
# 3 not found, 4 a backend (Chroma, embeddings, database) is unavailable, 5 the draft's
# state does not allow the action.
EXIT = [(PackError, 2), (InvalidRequest, 2), (NotFound, 3), (BackendError, 4), (Conflict, 5), (HuashuError, 1)]
LOOPBACK = ("127.0.0.1", "localhost", "::1")

EPILOG = """Examples:

  huashu ingest knowledge/demo-shop

  huashu search --shop demo-shop "黑枸杞孕妇能吃吗"

  huashu search --shop demo-shop --product P009 --json "保质期多久"

  huashu check --shop demo-shop --product P003 "亲,给您打个9折吧"

  huashu suggest --shop demo-shop --product P003 "能便宜点吗"

  huashu eval retrieval eval/retrieval-demo.jsonl

  huashu eval run eval/golden-demo.jsonl --save-baseline base.json

  huashu eval run eval/golden-demo.jsonl --baseline base.json --report eval/reports/now

  huashu drafts approve 3f2a…  ·  huashu drafts edit 3f2a… "亲，新的回复"

  huashu keys create --name xiaoqi --role agent --role client --shop demo-shop

  huashu stats --shop demo-shop

  huashu serve --port 8000

Exit status: 0 ok, 1 failure or regression, 2 bad usage or input, 3 not found,
4 a backend (Chroma, embeddings, database) unavailable, 5 a draft's state does not allow it."""

app = typer.Typer(
    name="huashu", help="huashu (话术): grounded reply drafts for e-commerce customer service.",
    epilog=EPILOG, no_args_is_help=True, rich_markup_mode=None, add_completion=False,
)
eval_app = typer.Typer(help="Evaluate retrieval, guardrails or whole replies against a labelled set.",
                       no_args_is_help=True)
app.add_typer(eval_app, name="eval")
db_app = typer.Typer(help="The draft store's database (SQLite by default, HUASHU_DATABASE_URL otherwise).",
                     no_args_is_help=True)
app.add_typer(db_app, name="db")
keys_app = typer.Typer(help="API keys: roles client, agent, evaluator, admin, each scoped to shops.",
                       no_args_is_help=True)
app.add_typer(keys_app, name="keys")
drafts_app = typer.Typer(help="Act on stored drafts as an agent (the API's /v1/drafts).", no_args_is_help=True)
app.add_typer(drafts_app, name="drafts")

# emoji=False: rich would turn "file.jsonl:100:" into an emoji.
out = Console(soft_wrap=True, emoji=False)
err = Console(stderr=True, soft_wrap=True, emoji=False)
F = TypeVar("F", bound=Callable[..., Any])
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]


def handle_errors(fn: F) -> F:
    """One place that turns HuashuError into a one-line message and an exit status."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except HuashuError as exc:
            status = next(code for cls, code in EXIT if isinstance(exc, cls))
            err.print(f"error: {exc.message}", markup=False, highlight=False)
            raise typer.Exit(status) from None

    return wrapper  # type: ignore[return-value]


def services() -> Services:
    from service.container import Services

    return Services(get_settings())


def store(svc: Services) -> Services:
    """The services, with the database schema brought up to date first."""
    if svc.settings.database_migrate:
        svc.db.migrate()
    return svc


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


class _Bar:
    """Adapts rich's Progress to the ingest Progress protocol."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: Any = None

    def stage(self, name: str, total: int) -> None:
        if self.task is not None:
            self.progress.update(self.task, visible=False)
        self.task = self.progress.add_task(name, total=max(total, 1)) if total else None

    def advance(self, n: int) -> None:
        if self.task is not None:
            self.progress.advance(self.task, n)


@app.command()
@handle_errors
def ingest(
    pack_dir: Annotated[Path, typer.Argument(help="Knowledge pack folder (shop.yaml, products.csv, handbook/).")],
    as_json: JsonOpt = False,
) -> None:
    """(Re)index a knowledge pack. Validates it all first; unchanged documents are not rewritten."""
    from service.guardrails.service import validate_pack_rules
    from service.knowledge.ingest import ingest_pack

    svc = services()
    columns = (TextColumn("{task.description:>10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True, disable=as_json or not err.is_terminal) as bar:
        report = ingest_pack(pack_dir, svc.index, svc.embedder, svc.lexical_store, progress=_Bar(bar),
                             validate=validate_pack_rules,
                             max_file_bytes=svc.settings.max_pack_file_bytes,
                             max_products_bytes=svc.settings.max_products_file_bytes)
    if as_json:
        emit_json(report.as_dict())
        return
    out.print(
        f"ingested {report.shop}: {report.products} products, {report.sections} handbook sections, "
        f"{report.documents} documents — {report.added} added, {report.updated} updated, "
        f"{report.removed} removed, {report.unchanged} unchanged ({report.seconds:.2f}s) "
        f"into {svc.index.location}",
        highlight=False,
    )


@app.command()
@handle_errors
def search(
    query: Annotated[str, typer.Argument(help="The buyer's question.")],
    shop: Annotated[str, typer.Option(help="Shop id.")],
    product: Annotated[str | None, typer.Option(help="Restrict to this product id.")] = None,
    kind: Annotated[str | None, typer.Option(help="fact, script, policy or approved.")] = None,
    k: Annotated[int, typer.Option("-k", "--k", help="How many results.")] = 5,
    as_json: JsonOpt = False,
) -> None:
    """Retrieve the documents that answer a question (no drafting)."""
    outcome = services().retriever.search(shop, query, product=product, kind=kind, k=k)
    if as_json:
        emit_json({"shop": shop, "query": query, "products": outcome.products,
                   "results": [r.as_dict() for r in outcome.results]})
        return
    table = Table(title=f"{shop}: {query}", show_lines=True)
    for column in ("#", "source_id", "kind", "score", "text"):
        table.add_column(column, overflow="fold")
    for rank, r in enumerate(outcome.results, start=1):
        text = r.text if len(r.text) <= 160 else r.text[:160] + "…"
        table.add_row(str(rank), r.source_id, r.kind, f"{r.score:.4f}", text)
    out.print(table)


@app.command()
@handle_errors
def check(
    text: Annotated[str, typer.Argument(help="The reply to check.")],
    shop: Annotated[str, typer.Option(help="Shop id.")],
    product: Annotated[str | None, typer.Option(help="The product the chat is about.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Guardrail verdict for a reply: pass, warn or block, with each violation. Exit 1 on block."""
    result = services().guardrails.check(shop, text, product=product)
    if as_json:
        emit_json(result.as_dict())
    else:
        out.print(f"verdict: {result.verdict}", highlight=False)
        for v in result.violations:
            start, end = v.span
            out.print(f"  [{v.severity}] {v.rule} ({v.category}) “{text[start:end]}” [{start},{end}): "
                      f"{v.message} — {v.suggestion}", markup=False, highlight=False)
    if result.verdict == "block":
        raise typer.Exit(1)


@app.command()
@handle_errors
def suggest(
    message: Annotated[str, typer.Argument(help="The buyer's message to answer.")],
    shop: Annotated[str, typer.Option(help="Shop id.")],
    product: Annotated[str | None, typer.Option(help="The product the chat is about.")] = None,
    n: Annotated[int, typer.Option("-n", help="How many candidates.")] = 3,
    as_json: JsonOpt = False,
) -> None:
    """Draft ready-to-send replies to a buyer's message (offline drafter without an LLM)."""
    svc = store(services())
    history = [{"role": "buyer", "text": message}]
    s = svc.pipeline.suggest(shop, history, product=product, n=n)
    svc.drafts.record(s.as_dict(), {"shop": shop, "history": history, "product": product, "n": n,
                                    "conversation_id": None}, actor="cli")
    u = s.understanding
    if as_json:
        emit_json(s.as_dict())
        return
    beyond = ", ".join(r.kind for r in u.beyond_authority) if u and u.beyond_authority else "none"
    out.print(f"intent: {s.intent}  stage: {u.stage if u else ''}  mood: {u.mood if u else ''}  "
              f"product: {u.product if u else None}  beyond authority: {beyond}  backend: {s.backend}",
              markup=False, highlight=False)
    for i, c in enumerate(s.candidates, start=1):
        cites = ", ".join(x["source_id"] for x in c.citations) or "-"
        flag = " [escalate]" if c.escalate else ""
        out.print(f"{i}. [{c.verdict}]{flag} {c.text}\n   cites: {cites}   draft: {c.id}", markup=False,
                  highlight=False)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs)."""
    import uvicorn

    from service.api.app import create_app

    svc = services()
    try:
        store(svc)
        if svc.settings.admin_key is not None and svc.keys.install(svc.settings.admin_key.get_secret_value()):
            err.print("huashu: installed the admin key from HUASHU_ADMIN_KEY", highlight=False)
        keys = svc.keys.active()
    except HuashuError as exc:
        err.print(f"error: {exc.message}", markup=False, highlight=False)
        raise typer.Exit(4) from None
    if keys == 0:
        if host not in LOOPBACK:
            err.print(f"error: no API key is configured, so huashu serves only on 127.0.0.1, not {host}; "
                      "create one first with `huashu keys create --name NAME --role admin --shop '*'`",
                      markup=False, highlight=False)
            raise typer.Exit(2)
        err.print("huashu: no API key is configured: serving without authentication, to this machine "
                  "only (create one with `huashu keys create`)", highlight=False)
    else:
        err.print(f"huashu: {keys} active API key(s): every request needs one", highlight=False)
    err.print(f"huashu: serving on http://{host}:{port} (docs: http://{host}:{port}/docs, "
              f"agent console: http://{host}:{port}/console; database {svc.db.location})", highlight=False)
    uvicorn.run(create_app(services=svc), host=host, port=port, log_level="info")


@eval_app.command("retrieval")
@handle_errors
def eval_retrieval(
    eval_set: Annotated[Path, typer.Argument(help="JSONL: id, shop, query, product?, relevant[].")],
    show_misses: Annotated[bool, typer.Option("--misses", help="List the cases hybrid misses at 5.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """recall@1, recall@5, all@5 and MRR for hybrid, dense-only and BM25-only retrieval."""
    from service.evaluation.retrieval import evaluate, load_cases

    cases, errors = load_cases(eval_set)
    result = evaluate(services().retriever, cases, errors)
    for problem in result.errors:
        err.print(f"warning: {problem}", markup=False, highlight=False)
    if as_json:
        emit_json({"cases": result.cases, "errors": result.errors,
                   "modes": [m.__dict__ for m in result.modes]})
        return
    table = Table(title=f"retrieval on {eval_set.name} ({result.cases} cases)")
    for column in ("mode", "recall@1", "recall@5", "all@5", "MRR", "p50 ms"):
        table.add_column(column, justify="right" if column != "mode" else "left")
    for m in result.modes:
        table.add_row(m.label, f"{m.recall_at_1:.3f}", f"{m.recall_at_5:.3f}", f"{m.all_at_5:.3f}",
                      f"{m.mrr:.3f}", f"{m.latency_p50_ms:.1f}")
    table.caption = ("recall@k: a relevant document in the top k; all@5: share of all relevant "
                     "documents in the top 5 (capped); MRR over the top 10")
    out.print(table)
    if show_misses:
        for miss in result.modes[0].misses:
            out.print(f"miss {miss['id']}: {miss['query']} → want {miss['relevant']}, got {miss['got']}",
                      markup=False, highlight=False)


@eval_app.command("intent-examples")
@handle_errors
def eval_intent_examples(
    sets: Annotated[list[Path], typer.Argument(help="Development sets (CONTRACTS §2 JSONL); never golden sets.")],
    out_file: Annotated[Path, typer.Option("--out", help="The examples file to write (YAML).")],
    exclude: Annotated[list[Path] | None, typer.Option(
        "--exclude", help="A set whose buyer messages are never taken (the golden sets); repeatable.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Harvest the single-message cases of labelled dialogue sets as intent examples for the
    n-gram model (list the file under `model.examples` in intents.yaml)."""
    from service.evaluation.harvest import harvest, render, write

    examples = harvest(sets, exclude=exclude or ())
    write(out_file, render(examples, sets))
    counts = {intent: len(messages) for intent, messages in examples.items()}
    if as_json:
        emit_json({"out": str(out_file), "examples": sum(counts.values()), "per_intent": counts})
        return
    out.print(f"{sum(counts.values())} examples of {len(counts)} intents from {len(sets)} set(s) → {out_file}",
              markup=False, highlight=False)


@eval_app.command("guardrails")
@handle_errors
def eval_guardrails(
    labelled: Annotated[Path, typer.Argument(help="JSONL: id, shop, product?, text, expected[{category, evidence}].")],
    totals: Annotated[bool, typer.Option("--totals", help="Only the figures, no case texts (for held-out sets).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Precision and recall of the guardrails per category; lists every miss (unless --totals)."""
    from service.evaluation.guardrails import evaluate_guardrails, load_guard_cases

    cases, errors = load_guard_cases(labelled)
    result = evaluate_guardrails(services().guardrails, cases, errors)
    if not result.checked:
        raise HuashuError(f"{labelled}: no case could be checked"
                          + (f"; first problem: {result.errors[0]}" if result.errors else ""))
    for problem in result.errors:
        err.print(f"warning: {problem}", markup=False, highlight=False)
    if as_json:
        emit_json({"cases": result.cases, "errors": result.errors, "misses": result.misses,
                   "clean_passed": result.clean_passed, "clean_total": result.clean_total,
                   "scores": [{"category": s.category, "precision": s.precision, "recall": s.recall,
                               "tp": s.tp, "fp": s.fp, "fn": s.fn} for s in result.scores]})
        return
    table = Table(title=f"guardrails on {labelled.name} ({result.cases} cases)")
    for column in ("category", "precision", "recall", "tp", "fp", "fn"):
        table.add_column(column, justify="left" if column == "category" else "right")
    for s in result.scores:
        table.add_row(s.category, f"{s.precision:.3f}", f"{s.recall:.3f}", str(s.tp), str(s.fp), str(s.fn))
    table.caption = (f"clean replies passed: {result.clean_passed}/{result.clean_total}; "
                     f"{result.checks_per_second:,.0f} checks/s")
    out.print(table)
    for miss in [] if totals else result.misses:
        out.print(f"miss {miss['id']}: {miss['text']}\n    want {miss['expected']} {miss['evidence']}, "
                  f"got {miss['found']} {miss['violations']}", markup=False, highlight=False)


EVAL_RUN_EPILOG = """Examples:

  huashu eval run eval/golden-demo.jsonl

  huashu eval run eval/golden-demo.jsonl --save-baseline eval/baseline-demo.json

  huashu eval run eval/golden-demo.jsonl --baseline eval/baseline-demo.json --report eval/reports/now

  HUASHU_LLM_BASE_URL=... huashu eval run eval/golden-demo.jsonl --record llm.cassette.json --judge

  huashu eval run eval/golden-demo.jsonl --replay llm.cassette.json --judge --baseline base.json

Exit status: 0 pass, 1 a metric regressed past its tolerance, a blocked candidate was offered
or the set has invalid lines; 2 bad input (a baseline, tolerances, cassette or report folder
that cannot be used), found before any case runs."""


@eval_app.command("run", epilog=EVAL_RUN_EPILOG)
@handle_errors
def eval_run(
    golden: Annotated[Path, typer.Argument(help="Golden dialogue set (JSONL, CONTRACTS §2).")],
    baseline: Annotated[Path | None, typer.Option(help="Compare with this baseline; exit 1 on regression.")] = None,
    save_baseline: Annotated[Path | None, typer.Option("--save-baseline", help="Write this run as a baseline.")] = None,
    tolerances: Annotated[Path, typer.Option(help="Per-metric tolerances (YAML).")] = DEFAULT_TOLERANCES,
    pricing: Annotated[Path, typer.Option(help="Price per 1k tokens by model (YAML).")] = DEFAULT_PRICING,
    report: Annotated[Path | None, typer.Option(help="Write report.json, junit.xml and report.html here.")] = None,
    record: Annotated[Path | None, typer.Option(help="Record every LLM response into this cassette.")] = None,
    replay: Annotated[Path | None, typer.Option(help="Answer LLM calls from this cassette (no network).")] = None,
    judge: Annotated[bool, typer.Option("--judge", help="Score helpfulness and tone with an LLM judge.")] = False,
    jobs: Annotated[int, typer.Option(help="Cases run in parallel (helps while waiting on an LLM).")] = 1,
    n: Annotated[int, typer.Option("-n", help="Candidates per case (the top one is scored).")] = 3,
    totals: Annotated[bool, typer.Option("--totals", help="Only the figures: no case ids or replies (for held-out "
                                         "sets). Reports and --json are unaffected.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Run a golden set through the suggestion pipeline: checks, intent, grounding, chrF, citations,
    latency and cost per case and per intent; gate on a baseline."""
    from service.evaluation.session import EvalOptions, EvalSession

    options = EvalOptions(golden=golden, baseline=baseline, save_baseline=save_baseline, tolerances=tolerances,
                          pricing=pricing, report_dir=report, record=record, replay=replay, judge=judge,
                          jobs=jobs, n=n)
    session = EvalSession(services(), options).prepare()
    for problem in session.input_errors:
        err.print(f"warning: {problem}", markup=False, highlight=False)
    columns = (TextColumn("eval"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True, disable=as_json or not err.is_terminal) as bar:
        task = bar.add_task("eval", total=session.total)
        result = session.run(on_result=lambda _: bar.advance(task))
    if as_json:
        emit_json(result)
    else:
        _print_eval(result, totals)
    if result["verdict"]["status"] != "pass":
        raise typer.Exit(1)


def _print_eval(r: dict[str, Any], totals: bool = False) -> None:
    a = r["aggregates"]
    backends = ", ".join(f"{k} {v}" for k, v in r["backends"].items()) or "none"
    out.print(f"{r['set']}: {a['cases']} cases, {a['passed']} passed, {a['failed']} failed ({a['errors']} errors); "
              f"backend {backends}; {r['wall_seconds']:.2f}s, {r['cases_per_second']} cases/s, jobs {r['jobs']}",
              markup=False, highlight=False)
    comparison = r["comparison"]
    before = {d["metric"]: d for d in comparison["deltas"]} if comparison else {}
    table = Table(title="aggregates")
    for column in ("metric", "now") + (("baseline", "tolerance") if comparison else ()):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for name, value in a.items():
        row = [name, _num(value)]
        if comparison:
            d = before.get(name, {})
            row += [_num(d.get("before")), ("REGRESSED " if d.get("regressed") else "") + (d.get("tolerance") or "")]
        table.add_row(*row)
    out.print(table)
    cols: tuple[str, ...] = ("cases", "pass_rate", "check_pass_rate", "intent_accuracy", "grounding_rate",
                             "chrf_mean", "citation_hit_rate")
    if "judge_helpfulness_mean" in a:
        cols += ("judge_helpfulness_mean", "judge_tone_mean")
    per = Table(title="per intent")
    for column in ("intent",) + cols:
        per.add_column(column, justify="left" if column == "intent" else "right")
    for intent, v in r["per_intent"].items():
        per.add_row(intent, *(_num(v.get(c)) for c in cols))
    out.print(per)
    for c in [] if totals else r["cases"]:
        if not c["passed"]:
            out.print(f"fail {c['id']} (line {c['line']}): {'; '.join(c['failed_checks'])}\n    reply: {c['reply']}",
                      markup=False, highlight=False)
    if comparison:
        for d in comparison["regressions"]:
            out.print(f"regressed {d['metric']}: {_num(d['before'])} → {_num(d['now'])} (tolerance {d['tolerance']})",
                      markup=False, highlight=False)
        flips = [("pass → fail", comparison["flipped_to_fail"]), ("fail → pass", comparison["flipped_to_pass"])]
        for label, ids in flips:
            shown = f"{len(ids)} cases" if totals else ", ".join(ids) or "none"
            out.print(f"flipped {label}: {shown}", highlight=False)
        if comparison["missing"]:
            out.print(f"in the baseline, not run now: {', '.join(comparison['missing'])}", highlight=False)
    for kind, path in (r.get("reports") or {}).items():
        out.print(f"report ({kind}): {path}", markup=False, highlight=False)
    v = r["verdict"]
    out.print(f"verdict: {v['status']}" + (f" — {'; '.join(v['reasons'])}" if v["reasons"] else ""),
              markup=False, highlight=False)


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@app.command()
@handle_errors
def shops(as_json: JsonOpt = False) -> None:
    """List the shops whose packs are indexed."""
    svc = services()
    names = svc.index.shops()
    if as_json:
        emit_json({"shops": names, "index": svc.index.location})
        return
    for name in names:
        out.print(name, highlight=False)


@db_app.command("upgrade")
@handle_errors
def db_upgrade(as_json: JsonOpt = False) -> None:
    """Create or upgrade the schema to the newest migration (the server also does at start)."""
    svc = services()
    revision = svc.db.migrate()
    if as_json:
        emit_json({"revision": revision, "database": svc.db.location})
        return
    out.print(f"database {svc.db.location} is at revision {revision}", highlight=False)


@db_app.command("current")
@handle_errors
def db_current(as_json: JsonOpt = False) -> None:
    """The schema revision the database is at (none: not created yet)."""
    svc = services()
    revision = svc.db.revision()
    if as_json:
        emit_json({"revision": revision, "database": svc.db.location})
        return
    out.print(f"database {svc.db.location}: revision {revision or 'none (run `huashu db upgrade`)'}",
              highlight=False)


@keys_app.command("create")
@handle_errors
def keys_create(
    name: Annotated[str, typer.Option(help="Who or what uses the key, e.g. agent-xiaoqi.")],
    role: Annotated[list[str], typer.Option("--role", help="client, agent, evaluator or admin; repeatable.")],
    shop: Annotated[list[str], typer.Option("--shop", help="A shop id the key may touch, repeatable; '*' for all.")],
    as_json: JsonOpt = False,
) -> None:
    """Create an API key. The secret is printed once; only its hash is stored."""
    listing, secret = store(services()).keys.create(name, role, shop)
    if as_json:
        emit_json({**listing, "key": secret})
        return
    out.print(f"created {listing['id']} ({listing['name']}): roles {', '.join(listing['roles'])}; "
              f"shops {', '.join(listing['shops'])}\n{secret}\n(shown once: store it now)", highlight=False)


@keys_app.command("list")
@handle_errors
def keys_list(as_json: JsonOpt = False) -> None:
    """Every key, revoked ones too (secrets are never shown again)."""
    rows = store(services()).keys.list()
    if as_json:
        emit_json({"keys": rows})
        return
    table = Table(title="API keys")
    for column in ("id", "name", "prefix", "roles", "shops", "created", "revoked"):
        table.add_column(column)
    for k in rows:
        table.add_row(k["id"], k["name"], k["prefix"] + "…", ", ".join(k["roles"]), ", ".join(k["shops"]),
                      (k["created_at"] or "")[:19], (k["revoked_at"] or "")[:19])
    out.print(table)


@keys_app.command("revoke")
@handle_errors
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (k_…), from `huashu keys list`.")],
                as_json: JsonOpt = False) -> None:
    """Revoke a key: requests with it are refused from now on."""
    row = store(services()).keys.revoke(key_id)
    if as_json:
        emit_json(row)
        return
    out.print(f"revoked {row['id']} ({row['name']}) at {row['revoked_at']}", highlight=False)


def _print_draft(d: dict[str, Any]) -> None:
    out.print(f"{d['id']}  [{d['state']}] [{d['verdict']}] v{d['version']}  {d['shop']} · {d['intent']} · "
              f"{d['backend']}\n  {d['text']}", markup=False, highlight=False)
    for v in d["violations"]:
        out.print(f"  [{v['severity']}] {v['rule']}: {v['message']}", markup=False, highlight=False)
    for a in d.get("audit", []):
        out.print(f"  {a['at'][:19]} {a['action']} by {a['actor']}{' / ' + a['agent'] if a['agent'] else ''} "
                  f"{a['before']['state']} → {a['after']['state']} {a['detail'] or ''}", markup=False, highlight=False)


def _draft_action(draft_id: str, action: str, as_json: bool, **fields: Any) -> None:
    svc = store(services())
    body = svc.drafts.act(draft_id, action, actor="cli", **fields).body
    svc.learning.wait()  # an approval is indexed before the command returns
    if as_json:
        emit_json(body)
        return
    _print_draft(body)


DraftId = Annotated[str, typer.Argument(help="The draft id (a candidate's id).")]
AgentOpt = Annotated[str | None, typer.Option("--agent", help="Your name, for the audit log.")]


@drafts_app.command("show")
@handle_errors
def drafts_show(draft_id: DraftId, as_json: JsonOpt = False) -> None:
    """A draft with its audit log."""
    body = store(services()).drafts.get(draft_id)
    if as_json:
        emit_json(body)
        return
    _print_draft(body)


@drafts_app.command("approve")
@handle_errors
def drafts_approve(draft_id: DraftId, agent: AgentOpt = None,
                   override: Annotated[bool, typer.Option(help="Approve a blocked text (needs --reason).")] = False,
                   reason: Annotated[str | None, typer.Option(help="Why a blocked text is approved.")] = None,
                   as_json: JsonOpt = False) -> None:
    """Approve a draft."""
    _draft_action(draft_id, "approve", as_json, agent=agent, override=override, reason=reason)


@drafts_app.command("edit")
@handle_errors
def drafts_edit(draft_id: DraftId, text: Annotated[str, typer.Argument(help="The new text (checked again).")],
                agent: AgentOpt = None, as_json: JsonOpt = False) -> None:
    """Replace a draft's text; prints the new verdict."""
    _draft_action(draft_id, "edit", as_json, agent=agent, text=text)


@drafts_app.command("reject")
@handle_errors
def drafts_reject(draft_id: DraftId, reason: Annotated[str, typer.Option(help="Why it is not usable.")],
                  agent: AgentOpt = None, as_json: JsonOpt = False) -> None:
    """Reject a draft, with the reason."""
    _draft_action(draft_id, "reject", as_json, agent=agent, reason=reason)


@drafts_app.command("sent")
@handle_errors
def drafts_sent(draft_id: DraftId, agent: AgentOpt = None, as_json: JsonOpt = False) -> None:
    """Mark an approved draft as sent."""
    _draft_action(draft_id, "sent", as_json, agent=agent)


@app.command()
@handle_errors
def stats(shop: Annotated[str, typer.Option(help="Shop id.")], as_json: JsonOpt = False) -> None:
    """What agents did with the drafts: acceptance, edits, rejection reasons, per intent and backend."""
    from service.store.stats import shop_stats

    svc = store(services())
    svc.retriever.state(shop)
    body = shop_stats(svc.drafts, shop)
    if as_json:
        emit_json(body)
        return
    table = Table(title=f"{shop}: what agents did with the drafts")
    columns = ("group", "suggestions", "acted on", "acceptance", "approved", "rejected", "sent",
               "edit rate", "edit distance")
    for column in columns:
        table.add_column(column, justify="left" if column == "group" else "right")

    def row(label: str, g: dict[str, Any]) -> None:
        def f(x: Any) -> str:
            return "—" if x is None else (f"{x:.2f}" if isinstance(x, float) else str(x))
        table.add_row(label, f(g["suggestions"]), f(g["acted_on"]), f(g["acceptance_rate"]), f(g["approved"]),
                      f(g["rejected"]), f(g["sent"]), f(g["edit_rate"]), f(g["mean_edit_distance"]))

    row("all", body["overall"])
    for name in ("by_intent", "by_backend"):
        for key, g in body[name].items():
            row(f"{name[3:]}: {key}", g)
    out.print(table)
    for r in body["overall"]["rejection_reasons"]:
        out.print(f"rejected ×{r['count']}: {r['reason']}", markup=False, highlight=False)


def main() -> None:
    app()
