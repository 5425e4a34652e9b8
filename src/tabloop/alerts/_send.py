"""Send one alert to the spec's webhook and command, unless the same alert went out recently."""

from __future__ import annotations

import datetime as dt
import json
import logging
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tabloop._plain import json_default
from tabloop.spec import AlertSpec
from tabloop.workspace import atomic_write_json, file_lock

__all__ = ["Alert", "AlertOutcome", "send_alert"]

log = logging.getLogger(__name__)

STATE_FILE = "sent.json"
#: seconds a webhook or a command may take before the alert counts as not delivered
WEBHOOK_TIMEOUT_S = 5.0
COMMAND_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Alert:
    """What happened: ``kind`` (drift, performance, errors, rollback), a one-line ``title``, and ``subject``,
    which with ``kind`` makes the de-duplication key (the drifted columns, the version rolled back to)."""

    kind: str
    title: str
    project: str
    subject: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.project}\x1f{self.kind}\x1f{self.subject}"

    def payload(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["source"] = "tabloop"
        doc["at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        return doc


@dataclass
class AlertOutcome:
    """Whether the alert went out: ``sent`` (to at least one target), ``deduplicated`` (the same alert went out
    ``last_sent_s`` seconds ago), ``off`` (no target, or the spec does not alert on this kind), and each
    target's error if it failed."""

    kind: str
    status: str
    errors: list[str] = field(default_factory=list)
    last_sent_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def send_alert(alert: Alert, spec: AlertSpec, state_dir: Path) -> AlertOutcome:
    """Deliver ``alert`` per ``spec`` unless the same alert was delivered within ``spec.repeat_minutes``."""
    if not (spec.webhook or spec.command) or alert.kind not in spec.on:
        return AlertOutcome(alert.kind, "off")
    state_dir.mkdir(parents=True, exist_ok=True)
    # one sender at a time per project: two monitors finding the same drift send one alert
    with file_lock(state_dir / (STATE_FILE + ".lock")):
        sent = _read_state(state_dir / STATE_FILE)
        now = time.time()
        last = sent.get(alert.key)
        if last is not None and now - last < spec.repeat_minutes * 60:
            return AlertOutcome(alert.kind, "deduplicated", last_sent_s=round(now - last, 1))
        body = json.dumps(alert.payload(), default=json_default).encode()
        errors = []
        delivered = 0
        if spec.webhook:
            error = _post(spec.webhook, body)
            delivered += error is None
            errors += [] if error is None else [error]
        if spec.command:
            error = _run(spec.command, body)
            delivered += error is None
            errors += [] if error is None else [error]
        if delivered:
            sent[alert.key] = now
            _write_state(state_dir / STATE_FILE, sent, keep_s=max(spec.repeat_minutes * 60, 1.0) * 10, now=now)
    for error in errors:
        log.warning("alert %r not delivered: %s", alert.title, error)
    return AlertOutcome(alert.kind, "sent" if delivered else "failed", errors)


def _post(url: str, body: bytes) -> str | None:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "tabloop-alerts"})
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S) as response:
            response.read(65536)
    except urllib.error.HTTPError as exc:
        return f"webhook answered {exc.code} {exc.reason}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"webhook {_shown(url)}: {getattr(exc, 'reason', exc)}"
    return None


def _run(command: list[str], body: bytes) -> str | None:
    try:
        done = subprocess.run(command, input=body, capture_output=True, timeout=COMMAND_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"command {command[0]!r}: {exc}"
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        return f"command {command[0]!r} exited {done.returncode}: {tail[0][:200]}"
    return None


def _shown(url: str) -> str:
    """The URL without its query string and credentials: a webhook URL often carries a secret token."""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    return f"{scheme}://{host}/…" if rest.count("/") else f"{scheme}://{host}"


def _read_state(path: Path) -> dict[str, float]:
    try:
        raw = json.loads(path.read_text())
        return {str(k): float(v) for k, v in raw.items()}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, TypeError, AttributeError):
        log.warning("%s is unreadable; alerts sent before are forgotten", path)
        return {}


def _write_state(path: Path, sent: dict[str, float], *, keep_s: float, now: float) -> None:
    atomic_write_json(path, {k: v for k, v in sent.items() if now - v < keep_s})
