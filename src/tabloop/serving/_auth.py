"""API keys: stored as sha256 hashes, compared in constant time, by header.

A key is sent as ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``. Each key
holds scopes: ``predict`` (the predicting, metadata and feedback routes) and
``control`` (rollout control, metrics and the dashboard's data). Once any key is
configured every route but the health probes and the dashboard page needs one: the
page is static and holds no data (a browser cannot send a header on a plain
navigation, so the page asks for the key and sends it with its own data requests).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from tabloop.errors import Forbidden, ServingError, Unauthenticated

SCOPES = ("predict", "control")
PREDICT = "predict"
CONTROL = "control"

# probes a load balancer or kubelet calls without credentials, and the dashboard page (static, no data)
OPEN_PATHS = frozenset({"/ping", "/health", "/v2/health/live", "/v2/health/ready", "/dashboard"})
CONTROL_PREFIXES = ("/control/", "/metrics", "/dashboard/")


def hash_key(secret: str) -> str:
    """The sha256 hex digest under which a key is stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


def scope_for(path: str) -> str | None:
    """The scope a path needs; None for the open probes."""
    if path in OPEN_PATHS:
        return None
    if path == "/metrics" or path.startswith(CONTROL_PREFIXES):
        return CONTROL
    return PREDICT


@dataclass(frozen=True)
class ApiKeys:
    """Configured keys: sha256 hex digest -> scopes."""

    hashes: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, entries: Iterable[tuple[str, Iterable[str]]]) -> ApiKeys:
        """From (sha256 hex, scopes) pairs; refuses anything that is not a sha256 digest or a known scope."""
        out: dict[str, frozenset[str]] = {}
        for digest, scopes in entries:
            digest = digest.strip().lower()
            if len(digest) != 64 or any(ch not in "0123456789abcdef" for ch in digest):
                raise ServingError(
                    "an API key must be configured as the sha256 hex digest of the secret (64 hex characters)",
                    hint="python -c \"import hashlib,sys; print(hashlib.sha256(sys.argv[1].encode()).hexdigest())\" SECRET",
                )
            wanted = frozenset(scopes)
            unknown = sorted(wanted - set(SCOPES))
            if unknown or not wanted:
                raise ServingError(f"API key scopes must be a non-empty subset of {list(SCOPES)}, got {sorted(wanted)}")
            out[digest] = out.get(digest, frozenset()) | wanted
        return cls(out)

    @classmethod
    def from_secrets(cls, entries: Iterable[tuple[str, Iterable[str]]]) -> ApiKeys:
        """From (plain secret, scopes) pairs; only the hashes are kept."""
        return cls.of((hash_key(secret), scopes) for secret, scopes in entries if secret)

    def __bool__(self) -> bool:
        return bool(self.hashes)

    def check(self, authorization: str | None, api_key: str | None, scope: str) -> None:
        """Raise 401 without a matching key, 403 when the key lacks ``scope``."""
        secret = api_key
        if secret is None and authorization is not None:
            kind, _, value = authorization.partition(" ")
            if kind.lower() == "bearer" and value.strip():
                secret = value.strip()
        if not secret:
            raise Unauthenticated(
                "this server needs an API key",
                hint="send it as 'Authorization: Bearer KEY' or 'X-API-Key: KEY'",
            )
        digest = hash_key(secret)
        granted: frozenset[str] | None = None
        # compare against every key, so the time taken says nothing about which one nearly matched
        for stored, scopes in self.hashes.items():
            if hmac.compare_digest(stored, digest):
                granted = scopes
        if granted is None:
            raise Unauthenticated("the API key is not valid", hint="check the key, or ask for a new one")
        if scope not in granted:
            raise Forbidden(f"this API key may not use this route (needs scope {scope!r}, has {sorted(granted)})")
