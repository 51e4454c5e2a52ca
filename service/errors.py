"""The exception hierarchy. Every error huashu raises on purpose is a HuashuError:

    HuashuError
    ├── PackError              a knowledge pack is invalid (names file, line, field)
    ├── RuleError              a guardrail rule file or the claim lexicon is invalid
    ├── NotFound
    │   ├── ShopNotFound       no pack ingested under that shop id
    │   ├── ProductNotFound    the shop has no such product
    │   ├── DraftNotFound      no such draft (or it belongs to a shop the caller can't see)
    │   └── EvalNotFound       no evaluation run (or golden set) under that name or id
    ├── InvalidRequest         a request is malformed (empty query, k out of range, …)
    │   ├── IdempotencyMismatch  an Idempotency-Key reused with a different request
    │   └── EvalInputError     an eval input (golden set, baseline, tolerances, cassette,
    │                          report folder) is unreadable or malformed; checked before a run
    ├── Unauthorized           no API key, or an unknown or revoked one
    ├── Forbidden              the key lacks the role, or the shop is outside its scope
    ├── Conflict               the draft's state does not allow the action (carries it)
    │   └── OverrideRequired   approving a blocked edit needs an override and a reason
    └── BackendError           a dependency failed
        ├── IndexUnavailable   Chroma (embedded or server) failed or is unreachable
        │   └── IndexChanged   an ingest replaced what was being read (readers retry)
        ├── EmbeddingError     the embeddings endpoint failed or answered nonsense
        └── StoreUnavailable   the database failed or is unreachable

Adapters translate library exceptions (chromadb, openai) into these with `raise … from`.
The API maps them to HTTP responses in one table (service/api/app.py) and the CLI to
one-line messages in one place (service/cli.py).
"""

from __future__ import annotations

from typing import Any


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


class RuleError(HuashuError):
    """A guardrail rule file, a pack's overrides or the claim lexicon failed to load."""

    code = "invalid_rules"


class NotFound(HuashuError):
    code = "not_found"


class ShopNotFound(NotFound):
    code = "shop_not_found"


class ProductNotFound(NotFound):
    code = "product_not_found"


class DraftNotFound(NotFound):
    code = "draft_not_found"


class EvalNotFound(NotFound):
    code = "eval_not_found"


class InvalidRequest(HuashuError):
    code = "invalid_request"


class IdempotencyMismatch(InvalidRequest):
    code = "idempotency_key_reused"


class Unauthorized(HuashuError):
    code = "unauthorized"


class Forbidden(HuashuError):
    code = "forbidden"


class Conflict(HuashuError):
    """`current` is the resource as it stands now, returned beside the error."""

    code = "conflict"

    def __init__(self, message: str, current: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.current = current


class OverrideRequired(Conflict):
    code = "override_required"


class EvalInputError(InvalidRequest):
    code = "invalid_eval_input"


class BackendError(HuashuError):
    code = "backend_error"


class IndexUnavailable(BackendError):
    code = "index_unavailable"


class IndexChanged(IndexUnavailable):
    """A shop's manifest named a documents generation that a newer ingest has replaced."""

    code = "index_changed"


class EmbeddingError(BackendError):
    code = "embedding_error"


class StoreUnavailable(BackendError):
    code = "database_unavailable"
