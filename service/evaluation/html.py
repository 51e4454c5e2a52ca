"""report.html: one self-contained page (inline CSS, inline SVG charts drawn here; no
script, font or stylesheet from elsewhere), so it can be attached to a CI run and opened
offline. Every piece of text is escaped: buyer messages and replies may contain markup."""

from __future__ import annotations

import html
from typing import Any

import numpy as np

CSS = """
body{font:14px/1.5 system-ui,-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;margin:24px;color:#222}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;margin:8px 0}
th,td{border:1px solid #ddd;padding:4px 8px;vertical-align:top;text-align:left}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#17803d;font-weight:600}.fail{color:#c0262d;font-weight:600}.muted{color:#777}
.verdict{display:inline-block;padding:2px 10px;border-radius:4px;color:#fff}
.verdict.pass{background:#17803d}.verdict.fail{background:#c0262d}
td.reply{max-width:420px}ul{margin:0;padding-left:18px}details summary{cursor:pointer}
tr.regressed td{background:#fdecec}td:not(:first-child){font-variant-numeric:tabular-nums}
"""
WIDTH = 640


def e(value: Any) -> str:
    """Escaped text for element content and attribute values."""
    return html.escape("" if value is None else str(value), quote=True)


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def _svg(label: str, height: int) -> str:
    return f'<svg role="img" aria-label="{e(label)}" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}">'


