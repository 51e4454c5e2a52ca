"""Estimated cost of an LLM run from its token usage, priced per 1,000 tokens by model
(`eval/pricing.yaml`). Offline drafts cost nothing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from service.config import REPO_DIR
from service.errors import EvalInputError

DEFAULT_PRICING = REPO_DIR / "eval" / "pricing.yaml"


class Price(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt_per_1k: float = Field(ge=0)
    completion_per_1k: float = Field(ge=0)


class _PricingFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    currency: str = "USD"
    default: Price
    models: dict[str, Price] = Field(default_factory=dict)


@dataclass(frozen=True)
class Pricing:
    currency: str
    default: Price
    models: dict[str, Price]

    @classmethod
    def load(cls, path: Path = DEFAULT_PRICING) -> Pricing:
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
            data = _PricingFile.model_validate(raw)
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise EvalInputError(f"{path}: cannot read the pricing file: {exc}") from exc
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise EvalInputError(f"{path}: {where}: {first['msg']}") from exc
        return cls(data.currency, data.default, data.models)

    def cost(self, model: str | None, usage: dict[str, int]) -> float:
        price = self.models.get(model or "", self.default)
        return (usage.get("prompt_tokens", 0) * price.prompt_per_1k
                + usage.get("completion_tokens", 0) * price.completion_per_1k) / 1000
