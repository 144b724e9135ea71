"""The traders' web app (frontend/, a Next.js static export in frontend/out/) served by
Django on the same origin as the API and the WebSocket. One URL, one process, no Node at
run time (docs/frontend.md).

Routes: `/` (markets), `/trade/<SYMBOL>` (one exported page for every symbol: the page
reads the symbol from the address), `/signup`, `/login`, `/orders`, `/balances`,
`/api-keys`, and the build's assets under `/_next/`. Without a build, `/` redirects to the
API docs as before.
"""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.urls import path, re_path
from django.views.decorators.http import require_safe

PAGES = ("signup", "login", "orders", "balances", "api-keys")
TRADE_PAGE = "trade/_"  # the page generateStaticParams exports for every symbol
SYMBOL = re.compile(r"^[A-Za-z0-9._-]{1,32}$")
IMMUTABLE = "public, max-age=31536000, immutable"


def build_dir() -> Path:
    return Path(getattr(settings, "FRONTEND_BUILD_DIR", settings.BASE_DIR / "frontend" / "out"))


def _file(relative: str) -> Path | None:
    """An existing file of the build, never outside it."""
    root = build_dir().resolve()
    candidate = (root / relative).resolve()
    if not candidate.is_relative_to(root) or not candidate.is_file():
        return None
    return candidate


def _send(file: Path, *, cache: str, status: int = 200) -> FileResponse:
    content_type, _ = mimetypes.guess_type(file.name)
    response = FileResponse(
        file.open("rb"), content_type=content_type or "application/octet-stream", status=status
    )
    response["Cache-Control"] = cache
    return response


@require_safe
def index(request: HttpRequest) -> HttpResponseBase:
    page = _file("index.html")
    if page is None:  # no build (yet): the API's docs, as before the web app
        return HttpResponseRedirect("/api/docs/")
    return _send(page, cache="no-cache")


@require_safe
def page(request: HttpRequest, name: str, ext: str = ".html") -> HttpResponseBase:
    """A page (`.html`) or its React Server Components payload (`.txt`, fetched by
    client-side navigation)."""
    file = _file(f"{name}{ext}")
    if file is None:
        raise Http404
    return _send(file, cache="no-cache")


@require_safe
def trade(request: HttpRequest, symbol: str, ext: str = ".html") -> HttpResponseBase:
    if not SYMBOL.match(symbol):
        raise Http404
    return page(request, TRADE_PAGE, ext)


@require_safe
def asset(request: HttpRequest, asset_path: str) -> HttpResponseBase:
    file = _file(f"_next/{asset_path}")
    if file is None:
        raise Http404
    hashed = asset_path.startswith("static/")
    return _send(file, cache=IMMUTABLE if hashed else "no-cache")


urlpatterns = [
    path("", index, name="web-app"),
    re_path(r"^index\.txt$", page, {"name": "index", "ext": ".txt"}),
    re_path(rf"^(?P<name>{'|'.join(PAGES)})/?$", page),
    re_path(rf"^(?P<name>{'|'.join(PAGES)})\.txt$", page, {"ext": ".txt"}),
    re_path(r"^trade/(?P<symbol>[^/]+?)\.txt$", trade, {"ext": ".txt"}),
    re_path(r"^trade/(?P<symbol>[^/]+)/?$", trade),
    re_path(r"^_next/(?P<asset_path>.+)$", asset),
    re_path(r"^(?P<name>favicon\.ico|icon\.svg|404\.html)$", page, {"ext": ""}),
]
