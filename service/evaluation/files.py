"""Files the evaluator writes (reports, cassettes, harvested examples) are replaced whole."""

from __future__ import annotations

import os
from pathlib import Path


def replace_file(path: Path, data: bytes) -> None:
    """Write `data` beside `path` and move it into place: a reader sees the old file or the
    new one, never half of either. A failed write leaves no temporary file behind."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
