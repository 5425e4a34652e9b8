"""Alerts (layer 12): drift, performance, errors and rollbacks told to a webhook or a command, once.

``_send`` delivers an ``Alert`` where the spec's ``alerts`` section says (an HTTP POST of
JSON, a command reading JSON on stdin) and de-duplicates: the same alert (kind and subject)
is sent again only after ``alerts.repeat_minutes``, across processes, by a state file under
``.tabloop/alerts``. Delivery never fails the command that raised the alert; its outcome
is reported.
"""

from typing import TYPE_CHECKING

from tabloop._lazy import exports

if TYPE_CHECKING:
    from tabloop.alerts._send import Alert, AlertOutcome, send_alert

__getattr__, __dir__ = exports(__name__, __file__)

__all__ = ["Alert", "AlertOutcome", "send_alert"]
