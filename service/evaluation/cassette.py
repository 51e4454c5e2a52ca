"""Record and replay LLM traffic at the HTTP layer, for reproducible LLM evaluations.

A cassette maps the SHA-256 of a request's body (the JSON the openai client sends: model,
messages, temperature, …) to the response the endpoint gave. Recording wraps the real
httpx transport; replaying answers from the file alone and never opens a connection. Both
are plain httpx transports handed to ChatOpenAI through an `httpx.Client`, so the whole
client stack (openai, LangChain, the drafter's parsing) runs unchanged.

Within one recording an identical request is answered from the cassette once a successful
response for it is stored, so a recorded run and its replay see the same responses even
when the model is not deterministic. A non-2xx response is recorded too (replayed as the
same failure), but a later success for the same request replaces it (a 429 then a retry).

A request missing from the cassette in replay raises CassetteMiss inside the client; the
transport also notes it per thread so the evaluation can fail that case by name instead
of counting the drafter's offline fallback as a result.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from service.errors import EvalInputError
from service.evaluation.files import replace_file
from service.evaluation.jsonl import read_json_file

VERSION = 1


class CassetteMiss(httpx.TransportError):
    """A replayed request that the cassette holds no response for."""


def request_key(body: bytes) -> str:
    """SHA-256 of the request body, canonicalised when it is JSON (key order, spacing)."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, ensure_ascii=False).encode()
    except ValueError:
        canonical = body
    return hashlib.sha256(canonical).hexdigest()


class Cassette:
    def __init__(self, path: Path, model: str = "", base_url: str = "",
                 interactions: dict[str, dict[str, Any]] | None = None) -> None:
        self.path = path
        self.model = model
        self.base_url = base_url
        self.interactions: dict[str, dict[str, Any]] = interactions or {}
        self._lock = threading.Lock()
        self._local = threading.local()

    @classmethod
    def load(cls, path: Path) -> Cassette:
        """A recorded cassette; EvalInputError when it is missing or not one."""
        data = read_json_file(path, "cassette", "record one with --record")
        if not isinstance(data, dict) or data.get("version") != VERSION \
                or not isinstance(data.get("interactions"), dict):
            raise EvalInputError(f"{path}: not a huashu cassette (expected version {VERSION} and interactions)")
        for key, item in data["interactions"].items():
            response = item.get("response") if isinstance(item, dict) else None
            if not isinstance(response, dict) or not isinstance(response.get("status"), int) \
                    or not isinstance(response.get("body"), str):
                raise EvalInputError(f"{path}: interaction {key[:12]}: response needs status and body")
        return cls(path, str(data.get("model", "")), str(data.get("base_url", "")), data["interactions"])

    def save(self) -> None:
        """Write the cassette atomically (a reader never sees half a file)."""
        with self._lock:
            data = {"version": VERSION, "model": self.model, "base_url": self.base_url,
                    "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "interactions": self.interactions}
        replace_file(self.path, json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8"))

    def recorder(self, inner: httpx.BaseTransport | None = None) -> httpx.BaseTransport:
        return _RecordTransport(self, inner or httpx.HTTPTransport())

    def player(self) -> httpx.BaseTransport:
        return _ReplayTransport(self)

    def take_misses(self) -> list[str]:
        """The keys this thread asked for in replay and the cassette lacked, then forgets them."""
        misses: list[str] = getattr(self._local, "misses", [])
        self._local.misses = []
        return misses

    def note_miss(self, key: str) -> None:
        if not hasattr(self._local, "misses"):
            self._local.misses = []
        self._local.misses.append(key)

    def lookup(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            item = self.interactions.get(key)
        return item["response"] if item else None

    def store(self, key: str, request: httpx.Request, response: dict[str, Any]) -> None:
        try:
            body: Any = json.loads(request.content)
        except ValueError:
            body = request.content.decode("utf-8", "replace")
        with self._lock:
            self.interactions[key] = {"request": {"method": request.method, "url": str(request.url), "body": body},
                                      "response": response}


def _response(request: httpx.Request, stored: dict[str, Any]) -> httpx.Response:
    return httpx.Response(stored["status"], headers=stored.get("headers") or {},
                          content=stored["body"].encode("utf-8"), request=request)


class _RecordTransport(httpx.BaseTransport):
    def __init__(self, cassette: Cassette, inner: httpx.BaseTransport) -> None:
        self.cassette = cassette
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        key = request_key(request.read())
        stored = self.cassette.lookup(key)
        if stored is not None and 200 <= stored["status"] < 300:
            return _response(request, stored)
        response = self.inner.handle_request(request)
        try:
            body = response.read()  # decoded: gzip and the like are undone here
        finally:
            response.close()
        # Only the content type travels with the body: the encoding and length headers
        # described the bytes on the wire, not the decoded text stored here.
        headers = {k: v for k, v in response.headers.items() if k.lower() == "content-type"}
        stored = {"status": response.status_code, "headers": headers, "body": body.decode("utf-8", "replace")}
        self.cassette.store(key, request, stored)
        return _response(request, stored)

    def close(self) -> None:
        self.inner.close()


class _ReplayTransport(httpx.BaseTransport):
    def __init__(self, cassette: Cassette) -> None:
        self.cassette = cassette

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        key = request_key(request.read())
        stored = self.cassette.lookup(key)
        if stored is None:
            self.cassette.note_miss(key)
            raise CassetteMiss(f"the cassette {self.cassette.path.name} has no response for request {key[:12]}",
                               request=request)
        return _response(request, stored)
