"""What keeps a web page from driving the server through a visitor's browser.

A page on another site can make a browser send a "simple" request (a form post, or a
``fetch`` in ``no-cors`` mode) to any address the browser reaches, loopback included,
without asking first: the page cannot read the answer, but a rollout change, a reload
or fake feedback labels would already be done. Three checks close that, before any
route or key check runs:

- the ``Host`` header must be a name this server answers to (``allowed_hosts``): a page
  that rebinds its own domain's DNS to 127.0.0.1 still sends its own domain as Host;
- a request that changes something (any method but GET, HEAD, OPTIONS) coming from a
  browser page of another origin is refused: ``Origin`` present and not this server's
  own ``Host``, or ``Sec-Fetch-Site`` saying the page is of another site;
- the JSON routes take ``application/json`` only (``require_json``): the content types a
  page may send without the browser asking the server first (``text/plain``, form
  encodings) are refused with 415, so even a browser without those headers is stopped.

The dashboard page calls its own origin, so it keeps working; clients that are not
browsers send no ``Origin`` and are not affected.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from tabloop.errors import CrossOrigin, MisdirectedRequest, RequestRejected, ServingError, UnsupportedMediaType
from tabloop.serving._errors import error_response, status_for

__all__ = ["ANY_HOST", "RequestGuard", "allowed_hosts", "require_json"]

#: ``serving.allowed_hosts: ["*"]`` turns the Host check off (a proxy in front checks Host itself)
ANY_HOST = "*"
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: what a page may send without the browser asking the server first (CORS-safelisted content types)
_SIMPLE_TYPES = frozenset({"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"})


def _wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return host == ""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _machine_names() -> set[str]:
    """This machine's host name, its fully qualified name and the addresses the name resolves to."""
    names: set[str] = set()
    try:
        hostname = socket.gethostname()
        names.update({hostname, socket.getfqdn()})
        for info in socket.getaddrinfo(hostname, None):
            names.add(str(info[4][0]))
    except OSError:  # a host name that does not resolve leaves the names that do
        pass
    return {n for n in names if n}


def allowed_hosts(bind_host: str, configured: Iterable[str] | None = None) -> frozenset[str] | None:
    """The names a ``Host`` header may carry for a server bound to ``bind_host``; None: any.

    ``configured`` (``serving.allowed_hosts``) adds names; ``"*"`` among them allows any.
    Always allowed: the bound address itself, and the loopback names when it is a loopback
    address. Bound to every interface (0.0.0.0 or ::), the machine's own host name, its
    fully qualified name and the addresses they resolve to (what a probe or a client
    calling the machine directly sends); a name given by a proxy or a DNS alias must be
    configured.
    """
    extra = [str(h).strip().lower() for h in (configured or ())]
    if ANY_HOST in extra:
        return None
    host = bind_host.strip().lower().strip("[]")
    names = {host, *extra}
    if is_loopback(host) or _wildcard(host):
        names.update(_LOOPBACK_NAMES)
    if _wildcard(host):
        names.update(n.lower() for n in _machine_names())
    names.discard("")
    return frozenset(_bare(n) for n in names)


