"""The exception hierarchy. Every error huashu raises on purpose is a HuashuError:

    HuashuError
    ├── PackError              a knowledge pack is invalid (names file, line, field)
    ├── NotFound
    │   ├── ShopNotFound       no pack ingested under that shop id
    │   └── ProductNotFound    the shop has no such product
    ├── InvalidRequest         a request is malformed (empty query, k out of range, …)
    └── BackendError           a dependency failed
        ├── IndexUnavailable   Chroma (embedded or server) failed or is unreachable
        │   └── IndexChanged   an ingest replaced what was being read (readers retry)
        └── EmbeddingError     the embeddings endpoint failed or answered nonsense

Adapters translate library exceptions (chromadb, openai) into these with `raise … from`.
The API maps them to HTTP responses in one table (service/api/app.py) and the CLI to
one-line messages in one place (service/cli.py).
"""

from __future__ import annotations


class HuashuError(Exception):
    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PackError(HuashuError):
    """A knowledge pack failed validation; `problems` lists every issue found."""

    code = "invalid_pack"

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        head = problems[0] if len(problems) == 1 else f"{len(problems)} problems in the pack"
        detail = "" if len(problems) == 1 else ":\n  " + "\n  ".join(problems[:50])
        more = f"\n  … and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(head + detail + more)


class NotFound(HuashuError):
    code = "not_found"


class ShopNotFound(NotFound):
    code = "shop_not_found"


class ProductNotFound(NotFound):
    code = "product_not_found"


class InvalidRequest(HuashuError):
    code = "invalid_request"


class BackendError(HuashuError):
    code = "backend_error"


class IndexUnavailable(BackendError):
    code = "index_unavailable"


class IndexChanged(IndexUnavailable):
    """A shop's manifest named a documents generation that a newer ingest has replaced."""

    code = "index_changed"


class EmbeddingError(BackendError):
    code = "embedding_error"
