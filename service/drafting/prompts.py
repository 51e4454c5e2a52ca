"""Prompt templates are plain files in `prompts/` with a version in their front matter; the
version is recorded with every draft made from the template."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

PROMPTS_DIR = Path(__file__).resolve().parents[2] / "prompts"


@dataclass(frozen=True)
class Prompt:
    name: str
    version: str
    template: str

    def render(self, **values: object) -> str:
        return self.template.format(**values)


@lru_cache
def load_prompt(name: str, folder: Path = PROMPTS_DIR) -> Prompt:
    text = (folder / f"{name}.md").read_text(encoding="utf-8")
    if not text.startswith("---\n"):
        raise ValueError(f"{name}.md: expected front matter with name and version")
    _, front, body = text.split("---\n", 2)
    meta = yaml.safe_load(front) or {}
    if not meta.get("version"):
        raise ValueError(f"{name}.md: front matter needs a version")
    return Prompt(name=str(meta.get("name", name)), version=str(meta["version"]), template=body.strip())
