"""POST /v1/evals and GET /v1/evals/{id}: a background run polled until done, inline cases,
baselines by name, and inputs refused before any run (names outside the eval folder too)."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.config import Settings
from service.container import Services
from tests.clients import local_client
from tests.conftest import ROOT

MINI = ROOT / "tests" / "fixtures" / "golden-mini.jsonl"


@pytest.fixture(scope="module")
def eval_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("evals-folder")
    shutil.copy(MINI, folder / "golden-mini.jsonl")
    (folder / "secret.txt").write_text("not a golden set", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def client(demo: Services, eval_dir: Path) -> Iterator[TestClient]:
    services = Services(Settings(data_dir=demo.settings.data_dir, eval_dir=eval_dir))
    with local_client(create_app(services=services)) as c:
        yield c


def wait_done(client: TestClient, run_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    seen = set()
    while True:
        r = client.get(f"/v1/evals/{run_id}")
        assert r.status_code == 200, r.text
        body = r.json()
        seen.add(body["status"])
        assert body["progress"]["done"] <= body["progress"]["total"]
        if body["status"] in ("done", "failed"):
            return body
        assert time.monotonic() < deadline, f"run {run_id} still {body['status']}"
        time.sleep(0.05)


def test_run_a_named_set_in_the_background(client: TestClient, demo: Services) -> None:
    r = client.post("/v1/evals", json={"set": "golden-mini"})
    assert r.status_code == 202, r.text
    accepted = r.json()
    assert accepted["status"] in ("queued", "running", "done") and r.headers["location"] == f"/v1/evals/{accepted['id']}"
    assert accepted["progress"]["total"] == 13
    body = wait_done(client, accepted["id"])
    assert body["status"] == "done" and body["error"] is None
    assert body["progress"] == {"done": 13, "total": 13}
    ids = [json.loads(line)["id"] for line in MINI.read_text(encoding="utf-8").splitlines()]
    assert [c["id"] for c in body["cases"]] == ids
    assert body["aggregates"]["cases"] == 13 and body["verdict"]["status"] == "pass"
    assert body["per_intent"]["bargain"]["cases"] == 1 and body["comparison"] is None
    folder = demo.settings.data_dir / "evals" / accepted["id"]
    assert body["reports"]["html"] == str(folder / "report.html")
    for name in ("report.json", "junit.xml", "report.html"):
        assert (folder / name).is_file()
    # A restarted server answers a finished run from its report on disk.
    services = Services(Settings(data_dir=demo.settings.data_dir))
    with local_client(create_app(services=services)) as fresh:
        again = fresh.get(f"/v1/evals/{accepted['id']}").json()
    assert again["status"] == "done" and again["aggregates"] == body["aggregates"]


def test_inline_cases_and_a_baseline_by_name(client: TestClient, eval_dir: Path) -> None:
    case = {"id": "bargain-x", "shop": "demo-shop", "product": "P003", "intent": "bargain",
            "history": [{"role": "buyer", "text": "能便宜点吗"}], "must_not_include": ["打折"],
            "expect_escalation": False}
    r = client.post("/v1/evals", json={"cases": [case]})
    assert r.status_code == 202, r.text
    body = wait_done(client, r.json()["id"])
    assert body["status"] == "done" and body["set"] == "inline" and len(body["cases"]) == 1
    passed = body["cases"][0]["passed"]
    # A baseline that claims more than the run reaches gates it.
    baseline = {"version": 1, "aggregates": {"pass_rate": 1.0, "intent_accuracy": 1.0},
                "cases": {"bargain-x": {"passed": True}}}
    if passed:
        baseline["aggregates"]["grounding_rate"] = 2.0  # unreachable: a regression either way
    (eval_dir / "base-inline.json").write_text(json.dumps(baseline), encoding="utf-8")
    r = client.post("/v1/evals", json={"cases": [case], "baseline": "base-inline"})
    assert r.status_code == 202, r.text
    gated = wait_done(client, r.json()["id"])
    assert gated["verdict"]["status"] == "fail" and gated["comparison"]["regressions"]
    assert gated["comparison"]["flipped_to_fail"] == ([] if passed else ["bargain-x"])


@pytest.mark.parametrize(("body", "status", "code", "needle"), [
    ({"set": "../golden-mini.jsonl"}, 400, "invalid_eval_input", "must be a file name inside the eval folder"),
    ({"set": "/etc/passwd"}, 400, "invalid_eval_input", "must be a file name inside the eval folder"),
    ({"set": "nope"}, 404, "eval_not_found", "set: no 'nope' in the eval folder"),
    ({"set": "golden-mini", "baseline": "../x.json"}, 400, "invalid_eval_input", "baseline:"),
    ({"set": "golden-mini", "baseline": "missing"}, 404, "eval_not_found", "baseline: no 'missing'"),
    ({}, 400, "invalid_eval_input", "give either set"),
    ({"set": "golden-mini", "cases": []}, 400, "invalid_eval_input", "give either set"),
    ({"cases": [{"id": "a", "shop": "demo-shop", "intent": "bargain",
                 "history": [{"role": "agent", "text": "在的"}]}]},
     400, "invalid_eval_input", "cases[0]: history[0].role: the last turn must be the buyer's"),
    ({"cases": []}, 400, "invalid_eval_input", "no valid golden case"),
    ({"set": "golden-mini", "judge": True}, 400, "invalid_eval_input", "--judge needs an LLM"),
    ({"set": 5}, 422, "invalid_request", "set:"),
])
def test_bad_requests(client: TestClient, body: dict[str, Any], status: int, code: str, needle: str) -> None:
    r = client.post("/v1/evals", json=body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code and needle in error["message"], error


def test_malformed_baseline_is_refused(client: TestClient, eval_dir: Path) -> None:
    (eval_dir / "broken.json").write_text("{oops", encoding="utf-8")
    r = client.post("/v1/evals", json={"set": "golden-mini", "baseline": "broken.json"})
    assert r.status_code == 400 and "not a readable baseline" in r.json()["error"]["message"]


def test_unknown_run_and_openapi(client: TestClient) -> None:
    r = client.get("/v1/evals/0123456789abcdef0123456789abcdef")
    assert r.status_code == 404 and r.json()["error"]["code"] == "eval_not_found"
    assert client.get("/v1/evals/..%2F..%2Fetc").status_code == 404
    spec = client.get("/openapi.json").json()
    assert "/v1/evals" in spec["paths"] and "/v1/evals/{run_id}" in spec["paths"]
    assert spec["paths"]["/v1/evals"]["post"]["responses"]["202"]
