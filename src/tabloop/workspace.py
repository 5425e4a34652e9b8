"""Where a project's files live, and how they are written (atomically, never half)."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import hmac
import json
import os
import secrets
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tabloop._plain import json_default
from tabloop.errors import SignatureError, TabloopError, WorkspaceError
from tabloop.spec import SPEC_FILENAME, Spec, load_spec

__all__ = [
    "SIGNING_KEY_ENV",
    "SigningKey",
    "Workspace",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "file_sha256",
    "find_signing_key",
    "signing_key_from_env",
]

WORKSPACE_DIRNAME = ".tabloop"
SIGNING_KEY_ENV = "TABLOOP_SIGNING_KEY"
#: the shortest key accepted: anything shorter could be guessed offline from one signed manifest
MIN_KEY_CHARS = 16
_NEW_KEY_HINT = "generate one with: python -c 'import secrets; print(secrets.token_hex(32))'"


@dataclass(frozen=True)
class Workspace:
    """A project folder: ``tabloop.yaml`` plus the embedded ``.tabloop/`` workspace."""

    root: Path

    @classmethod
    def open(cls, project: str | Path | None = None) -> Workspace:
        """The project at ``project`` (default: ``TABLOOP_PROJECT`` or the current folder)."""
        root = Path(project or os.environ.get("TABLOOP_PROJECT") or ".").resolve()
        if root.is_file() and root.name == SPEC_FILENAME:
            root = root.parent
        if not (root / SPEC_FILENAME).exists():
            raise WorkspaceError(
                f"{root}: no {SPEC_FILENAME} here",
                hint="run 'tabloop init DIR --data PATH --target COL' first, or pass --project DIR",
            )
        return cls(root)

    @property
    def spec_path(self) -> Path:
        return self.root / SPEC_FILENAME

    def load_spec(self) -> Spec:
        return load_spec(self.spec_path)

    @property
    def home(self) -> Path:
        return self.root / WORKSPACE_DIRNAME

    @property
    def artifacts(self) -> Path:
        return self.home / "artifacts"

    @property
    def predlog(self) -> Path:
        return self.home / "predlog"

    @property
    def reports(self) -> Path:
        return self.home / "reports"

    @property
    def contract_path(self) -> Path:
        return self.home / "contract.json"

    @property
    def mlflow_db(self) -> Path:
        return self.home / "mlflow.db"

    @property
    def signing_key_path(self) -> Path:
        """The project's key file: in the private workspace, beside but never inside the artifact or MLflow stores."""
        return self.home / "keys" / "signing.key"

    def signing_key(self, *, create: bool = False) -> SigningKey:
        """The key that signs and verifies this project's model versions (docs/trust.md).

        ``TABLOOP_SIGNING_KEY`` when set (a team's shared key, CI), else the key file. Only
        ``create=True`` (training) makes a missing key file: a load that made one would hold a
        fresh key that verifies nothing, so loading without a key is refused instead.
        """
        from_env = signing_key_from_env()
        if from_env is not None:
            return from_env
        path = self.signing_key_path
        try:
            return _read_key_file(path)
        except FileNotFoundError:
            if not create:
                raise SignatureError(
                    f"{path}: no signing key, and {SIGNING_KEY_ENV} is not set; model versions cannot be verified",
                    hint=f"set {SIGNING_KEY_ENV} to the key that signed this project's models (the text of that file "
                    "where they were trained); if it is lost, or the models predate signing, retrain with 'tabloop train'",
                ) from None
        return _create_key_file(path)

    def ensure(self) -> Workspace:
        for path in (self.home, self.artifacts, self.predlog, self.reports):
            path.mkdir(parents=True, exist_ok=True)
        return self

    def tracking_uri(self, spec: Spec) -> str:
        """The spec's (or environment's) tracking URI, else the embedded SQLite store."""
        return self.resolve_url(spec.tracking.uri) if spec.tracking.uri else f"sqlite:///{self.mlflow_db}"

    def resolve_url(self, url: str) -> str:
        """A database URL from the spec: a relative SQLite file is relative to the project folder, not the shell's."""
        prefix = "sqlite:///"
        rest = url[len(prefix):] if url.startswith(prefix) else ""
        if not rest or rest.startswith(("/", "?", ":memory:")) or rest.startswith("file:"):
            return url
        return prefix + str(self.root / rest)

    def resolve(self, path: str | Path) -> Path:
        """A path from the spec, relative to the project folder."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.root / p)


@dataclass(frozen=True)
class SigningKey:
    """A secret that signs model manifests with HMAC-SHA256, and where it came from (for messages)."""

    secret: bytes = field(repr=False)  # never in a repr, a log line or a traceback
    source: str

    @classmethod
    def from_text(cls, text: str, *, source: str) -> SigningKey:
        # the text itself is the key (hex or any string), so TABLOOP_SIGNING_KEY="$(cat .tabloop/keys/signing.key)"
        # is the very key the file holds
        key = text.strip()
        if len(key) < MIN_KEY_CHARS:
            raise SignatureError(
                f"{source}: the signing key has {len(key)} characters; at least {MIN_KEY_CHARS} are needed",
                hint=_NEW_KEY_HINT,
            )
        return cls(key.encode("utf-8"), source)

    @property
    def key_id(self) -> str:
        """Names the key in signatures and messages without revealing it.

        A hash of a random 256-bit key gives nothing away; for a weak key the signature itself
        already allows the same offline guessing, so the id adds no exposure.
        """
        return hashlib.sha256(b"tabloop signing key id\0" + self.secret).hexdigest()[:16]

    def sign(self, data: bytes) -> str:
        return hmac.new(self.secret, data, hashlib.sha256).hexdigest()

    def verifies(self, data: bytes, mac: str) -> bool:
        # constant time, and bytes so that a non-ASCII signature from an attacker is a mismatch, not a TypeError
        return hmac.compare_digest(self.sign(data).encode(), mac.encode("utf-8", "replace"))


def signing_key_from_env() -> SigningKey | None:
    text = os.environ.get(SIGNING_KEY_ENV)
    if text is None or not text.strip():
        return None
    return SigningKey.from_text(text, source=SIGNING_KEY_ENV)


def find_signing_key() -> SigningKey:
    """The key for a load that has no project at hand (MLflow's pyfunc loader).

    ``TABLOOP_SIGNING_KEY``, else the key file of the project at ``TABLOOP_PROJECT`` or the
    current folder; never a new key.
    """
    from_env = signing_key_from_env()
    if from_env is not None:
        return from_env
    try:
        workspace = Workspace.open()
    except WorkspaceError:
        raise SignatureError(
            f"no signing key: {SIGNING_KEY_ENV} is not set and the current folder is not a tabloop project",
            hint=f"set {SIGNING_KEY_ENV} to the key of the project that trained the model "
            "(the text of its .tabloop/keys/signing.key)",
        ) from None
    return workspace.signing_key()


def _check_key_dir(directory: Path) -> None:
    # a linked folder could lead the key lookup to a file the attacker chose
    if directory.is_symlink():
        raise SignatureError(f"{directory}: the key folder is a symbolic link; refusing to use it",
                             hint="make it a plain folder (mode 0700) holding the key file")


def _read_key_file(path: Path) -> SigningKey:
    """The key in ``path``, refused unless it is a plain file of this user that nobody else can read or write.

    Raises FileNotFoundError when there is none (the caller decides whether to create it).
    """
    _check_key_dir(path.parent)
    try:
        # O_NOFOLLOW: a symlink planted in place of the key is refused, not followed;
        # O_NONBLOCK: a FIFO planted there cannot hang the open (it is refused below as not a plain file)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SignatureError(f"{path}: the signing key file is a symbolic link; refusing to use it",
                                 hint="put the key itself there, mode 0600, or set " + SIGNING_KEY_ENV) from None
        raise SignatureError(f"{path}: cannot read the signing key ({exc.strerror})") from exc
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise SignatureError(f"{path}: the signing key is not a plain file; refusing to use it")
        # like ssh with a private key: a key others could read or replace is not this user's secret
        if hasattr(os, "getuid") and st.st_uid != os.getuid():
            raise SignatureError(f"{path}: the signing key belongs to user id {st.st_uid}, not to you; refusing to use it",
                                 hint=f"set {SIGNING_KEY_ENV} to the project's key instead")
        if st.st_mode & 0o077:
            raise SignatureError(f"{path}: the signing key is open to other users (mode {stat.S_IMODE(st.st_mode):04o})",
                                 hint=f"run 'chmod 600 {path}' (and if others may have read it, rotate it: docs/trust.md)")
        raw = fh.read(64 * 1024)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SignatureError(f"{path}: the signing key is not text", hint=_NEW_KEY_HINT) from None
    return SigningKey.from_text(text, source=str(path))


def _create_key_file(path: Path) -> SigningKey:
    """A new random key in ``path``; if another process made one first, that one."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    _check_key_dir(path.parent)
    # written whole to a private temporary file (mkstemp: O_EXCL, mode 0600), then linked into place:
    # link() never replaces an existing key nor follows a symlink there, and no reader sees a half-written key
    fd, tmp = tempfile.mkstemp(prefix=".signing.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write((secrets.token_hex(32) + "\n").encode())
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # a concurrent first training made it: use that key (read back and checked below)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return _read_key_file(path)


@contextlib.contextmanager
def file_lock(path: str | Path, *, timeout_s: float | None = None, busy: str = "",
              error: type[TabloopError] = WorkspaceError) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created, never followed through a link) across processes.

    With ``timeout_s`` the wait is bounded: past it ``error`` says ``busy`` (what held it). The lock
    goes with the process: a killed holder never leaves it taken.
    """
    import fcntl
    import time

    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (fcntl.LOCK_NB if deadline is not None else 0))
                break
            except BlockingIOError:
                if deadline is not None and time.monotonic() > deadline:
                    raise error(f"{path}: {busy or 'another process'} has held this lock for {timeout_s:.0f} s",
                                hint="check for a stuck tabloop process, then try again") from None
                time.sleep(0.01)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write to a temporary file beside ``path``, fsync, then rename over it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, payload: Any) -> Path:
    return atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=False, default=json_default) + "\n")


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