def bar_chart(rows: list[tuple[str, float, str]], title: str) -> str:
    """Horizontal bars, one per (label, share 0-1, text)."""
    row_h, label_w, bar_w = 22, 170, WIDTH - 170 - 80
    height = row_h * len(rows) + 10
    parts = [_svg(title, height)]
    for i, (label, share, text) in enumerate(rows):
        y = 5 + i * row_h
        w = max(0.0, min(1.0, share)) * bar_w
        colour = "#17803d" if share >= 0.999 else "#d08a1a" if share >= 0.5 else "#c0262d"
        parts.append(f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" font-size="12">{e(label)}</text>'
                     f'<rect x="{label_w}" y="{y + 3}" width="{bar_w}" height="14" fill="#eee"/>'
                     f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="14" fill="{colour}"/>'
                     f'<text x="{label_w + bar_w + 6}" y="{y + 15}" font-size="12">{e(text)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def histogram(values: list[float], title: str, unit: str = "ms", bins: int = 12) -> str:
    if not values:
        return '<p class="muted">no latencies measured</p>'
    counts, edges = np.histogram(values, bins=min(bins, max(1, len(set(values)))))
    height, base, left = 180, 150, 40
    bar_w = (WIDTH - left - 10) / len(counts)
    top = max(int(counts.max()), 1)
    parts = [_svg(title, height),
             f'<line x1="{left}" y1="{base}" x2="{WIDTH - 10}" y2="{base}" stroke="#999"/>',
             f'<text x="{left - 4}" y="{base - 130}" text-anchor="end" font-size="11">{top}</text>',
             f'<text x="{left - 4}" y="{base}" text-anchor="end" font-size="11">0</text>']
    for i, count in enumerate(counts):
        h = 130 * int(count) / top
        x = left + i * bar_w
        parts.append(f'<rect x="{x + 1:.1f}" y="{base - h:.1f}" width="{bar_w - 2:.1f}" height="{h:.1f}" '
                     f'fill="#3b6fb6">'
                     f'<title>{edges[i]:.1f}–{edges[i + 1]:.1f} {e(unit)}: {int(count)}</title></rect>')
    for i, anchor in ((0, "start"), (len(counts), "end")):
        parts.append(f'<text x="{left + i * bar_w:.1f}" y="{base + 16}" text-anchor="{anchor}" font-size="11">'
                     f'{edges[i]:.1f}</text>')
    parts.append(f'<text x="{WIDTH / 2}" y="{height - 4}" text-anchor="middle" font-size="11">'
                 f"latency ({e(unit)})</text>")
    parts.append("</svg>")
    return "".join(parts)


def compare_chart(deltas: list[dict[str, Any]]) -> str:
    """Baseline (grey) against now (blue, red when regressed) for the gated metrics, each
    scaled to the larger of its two values."""
    rows = [d for d in deltas if d["tolerance"] and isinstance(d["before"], int | float)
            and isinstance(d["now"], int | float)]
    if not rows:
        return ""
    row_h, label_w, bar_w = 30, 190, WIDTH - 190 - 140
    height = row_h * len(rows) + 10
    parts = [_svg("baseline against now", height)]
    for i, d in enumerate(rows):
        y = 5 + i * row_h
        scale = max(abs(d["before"]), abs(d["now"])) or 1.0
        wb, wn = bar_w * abs(d["before"]) / scale, bar_w * abs(d["now"]) / scale
        colour = "#c0262d" if d["regressed"] else "#3b6fb6"
        parts.append(f'<text x="{label_w - 6}" y="{y + 17}" text-anchor="end" font-size="12">{e(d["metric"])}</text>'
                     f'<rect x="{label_w}" y="{y + 3}" width="{wb:.1f}" height="10" fill="#bbb"/>'
                     f'<rect x="{label_w}" y="{y + 14}" width="{wn:.1f}" height="10" fill="{colour}"/>'
                     f'<text x="{label_w + bar_w + 6}" y="{y + 17}" font-size="12">'
                     f'{e(_fmt(d["before"]))} → {e(_fmt(d["now"]))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _list(items: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{e(i)}</li>" for i in items) + "</ul>" if items else '<span class="muted">—</span>'


def _history(turns: list[dict[str, str]]) -> str:
    lines = "".join(f"<li><b>{'买家' if t['role'] == 'buyer' else '客服'}</b>: {e(t['text'])}</li>" for t in turns)
    return f"<ul>{lines}</ul>"


def _case_row(c: dict[str, Any]) -> str:
    state = ('<span class="fail">error</span>' if c["error"] else
             '<span class="pass">pass</span>' if c["passed"] else '<span class="fail">fail</span>')
    intent = e(c["intent"] or "—") + ("" if c["intent"] == c["expected_intent"]
                                      else f' <span class="fail">(expected {e(c["expected_intent"])})</span>')
    violations = [f"{v['severity']} {v['rule']}: {v['message']}" for v in c["violations"]]
    others = "".join(f"<li>[{e(o['verdict'])}] {e(o['text'])}</li>" for o in c["candidates"][1:])
    if others:
        reply = e(c["reply"]) + f"<details><summary>other candidates</summary><ul>{others}</ul></details>"
    else:
        reply = e(c["reply"])
    m = c["metrics"]
    scores = [f"chrF {_fmt(m['chrf']['value'])}", f"grounding {_fmt(m['grounding']['value'])}",
              f"citation {_fmt(m['citation']['value'])}", f"{_fmt(c['latency_ms'])} ms"]
    if c.get("judge"):
        j = c["judge"]
        scores.append(f"judge: {j['error']}" if j["error"] else f"judge {j['helpfulness']}/{j['tone']}: {j['reason']}")
    return (f'<tr id="case-{e(c["id"])}"><td><b>{e(c["id"])}</b><br><span class="muted">line {e(c["line"])}</span></td>'
            f"<td>{state}</td><td>{e(c.get('change') or '—')}</td><td>{intent}</td>"
            f"<td><details><summary>{e(c['history'][-1]['text'])}</summary>{_history(c['history'])}</details></td>"
            f'<td class="reply">{reply}</td><td class="reply">{e(c["reference"] or "—")}</td>'
            f"<td>{_list(c['failed_checks'])}</td><td>{_list(violations)}</td><td>{_list(scores)}</td></tr>")


def _table(headers: list[str], rows: list[list[str]], classes: list[str] | None = None) -> str:
    """A table from already-escaped cells."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join(f'<tr class="{(classes or [""] * len(rows))[i]}">' + "".join(f"<td>{c}</td>" for c in row) + "</tr>"
                   for i, row in enumerate(rows))
    return f"<table><tr>{head}</tr>{body}</table>"


def _intents(report: dict[str, Any]) -> str:
    intents, agg = report["per_intent"], report["aggregates"]
    bars = [(name, a["pass_rate"] or 0.0, f"{a['passed']}/{a['cases']}") for name, a in intents.items()]
    cols = ["cases", "pass_rate", "check_pass_rate", "intent_accuracy", "grounding_rate", "chrf_mean",
            "citation_hit_rate", "latency_p50_ms"]
    if "judge_helpfulness_mean" in agg:
        cols += ["judge_helpfulness_mean", "judge_tone_mean"]
    rows = [[e(name)] + [e(_fmt(a.get(c))) for c in cols] for name, a in intents.items()]
    return ("<h2>Pass rate per intent</h2>" + bar_chart(bars, "pass rate per intent")
            + _table(["intent"] + [e(c) for c in cols], rows))


def _comparison(comparison: dict[str, Any]) -> str:
    deltas = comparison["deltas"]
    rows = [[e(d["metric"]), e(_fmt(d["before"])), e(_fmt(d["now"])), e(d["tolerance"] or "not gated"),
             "regressed" if d["regressed"] else ""] for d in deltas]
    flips = [("pass → fail", comparison["flipped_to_fail"]), ("fail → pass", comparison["flipped_to_pass"]),
             ("missing now", comparison["missing"]), ("new", comparison["new"])]
    links = "".join(f"<p><b>{e(label)}</b>: "
                    + (", ".join(f'<a href="#case-{e(i)}">{e(i)}</a>' for i in ids) or "—") + "</p>"
                    for label, ids in flips)
    return (f"<h2>Baseline vs now</h2><p class=muted>{e(comparison['baseline'])}</p>" + compare_chart(deltas)
            + _table(["metric", "baseline", "now", "tolerance", ""], rows,
                     ["regressed" if d["regressed"] else "" for d in deltas]) + links)


def render_html(report: dict[str, Any]) -> str:
    agg, verdict = report["aggregates"], report["verdict"]
    backends = ", ".join(f"{k} {v}" for k, v in report["backends"].items()) or "—"
    parts = [
        f"<h1>huashu eval: {e(report['set'])}</h1>"
        f'<p><span class="verdict {e(verdict["status"])}">{e(verdict["status"])}</span> '
        f"{e(agg['cases'])} cases, {e(agg['passed'])} passed, {e(agg['errors'])} errors · backend {e(backends)} · "
        f"started {e(report['started_at'])} · {report['wall_seconds']:.2f} s wall, jobs {e(report['jobs'])}</p>",
        _list(verdict["reasons"]) if verdict["reasons"] else "",
        f"<h2>Invalid cases</h2>{_list(report['errors'])}" if report["errors"] else "",
        _intents(report),
        "<h2>Latency</h2>" + histogram([c["latency_ms"] for c in report["cases"] if c["latency_ms"] is not None],
                                       "latency histogram"),
        "<h2>Metrics</h2>" + _table(["metric", "value"], [[e(k), e(_fmt(v))] for k, v in agg.items()]),
        _comparison(report["comparison"]) if report.get("comparison") else "",
        "<h2>Cases</h2><table><tr><th>id</th><th>result</th><th>since baseline</th><th>intent</th>"
        "<th>conversation</th><th>reply</th><th>reference</th><th>failed checks</th><th>violations</th>"
        "<th>scores</th></tr>" + "".join(_case_row(c) for c in report["cases"]) + "</table>",
    ]
    return (f'<!DOCTYPE html><html lang="zh"><head><meta charset="utf-8">'
            f"<title>huashu eval: {e(report['set'])}</title><style>{CSS}</style></head>"
            f"<body>{''.join(parts)}</body></html>")
