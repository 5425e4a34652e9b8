"""The project's signing key: where it lives, who may read it, and that loading never makes one."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tabloop.errors import SignatureError
from tabloop.workspace import SIGNING_KEY_ENV, SigningKey, Workspace, find_signing_key


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.delenv(SIGNING_KEY_ENV, raising=False)
    return Workspace(tmp_path / "project")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_a_load_never_creates_a_key(ws: Workspace) -> None:
    with pytest.raises(SignatureError) as err:
        ws.signing_key()
    assert f"{ws.signing_key_path}: no signing key, and TABLOOP_SIGNING_KEY is not set" in err.value.message
    assert "set TABLOOP_SIGNING_KEY" in (err.value.hint or "") and "tabloop train" in (err.value.hint or "")
    assert not ws.signing_key_path.exists()


def test_training_creates_a_private_key_once_and_keeps_it(ws: Workspace) -> None:
    key = ws.signing_key(create=True)
    path = ws.signing_key_path
    assert path == ws.home / "keys" / "signing.key"
    assert not path.is_relative_to(ws.artifacts)
    assert path.is_file() and not path.is_symlink()
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700
    assert key.source == str(path) and len(path.read_text().strip()) == 64  # 256 random bits, hex
    assert ws.signing_key(create=True).secret == key.secret  # never overwritten
    assert ws.signing_key().secret == key.secret
    assert [p.name for p in path.parent.iterdir()] == ["signing.key"]  # no temporary file left
    assert repr(key.secret.decode()) not in repr(key)


def test_a_key_file_that_is_a_symlink_is_refused_and_not_replaced(ws: Workspace, tmp_path: Path) -> None:
    elsewhere = tmp_path / "planted.key"
    elsewhere.write_text("k" * 64)
    elsewhere.chmod(0o600)
    ws.signing_key_path.parent.mkdir(parents=True)
    ws.signing_key_path.symlink_to(elsewhere)
    for create in (False, True):
        with pytest.raises(SignatureError, match="the signing key file is a symbolic link; refusing to use it"):
            ws.signing_key(create=create)
    assert ws.signing_key_path.is_symlink() and elsewhere.read_text() == "k" * 64
    ws.signing_key_path.unlink()
    ws.signing_key_path.symlink_to(tmp_path / "dangling")  # a link to nowhere is not a missing key either
    with pytest.raises(SignatureError, match="symbolic link"):
        ws.signing_key(create=True)
    assert not (tmp_path / "dangling").exists()


def test_a_key_folder_that_is_a_symlink_is_refused(ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    ws.home.mkdir(parents=True)
    (ws.home / "keys").symlink_to(tmp_path / "other")
    with pytest.raises(SignatureError, match="the key folder is a symbolic link"):
        ws.signing_key(create=True)
    assert list((tmp_path / "other").iterdir()) == []


def test_a_key_others_can_read_is_refused(ws: Workspace) -> None:
    path = ws.signing_key_path
    ws.signing_key(create=True)
    path.chmod(0o640)
    with pytest.raises(SignatureError, match=r"the signing key is open to other users \(mode 0640\)") as err:
        ws.signing_key()
    assert f"chmod 600 {path}" in (err.value.hint or "")


def test_a_key_that_is_not_a_plain_file_is_refused(ws: Workspace) -> None:
    ws.signing_key_path.parent.mkdir(parents=True)
    os.mkfifo(ws.signing_key_path, 0o600)  # would block a plain open
    with pytest.raises(SignatureError, match="not a plain file"):
        ws.signing_key()


def test_the_environment_key_wins_and_no_file_is_made(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SIGNING_KEY_ENV, "  a team's shared key from the vault\n")
    key = ws.signing_key(create=True)
    assert key.source == SIGNING_KEY_ENV and key.secret == b"a team's shared key from the vault"
    assert not ws.signing_key_path.exists()


def test_the_key_files_text_is_the_same_key_in_the_environment(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from_file = ws.signing_key(create=True)
    monkeypatch.setenv(SIGNING_KEY_ENV, ws.signing_key_path.read_text())
    assert ws.signing_key().key_id == from_file.key_id


def test_a_short_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SIGNING_KEY_ENV, "secret")
    with pytest.raises(SignatureError, match="TABLOOP_SIGNING_KEY: the signing key has 6 characters; at least 16"):
        find_signing_key()


def test_without_a_project_the_key_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SIGNING_KEY_ENV, raising=False)
    monkeypatch.delenv("TABLOOP_PROJECT", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SignatureError, match="TABLOOP_SIGNING_KEY is not set and the current folder is not a tabloop project"):
        find_signing_key()
    (tmp_path / "tabloop.yaml").write_text("name: x\n")  # inside a project: its key file, never a new one
    with pytest.raises(SignatureError, match="no signing key"):
        find_signing_key()
    made = Workspace(tmp_path).signing_key(create=True)
    assert find_signing_key().secret == made.secret
    monkeypatch.setenv(SIGNING_KEY_ENV, "x" * 20)
    assert find_signing_key() == SigningKey(b"x" * 20, SIGNING_KEY_ENV)
