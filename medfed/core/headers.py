"""Browser security headers for every response of the server and the hospital node (ASGI).

A strict Content-Security-Policy (every script and stylesheet is a file served by MedFed
itself; no inline script, style or style attribute anywhere), no framing (clickjacking), no
MIME sniffing, no referrer, and `Cache-Control: no-store` on everything except static assets,
so pages with patient inputs or predictions never stay in a shared or browser cache. HSTS is
added when the request came over TLS.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
ALWAYS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
)
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


def security_headers(path: str, scheme: str, present: Iterable[bytes]) -> list[tuple[bytes, bytes]]:
    """The headers to add to a response for `path` (pure): what the response lacks."""
    have = {name.lower() for name in present}
    added = [(name, value) for name, value in ALWAYS if name not in have]
    static = path.startswith(("/static/", "/node-static/")) or path == "/charts.css"
    if b"cache-control" not in have and not static:
        added.append((b"cache-control", b"no-store"))
    if scheme == "https":
        added.append(HSTS)
    return added


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += security_headers(
                    scope["path"], scope.get("scheme", "http"), (name for name, _ in headers)
                )
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
