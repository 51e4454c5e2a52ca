from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from service.config import Settings, get_settings
from service.container import Services
from service.knowledge.ingest import ingest_pack
from tests.fakes.openai_server import FakeOpenAI

ROOT = Path(__file__).resolve().parent.parent
DEMO_PACK = ROOT / "knowledge" / "demo-shop"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """HUASHU_DATA_DIR for commands run through typer's runner, which read the environment."""
    monkeypatch.setenv("HUASHU_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield tmp_path / "data"
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests build their Settings explicitly; the caller's environment must not leak in."""
    for name in list(os.environ):
        if name.startswith(("HUASHU_", "OPENAI_")):
            monkeypatch.delenv(name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `chroma run` on a free loopback port, for the whole session."""
    exe = Path(sys.executable).with_name("chroma")
    command = str(exe) if exe.exists() else shutil.which("chroma")
    if command is None:
        pytest.fail("the `chroma` command (from the chromadb package) is not installed")
    port = free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    log = (path / "server.log").open("wb")
    proc = subprocess.Popen(
        [command, "run", "--path", str(path / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"chroma run did not start: {(path / 'server.log').read_text(errors='replace')[-2000:]}")
        time.sleep(0.2)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(params=["embedded", "server"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_settings(backend: str, request: pytest.FixtureRequest,
                  tmp_path: Path) -> Callable[..., Settings]:
    """Settings on the chosen Chroma backend; the server starts each test empty."""
    chroma_url = None
    if backend == "server":
        chroma_url = request.getfixturevalue("chroma_server")
        import chromadb

        client = chromadb.HttpClient(host="127.0.0.1", port=int(chroma_url.rsplit(":", 1)[1]))
        for col in client.list_collections():
            client.delete_collection(col.name)

    def build(**overrides: object) -> Settings:
        values: dict[str, object] = {"data_dir": tmp_path / "data", "chroma_url": chroma_url}
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]

    return build


@pytest.fixture
def services(make_settings: Callable[..., Settings]) -> Services:
    return Services(make_settings())


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Services:
    """The demo pack ingested once into embedded Chroma, shared by read-only tests."""
    svc = Services(Settings(data_dir=tmp_path_factory.mktemp("demo") / "data", chroma_url=None,
                            embeddings_base_url=None))
    ingest_pack(DEMO_PACK, svc.index, svc.embedder, svc.lexical_store)
    return svc


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI().start()
    yield server
    server.stop()


# --- databases ----------------------------------------------------------------------------

POSTGRES_URL = os.environ.get("HUASHU_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _postgres_reason() -> str | None:
    """Why PostgreSQL can't be used here, or None when it can."""
    import psycopg

    try:
        with psycopg.connect(POSTGRES_URL.replace("postgresql+psycopg", "postgresql"), connect_timeout=3):
            return None
    except psycopg.OperationalError as exc:
        return f"PostgreSQL is not reachable at {POSTGRES_URL} ({str(exc).strip().splitlines()[0]})"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh schema in the PostgreSQL server on this machine, dropped afterwards; the
    tests that need it skip, saying why, where no server answers."""
    reason = _postgres_reason()
    if reason is not None:
        pytest.skip(reason)
    import uuid

    import psycopg

    schema = f"huashu_test_{uuid.uuid4().hex[:10]}"
    plain = POSTGRES_URL.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each store test runs on SQLite and on PostgreSQL, each time on an empty database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'huashu.db'}"
        return
    url = request.getfixturevalue("postgres_url")
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        for table in ("audit_log", "idempotency", "drafts", "suggestions", "api_keys", "alembic_version"):
            conn.execute(text(f"DROP TABLE IF EXISTS {table} CASCADE"))
    engine.dispose()
    yield url