def _bare(host: str) -> str:
    """A host name or address without port or IPv6 brackets, lower case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host[1:]
    if host.count(":") == 1:  # name:port (an IPv6 address without brackets has several colons)
        return host.split(":", 1)[0]
    return host


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def require_json(request: Request, *, optional: bool = False) -> None:
    """Refuse (415) a body that is not declared ``application/json``; ``optional``: no Content-Type is fine."""
    given = request.headers.get("content-type")
    kind = _media_type(given)
    if kind == "application/json" or kind.endswith("+json") or (optional and given is None):
        return
    shown = repr(kind) if kind else "none"
    raise UnsupportedMediaType(
        f"{request.url.path} reads JSON only; the request's Content-Type is {shown}",
        hint="send the header Content-Type: application/json",
    )


def refuse_simple_type(request: Request) -> None:
    """Refuse (415) the content types a web page may post without the browser asking first."""
    kind = _media_type(request.headers.get("content-type"))
    if kind in _SIMPLE_TYPES:
        raise UnsupportedMediaType(
            f"{request.url.path} does not read {kind!r} bodies",
            hint="send the header Content-Type: application/json",
        )


class RequestGuard:
    """Refuses a ``Host`` that is not this server's (421) and a cross-origin browser request that changes state (403).

    ``hosts`` None allows any Host. ``on_reject(request, status, code)`` is told of every
    refusal (counters, metrics); refusals are not written to the prediction log, as
    auth's are not: a page knocking is not traffic of any model.
    """

    def __init__(
        self, app: ASGIApp, hosts: frozenset[str] | None, on_reject: Callable[[Request, int, str], None],
    ) -> None:
        self.app = app
        self.hosts = hosts
        self.on_reject = on_reject

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            self._check(scope)
        except RequestRejected as exc:
            request = Request(scope)
            status = status_for(exc)
            self.on_reject(request, status, exc.code)
            await error_response(request, status, {"error": exc.to_dict()})(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _check(self, scope: Scope) -> None:
        host: str | None = None
        origin: str | None = None
        fetch_site: str | None = None
        for key, value in scope["headers"]:
            if key == b"host":
                host = value.decode("latin-1")
            elif key == b"origin":
                origin = value.decode("latin-1")
            elif key == b"sec-fetch-site":
                fetch_site = value.decode("latin-1").strip().lower()
        # a request without Host (HTTP/1.0) is no browser's: browsers always send it
        if self.hosts is not None and host is not None and _bare(host) not in self.hosts:
            raise MisdirectedRequest(
                f"this server does not answer to the host name {_bare(host)[:100]!r} (the request's Host header)",
                hint="call it by the address it is bound to, or add the name to serving.allowed_hosts",
            )
        if scope["method"] in _SAFE_METHODS:
            return
        if fetch_site in ("cross-site", "same-site"):
            raise CrossOrigin(
                f"{scope['path']} refuses requests sent by a web page of another site (Sec-Fetch-Site: {fetch_site})",
                hint="call the server from a program or from its own pages, not from another site's page",
            )
        if origin is not None and not _same_origin(origin, host):
            raise CrossOrigin(
                f"{scope['path']} refuses requests sent by a web page of another origin ({origin[:100]!r})",
                hint="call the server from a program or from its own pages, not from another site's page",
            )


def _same_origin(origin: str, host: str | None) -> bool:
    """Whether ``Origin`` names the server the request reached (its Host, port included; scheme left to any proxy)."""
    if host is None or origin.strip().lower() == "null":
        return False
    try:
        parts = urlsplit(origin.strip().lower())
        netloc = parts.netloc
        default = {"http": 80, "https": 443}.get(parts.scheme)
        if default is not None and parts.port == default:
            netloc = parts.hostname or ""
    except ValueError:
        return False
    given = host.strip().lower()
    return bool(netloc) and (netloc == given or netloc == _strip_default_port(given))


def _strip_default_port(host: str) -> str:
    for suffix in (":80", ":443"):
        if host.endswith(suffix):
            return host[: -len(suffix)]
    return host


def check_allowed_hosts(configured: Iterable[str]) -> list[str]:
    """``serving.allowed_hosts`` as given, each a bare host name, address or ``*``; a port or scheme is refused."""
    out: list[str] = []
    for name in configured:
        text = str(name).strip()
        if not text or "/" in text or (":" in text and not _is_ipv6(text.strip("[]"))):
            raise ServingError(
                f"serving.allowed_hosts entry {name!r} is not a host name or address",
                hint="give names only, without scheme or port: e.g. model.example.com, 10.0.0.5, or * for any",
            )
        out.append(text)
    return out


def _is_ipv6(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).version == 6
    except ValueError:
        return False
