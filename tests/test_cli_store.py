"""The `huashu` commands of the draft store: db, keys, drafts, stats, and serve's key check."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.cli import app
from service.config import get_settings
from tests.conftest import DEMO_PACK

runner = CliRunner()


def run(*args: str) -> dict:  # type: ignore[type-arg]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_db_upgrade_and_current(data_dir: Path) -> None:
    assert run("db", "current")["revision"] is None
    up = run("db", "upgrade")
    assert up["revision"] == "0001" and up["database"].endswith("huashu.db")
    assert run("db", "current")["revision"] == "0001"
    assert (data_dir / "huashu.db").exists()
    human = runner.invoke(app, ["db", "current"])
    assert "revision 0001" in human.stdout


def test_keys_create_list_revoke(data_dir: Path) -> None:
    made = run("keys", "create", "--name", "xiaoqi", "--role", "agent", "--role", "client", "--shop", "demo-shop")
    assert made["key"].startswith("hs_") and made["roles"] == ["agent", "client"] and made["shops"] == ["demo-shop"]
    listed = run("keys", "list")["keys"]
    assert [k["id"] for k in listed] == [made["id"]] and "key" not in listed[0]
    assert made["key"] not in json.dumps(listed)
    revoked = run("keys", "revoke", made["id"])
    assert revoked["revoked_at"]
    bad = runner.invoke(app, ["keys", "create", "--name", "x", "--role", "boss", "--shop", "demo-shop"])
    assert bad.exit_code == 2 and "roles" in bad.output
    missing = runner.invoke(app, ["keys", "revoke", "k_nope"])
    assert missing.exit_code == 3 and "no API key" in missing.output


def test_suggest_then_act_on_drafts(data_dir: Path) -> None:
    assert runner.invoke(app, ["ingest", str(DEMO_PACK)]).exit_code == 0
    s = run("suggest", "--shop", "demo-shop", "--product", "P003", "能便宜点吗")
    first, second = s["candidates"][0]["id"], s["candidates"][1]["id"]
    assert run("drafts", "show", first)["state"] == "suggested"
    edited = run("drafts", "edit", first, "亲，给您打9折吧")
    assert edited["verdict"] == "block"
    refused = runner.invoke(app, ["drafts", "approve", first])
    assert refused.exit_code == 5 and "override" in refused.output
    ok = run("drafts", "approve", first, "--override", "--reason", "主管同意", "--agent", "小杞")
    assert ok["state"] == "approved" and ok["override_reason"] == "主管同意"
    assert run("drafts", "sent", first)["state"] == "sent"
    assert run("drafts", "reject", second, "--reason", "太长")["state"] == "rejected"
    shown = runner.invoke(app, ["drafts", "show", first])
    assert shown.exit_code == 0 and "approve by cli / 小杞" in shown.stdout
    stats = run("stats", "--shop", "demo-shop")
    assert stats["overall"]["approved"] == 1 and stats["overall"]["rejected"] == 1
    assert stats["overall"]["overrides"] == 1
    assert runner.invoke(app, ["stats", "--shop", "demo-shop"]).exit_code == 0
    gone = runner.invoke(app, ["drafts", "show", "0" * 32])
    assert gone.exit_code == 3 and "no draft" in gone.output


def test_serve_refuses_other_interfaces_without_keys(data_dir: Path) -> None:
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--port", "1"])
    assert result.exit_code == 2
    assert "no API key is configured" in result.output and "huashu keys create" in result.output


def test_serve_installs_the_admin_key_from_the_environment(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "hs_bootstrap_0123456789abcdef"
    monkeypatch.setenv("HUASHU_ADMIN_KEY", secret)
    get_settings.cache_clear()
    with socket.socket() as taken:  # serve gets as far as installing the key, then cannot bind
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        first = runner.invoke(app, ["serve", "--host", "127.0.0.1", "--port", port])
        assert first.exit_code != 0 and "installed the admin key" in first.output
        keys = run("keys", "list")["keys"]
        assert [(k["roles"], k["shops"], k["prefix"]) for k in keys] == [(["admin"], ["*"], secret[:10])]
        again = runner.invoke(app, ["serve", "--host", "127.0.0.1", "--port", port])
        assert again.exit_code != 0 and "installed" not in again.output
    assert len(run("keys", "list")["keys"]) == 1  # installed once
