"""Security headers on every response, and a Content-Security-Policy on every HTML page.

Every response says ``X-Content-Type-Options: nosniff`` (a GeoJSON or CSV answer is never
run as a script or page), may not be framed (``X-Frame-Options: DENY``) and sends no
referrer. HTML pages get a policy that allows scripts from this server only: the web map and
the dashboard have no inline script (their configuration is a JSON data block, which is not
executed). Pages that must be one self-contained file — the wall map's HTML twin and the
route map, made to be saved to a USB stick — keep their scripts inline; exactly those scripts
are allowed by their SHA-256 (CSP Level 2 hashes), computed from the page as sent.

>>> "'sha256-" in page_policy(b"<script>alert(1)</script>", "/x")
True
>>> "'sha256-" in page_policy(b'<script type="application/json">{}</script>', "/x")
False
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # browsers without CSP frame-ancestors
    "Referrer-Policy": "no-referrer",
}
# FastAPI's /docs and /redoc load Swagger UI and ReDoc from this CDN (only those pages)
DOCS_PATHS = ("/docs", "/redoc")
DOCS_SOURCES = ("https://cdn.jsdelivr.net", "https://fastapi.tiangolo.com")
_SCRIPT = re.compile(rb"<script\b([^>]*)>(.*?)</script\s*>", re.IGNORECASE | re.DOTALL)
_SRC = re.compile(rb"\bsrc\s*=", re.IGNORECASE)
_TYPE = re.compile(rb"""\btype\s*=\s*["']?([^"'\s>]+)""", re.IGNORECASE)
_JS_TYPES = {b"", b"text/javascript", b"application/javascript", b"module"}


def inline_script_hashes(page: bytes) -> list[str]:
    """CSP sources (``'sha256-…'``) of the page's inline scripts; data blocks are skipped."""
    hashes = []
    for attributes, body in _SCRIPT.findall(page):
        if _SRC.search(attributes):
            continue
        kind = _TYPE.search(attributes)
        if kind and kind.group(1).lower() not in _JS_TYPES:
            continue  # application/json and the like: data, never executed
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        hashes.append(f"'sha256-{digest}'")
    return sorted(set(hashes))


def page_policy(page: bytes, path: str, image_origins: Iterable[str] = ()) -> str:
    """The Content-Security-Policy of one HTML page."""
    scripts = ["'self'", *inline_script_hashes(page)]
    styles = ["'self'", "'unsafe-inline'"]  # Leaflet and folium style elements inline
    images = ["'self'", "data:", "blob:", *image_origins]
    if path.startswith(DOCS_PATHS):
        scripts += DOCS_SOURCES
        styles += DOCS_SOURCES
        images += DOCS_SOURCES
    directives = {
        "default-src": ["'self'"],
        "script-src": scripts,
        "style-src": styles,
        "img-src": images,
        "connect-src": ["'self'"],
        "font-src": ["'self'", "data:"],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


def origins_of(urls: Iterable[str]) -> list[str]:
    """``https://tile.example.org`` of each tile URL template (for img-src).

    >>> origins_of(["https://a.tile.example/{z}/{x}/{y}.png"])
    ['https://a.tile.example']
    """
    found = []
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.netloc:
            found.append(f"{parts.scheme}://{parts.netloc}")
    return sorted(set(found))


class SecurityHeaders:
    """ASGI middleware adding :data:`ALWAYS` to every response and a CSP to HTML pages.

    HTML bodies are buffered to hash their inline scripts (pages are small and never
    streamed); everything else passes through untouched.
    """

    def __init__(self, app: ASGIApp, image_origins: Iterable[str] = ()) -> None:
        self.app = app
        self.image_origins = tuple(image_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: list[Message] = []  # the start of an HTML response, until its body is complete
        chunks: list[bytes] = []

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in ALWAYS.items():
                    headers.setdefault(name, value)
                if headers.get("content-type", "").startswith("text/html"):
                    held.append(message)
                    return
            elif message["type"] == "http.response.body" and held:
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                page = b"".join(chunks)
                start = held.pop()
                MutableHeaders(scope=start)["Content-Security-Policy"] = page_policy(
                    page, scope.get("path", ""), self.image_origins
                )
                await send(start)
                message = {"type": "http.response.body", "body": page, "more_body": False}
            await send(message)

        await self.app(scope, receive, send_with_headers)
