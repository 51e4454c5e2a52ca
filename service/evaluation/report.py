"""Reports of a golden run: report.json for machines, junit.xml for CI (one testcase per
golden case) and report.html for people (see html.py). The folder is checked for writing
before the run starts, so a long run never ends on a permission error."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from service.errors import EvalInputError
from service.evaluation.files import replace_file
from service.evaluation.html import render_html

REPORT_VERSION = 1


def ensure_writable(folder: Path, what: str = "report folder") -> None:
    """Create `folder` if needed and prove a file can be written there (EvalInputError if not)."""
    probe = folder / ".huashu-write-test"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_text("ok", encoding="utf-8")
        probe.unlink()
    except OSError as exc:
        raise EvalInputError(f"{folder}: cannot write the {what} there: {exc.strerror or exc}") from exc


def junit_xml(report: dict[str, Any]) -> bytes:
    """JUnit XML: a testsuite for the set, a testcase per golden case; failed checks become a
    <failure>, a case that could not run an <error>. Aggregates ride along as properties."""
    cases = report["cases"]
    name = report["set"]
    failures = sum(1 for c in cases if not c["passed"] and c["error"] is None)
    errors = sum(1 for c in cases if c["error"] is not None)
    wall = f"{report['wall_seconds']:.3f}"
    suites = ET.Element("testsuites", name="huashu eval", tests=str(len(cases)), failures=str(failures),
                        errors=str(errors), time=wall)
    suite = ET.SubElement(suites, "testsuite", name=name, tests=str(len(cases)), failures=str(failures),
                          errors=str(errors), skipped="0", time=wall, timestamp=report["started_at"])
    props = ET.SubElement(suite, "properties")
    for key, value in report["aggregates"].items():
        ET.SubElement(props, "property", name=key, value="" if value is None else str(value))
    for c in cases:
        seconds = (c["latency_ms"] or 0) / 1000
        case = ET.SubElement(suite, "testcase", classname=f"{Path(name).stem}.{c['expected_intent']}", name=c["id"],
                             time=f"{seconds:.4f}")
        if c["error"] is not None:
            ET.SubElement(case, "error", message=c["error"], type="error").text = c["error"]
        elif not c["passed"]:
            detail = "\n".join([*c["failed_checks"], f"reply: {c['reply']}"])
            ET.SubElement(case, "failure", message="; ".join(c["failed_checks"]), type="checks").text = detail
        out = [f"intent: {c['intent']} (expected {c['expected_intent']})", f"reply: {c['reply']}"]
        ET.SubElement(case, "system-out").text = "\n".join(out)
    ET.indent(suites)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True)


def write_reports(folder: Path, report: dict[str, Any]) -> dict[str, str]:
    """Write the three reports; returns their paths by kind."""
    paths = {"json": folder / "report.json", "junit": folder / "junit.xml", "html": folder / "report.html"}
    contents = {
        "json": json.dumps(report, ensure_ascii=False, indent=1).encode("utf-8"),
        "junit": junit_xml(report),
        "html": render_html(report).encode("utf-8"),
    }
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for kind, path in paths.items():
            replace_file(path, contents[kind])
    except OSError as exc:
        raise EvalInputError(f"{folder}: cannot write the reports: {exc.strerror or exc}") from exc
    return {kind: str(path) for kind, path in paths.items()}
