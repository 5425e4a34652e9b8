"""The bundle's signature: an HMAC of ``manifest.json``'s bytes with the project key (docs/trust.md).

The manifest holds every file's hash, so one signature over its bytes binds the whole bundle.
"""

from __future__ import annotations

import json
from pathlib import Path

from tabloop.errors import SignatureError
from tabloop.workspace import SIGNING_KEY_ENV, SigningKey, atomic_write_json

MANIFEST_FILE = "manifest.json"
SIGNATURE_FILE = "manifest.sig"  # HMAC-SHA256 of manifest.json's bytes with the project key (docs/trust.md)
SIGNATURE_ALGORITHM = "hmac-sha256"


def write_signature(directory: Path, manifest_bytes: bytes, key: SigningKey) -> Path:
    """Sign ``manifest_bytes`` (as written to ``directory``) with ``key`` into ``directory/manifest.sig``."""
    signature = {"algorithm": SIGNATURE_ALGORITHM, "key_id": key.key_id, "hmac": key.sign(manifest_bytes)}
    return atomic_write_json(directory / SIGNATURE_FILE, signature)


def verify_signature(directory: Path, manifest_bytes: bytes, key: SigningKey, what: str) -> None:
    """Refuse ``what`` unless ``manifest_bytes`` carry a valid signature by ``key``."""
    retrain = "retrain with 'tabloop train' (see docs/trust.md)"
    try:
        signature = json.loads((directory / SIGNATURE_FILE).read_bytes())
    except FileNotFoundError:
        raise SignatureError(
            f"{what}: the model is unsigned ({SIGNATURE_FILE} is missing); refusing to load it",
            hint=f"it was registered before tabloop signed model versions, or its signature was removed; {retrain}",
        ) from None
    except (OSError, ValueError) as exc:
        raise SignatureError(f"{what}: {SIGNATURE_FILE} is unreadable ({exc}); refusing to load it", hint=retrain) from exc
    if not isinstance(signature, dict) or signature.get("algorithm") != SIGNATURE_ALGORITHM \
            or not all(isinstance(signature.get(k), str) for k in ("hmac", "key_id")):
        raise SignatureError(f"{what}: {SIGNATURE_FILE} is not a {SIGNATURE_ALGORITHM} signature; refusing to load it",
                             hint=retrain)
    if key.verifies(manifest_bytes, signature["hmac"]):
        return
    # the key id in the file is the attacker's to write, so it only chooses the message, never the verdict
    if signature.get("key_id") != key.key_id:
        raise SignatureError(
            f"{what}: signed with a different key (key id {signature.get('key_id')!r}; the key from {key.source} "
            f"has id {key.key_id!r}); refusing to load it",
            hint=f"set {SIGNING_KEY_ENV} to the key of the project that trained it, or {retrain}",
        )
    raise SignatureError(
        f"{what}: {MANIFEST_FILE} does not match its signature, so the model was changed after it was signed; "
        "refusing to load it",
        hint=f"the artifact store or registry may have been tampered with; {retrain}",
    )
