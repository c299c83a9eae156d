"""What keeps a browser from being turned against `rag serve`: a Host check (DNS rebinding), a
refusal of cross-site state-changing requests (CSRF), a custom header required on uploads, and
security headers (CSP, framing, sniffing, referrer) on every response. One ASGI middleware, so
refusals happen before a body is read. Authentication (RAG_API_KEY) is not here: see state.py.
"""

from __future__ import annotations

import ipaddress
import json
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
UPLOAD_PATH = "/api/documents"
# An HTML form cannot set a custom header, and a cross-site script that sets one needs a CORS
# preflight the server does not grant: requiring it on uploads stops a form post from another site.
UPLOAD_HEADER = "X-Requested-With"

# The page, its script and Swagger UI (/docs, started by static/docs.js) are files: no inline
# script, no inline style element. `img-src data:` is for the page's empty favicon and Swagger UI's
# SVG icons; style attributes set from JS (CSSOM, as both do) are not covered by style-src.
# `worker-src 'self'`: the PDF view's pdf.js worker (static/vendor/pdfjs/, a module worker from
# this server); pdf.js 6 needs no eval, its fonts go through the FontFace API (no font URL) and it
# is given no URL for its WebAssembly decoders, so nothing else is let in for it.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "worker-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
_HEADERS = [(b"x-frame-options", b"DENY"), (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer")]


def is_loopback_name(host: str) -> bool:
    """localhost (and *.localhost, which browsers resolve to loopback) or a loopback address."""
    host = host.rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def split_host(value: str) -> str:
    """The host part of a Host header or URL netloc: `[::1]:8000` -> `::1`, `a.b:80` -> `a.b`."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class BrowserGuard:
    """ASGI middleware; see the module docstring.

    Args:
        allowed_hosts: RAG_ALLOWED_HOSTS; '*' turns the Host check off.
        cors_origins: RAG_CORS_ORIGINS; requests from these origins are not cross-site refusals.
    """

    def __init__(self, app: ASGIApp, allowed_hosts: list[str], cors_origins: list[str]):
        self.app = app
        self.any_host = "*" in allowed_hosts
        self.allowed_hosts = {h.strip().rstrip(".").lower() for h in allowed_hosts}
        self.cors_origins = {o.strip().rstrip("/").lower() for o in cors_origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        refusal = self._refusal(scope, headers)
        if refusal:
            await _refuse(send, *refusal)
            return

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(b"content-security-policy", CSP.encode())] + _HEADERS
                message = {**message, "headers": [*message.get("headers", []),
                                                  *((k, v) for k, v in extra if k not in present)]}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _refusal(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str] | None:
        host_header = headers.get("host", "")
        host = split_host(host_header)
        if not self._host_allowed(scope, host):
            return 421, (f"this server does not answer to the host name '{host[:100]}' (a page on another site may "
                         "be trying to reach it by DNS rebinding); if that is its real name, add it to "
                         "RAG_ALLOWED_HOSTS")
        if scope["method"] not in STATE_CHANGING:
            return None
        origin = headers.get("origin")
        allowed_origin = origin is not None and origin.rstrip("/").lower() in self.cors_origins
        if origin is not None and not allowed_origin:
            netloc = urlsplit(origin).netloc.lower() if origin != "null" else ""
            if not netloc or netloc != host_header.strip().lower():
                return 403, (f"cross-site request refused (Origin {origin[:100]}): this API only accepts changes "
                             "from its own page; to call it from another site, add that site's origin to "
                             "RAG_CORS_ORIGINS")
        if headers.get("sec-fetch-site") == "cross-site" and not allowed_origin:
            return 403, ("cross-site request refused (Sec-Fetch-Site: cross-site): this API only accepts changes "
                         "from its own page; to call it from another site, add that site's origin to "
                         "RAG_CORS_ORIGINS")
        if scope["method"] == "POST" and scope["path"] == UPLOAD_PATH and UPLOAD_HEADER.lower() not in headers:
            return 403, (f"uploads need the header '{UPLOAD_HEADER}: rag' (the page sends it; add it to scripts "
                         "and curl commands): it proves the request is not a form posted from another site")
        return None

    def _host_allowed(self, scope: Scope, host: str) -> bool:
        if self.any_host or not host:  # HTTP/1.0 without Host: not a browser
            return True
        if is_loopback_name(host) or host.rstrip(".") in self.allowed_hosts:
            return True
        server = scope.get("server")  # the address this connection arrived on (e.g. the LAN IP)
        return bool(server) and host == str(server[0]).lower().strip("[]")


def _headers(scope: Scope) -> dict[str, str]:
    # latin-1 is how Starlette decodes headers too: lossless, never fails
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"content-security-policy", CSP.encode()), *_HEADERS]})
    await send({"type": "http.response.body", "body": body})
