"""GraphiQL from the package itself: the page a browser gets at ``GET /graphql`` and the pinned files it loads
from ``/graphql/assets/`` (React, GraphiQL, the graphql-ws client: ``static/graphiql/VENDORED.md``). Nothing
comes from a CDN, so it works offline and behind a firewall, under a Content-Security-Policy that allows this
origin only."""

from __future__ import annotations

from pathlib import Path

from starlette.responses import HTMLResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent / "static"
ASSETS_PATH = "/graphql/assets"

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",  # scripts, styles, fetch and the websocket: this origin only
    "img-src 'self' data:",  # GraphiQL's stylesheet holds its icons ...
    "font-src 'self' data:",  # ... and its fonts inline
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
])

_PAGE = (STATIC / "graphiql.html").read_bytes()


def page() -> HTMLResponse:
    """The GraphiQL page (it loads only ``/graphql/assets/...``; the token goes in its Headers editor)."""
    return HTMLResponse(_PAGE, headers={
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    })


def assets() -> Mount:
    """The page's scripts and stylesheets."""
    return Mount(ASSETS_PATH, app=StaticFiles(directory=STATIC / "graphiql"), name="graphiql-assets")
