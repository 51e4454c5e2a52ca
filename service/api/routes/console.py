"""The agent console: one static page over the same API (no build step, no CDN)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["service"])
PAGE = Path(__file__).resolve().parent.parent / "static" / "console.html"


@lru_cache
def _page() -> str:
    return PAGE.read_text(encoding="utf-8")


@router.get("/console", response_class=HTMLResponse, summary="The agent console (a web page)")
def console() -> HTMLResponse:
    return HTMLResponse(_page())
