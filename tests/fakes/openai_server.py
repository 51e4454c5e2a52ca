"""A local OpenAI-compatible HTTP server for tests: real sockets, scripted answers.

The real `openai` client talks to it over HTTP. Responses are scripted per endpoint; a
scripted item is a dict (the JSON body to return), an `Error(status, body)`, or a
`Delay(seconds, then)`. When the script for an endpoint runs dry, a responder set with
`respond(path, fn)` answers (`fn(body)` returns an item as above: answers that depend on the
request, e.g. for runs whose calls come in no fixed order); without one `/v1/embeddings` falls
back to deterministic vectors, and any other endpoint answers 500 and records the surplus
call in `unexpected`, so a test can assert nothing more was called (like NeMo's FakeLLM).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Error:
    status: int
    body: dict[str, Any] | str


@dataclass
class Delay:
    seconds: float
    then: Any


@dataclass
class Stream:
    """A streamed chat completion: `pieces` sent as SSE chunks, `interval` seconds apart;
    `sent_at` records when each chunk left the server (time.perf_counter)."""

    pieces: list[str]
    interval: float = 0.0
    sent_at: list[float] = field(default_factory=list)


def fake_vector(text: str, dim: int = 16) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [(b - 128) / 128 for b in digest[:dim]]


class FakeOpenAI:
    def __init__(self, embedding_dim: int = 16) -> None:
        self.embedding_dim = embedding_dim
        self.scripts: dict[str, deque[Any]] = defaultdict(deque)
        self.responders: dict[str, Callable[[dict[str, Any]], Any]] = {}
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.unexpected: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def script(self, path: str, *items: Any) -> None:
        self.scripts[path].extend(items)

    def respond(self, path: str, responder: Callable[[dict[str, Any]], Any]) -> None:
        """Answer `path` with `responder(body)` once its script is used up."""
        self.responders[path] = responder

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("content-length", 0))
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    body = {}
                path = self.path.split("?")[0].removeprefix("/v1")
                fake.requests.append((path, body))
                script = fake.scripts[path]
                item = script.popleft() if script else None
                if item is None and path in fake.responders:
                    item = fake.responders[path](body)
                while isinstance(item, Delay):
                    time.sleep(item.seconds)
                    item = item.then
                if item is None and path == "/embeddings":
                    inputs = body.get("input", [])
                    inputs = [inputs] if isinstance(inputs, str) else inputs
                    item = {"object": "list", "model": body.get("model", "fake"),
                            "data": [{"object": "embedding", "index": i,
                                      "embedding": fake_vector(str(t), fake.embedding_dim)}
                                     for i, t in enumerate(inputs)],
                            "usage": {"prompt_tokens": 0, "total_tokens": 0}}
                if isinstance(item, Stream):
                    self._stream(item, body)
                    return
                if item is None:
                    fake.unexpected.append(path)
                    item = Error(500, {"error": {"message": f"unscripted call to {path}"}})
                status, payload = (item.status, item.body) if isinstance(item, Error) else (200, item)
                data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, item: Stream, body: dict[str, Any]) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("cache-control", "no-cache")
                self.end_headers()

                def send(payload: dict[str, Any] | str) -> None:
                    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
                    self.wfile.write(f"data: {data}\n\n".encode())
                    self.wfile.flush()

                base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
                        "model": body.get("model", "fake-chat")}
                for piece in item.pieces:
                    send({**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
                    item.sent_at.append(time.perf_counter())
                    if item.interval:
                        time.sleep(item.interval)
                send({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                if (body.get("stream_options") or {}).get("include_usage"):
                    send({**base, "choices": [], "usage": {"prompt_tokens": 100, "completion_tokens": len(item.pieces),
                                                           "total_tokens": 100 + len(item.pieces)}})
                send("[DONE]")

        return Handler


def completion(content: str, prompt_tokens: int = 120, completion_tokens: int = 40) -> dict[str, Any]:
    """A /v1/chat/completions response body with one message."""
    return {"id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": "fake-chat",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}
