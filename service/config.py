"""Typed configuration from the environment (CONTRACTS §5).

Every setting is read from a `HUASHU_*` variable; the LLM settings fall back to the
standard `OPENAI_*` ones so an existing OpenAI set-up works unchanged. Settings are built
lazily by `get_settings()`, never at import time, so tests can build their own.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_DIR = Path(__file__).resolve().parents[1]


class Timeouts(BaseModel):
    """Network budgets for every outbound call (LLM, embeddings, Chroma server)."""

    connect: float = Field(5.0, description="Seconds to open a connection.")
    read: float = Field(30.0, description="Seconds to wait for a response.")
    retries: int = Field(2, ge=0, le=10, description="Retries on 429/5xx/connection errors.")


class RetrievalSettings(BaseModel):
    """Knobs of hybrid retrieval; defaults were tuned on eval/retrieval-demo.jsonl."""

    rrf_k: int = Field(60, ge=1, description="Reciprocal-rank-fusion damping constant.")
    dense_weight: float = Field(1.0, ge=0, description="Weight of the dense ranking in RRF.")
    lexical_weight: float = Field(1.0, ge=0, description="Weight of the BM25 ranking in RRF.")
    intent_weight: float = Field(1.0, ge=0, description="Weight of the intent ranking (scripts and policy rules for the buyer's intent) in RRF.")
    candidates: int = Field(50, ge=1, le=1000, description="Hits taken from each ranker before fusion.")
    max_k: int = Field(50, ge=1, le=1000, description="Largest k a search may ask for.")
    max_query_chars: int = Field(2000, ge=1, description="Longest query accepted.")


class Settings(BaseSettings):
    # populate_by_name: fields with an OPENAI_* fallback alias still accept their own name
    # as a keyword (Settings(llm_base_url=...)); without it the keyword is silently ignored.
    model_config = SettingsConfigDict(
        env_prefix="HUASHU_", env_nested_delimiter="__", extra="ignore", populate_by_name=True
    )

    data_dir: Path = Field(Path("data"), description="Embedded Chroma, SQLite and caches live here.")
    eval_dir: Path = Field(
        REPO_DIR / "eval",
        description="Golden sets and baselines that POST /v1/evals may name; nothing outside it is read.",
    )

    llm_base_url: str | None = Field(
        None, validation_alias=AliasChoices("HUASHU_LLM_BASE_URL", "OPENAI_BASE_URL")
    )
    llm_model: str = Field("gpt-4o-mini", validation_alias=AliasChoices("HUASHU_LLM_MODEL"))
    llm_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("HUASHU_LLM_API_KEY", "OPENAI_API_KEY")
    )

    llm_prompt_budget: int = Field(3000, ge=200, description="Most prompt tokens an LLM draft may use.")

    embeddings_base_url: str | None = None
    embeddings_model: str | None = None
    embeddings_api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices(
            "HUASHU_EMBEDDINGS_API_KEY", "HUASHU_LLM_API_KEY", "OPENAI_API_KEY"
        ),
    )

    chroma_url: str | None = None
    database_url: str | None = Field(
        None, description="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db; unset: SQLite under data_dir."
    )
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field(
        "FULL", description="SQLite commit durability: FULL survives power loss, NORMAL a killed process."
    )
    admin_key: SecretStr | None = Field(
        None, description="An admin API key (every shop) installed at start-up if absent, so a fresh "
                          "deployment (e.g. docker compose) can be reached; at least 24 characters.")
    database_migrate: bool = Field(
        True, description="Run the database migrations when the server starts (else `huashu db upgrade`)."
    )

    max_pack_file_bytes: int = Field(
        5 * 1024 * 1024, ge=1, description="Largest shop.yaml or handbook file a pack may hold."
    )
    max_products_file_bytes: int = Field(
        200 * 1024 * 1024, ge=1, description="Largest products file a pack may hold."
    )
    timeouts: Timeouts = Timeouts()
    retrieval: RetrievalSettings = RetrievalSettings()

    @property
    def chroma_path(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def lexical_path(self) -> Path:
        return self.data_dir / "lexical"

    @property
    def database(self) -> str:
        """The database URL in use: HUASHU_DATABASE_URL, else SQLite under the data dir."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'huashu.db').as_posix()}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
