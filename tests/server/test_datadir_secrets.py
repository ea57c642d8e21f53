"""The data dir keeps the server's secrets (0600, the same after a restart) and is refused
when it belongs to another user."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from submarine.server.errors import ServerStartError
from submarine.server.store.datadir import (
    DataDirOwnerError,
    claim,
    keep_secret,
)
from tests.as_nobody import NOBODY, needs_nobody

made = iter(f"secret-number-{n:04d}" for n in range(10_000))


def _keep(data_dir: Path) -> str:
    return keep_secret(data_dir, "key", lambda: next(made), lambda kept: kept.startswith("secret-"))


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_secret_is_made_once_private_and_kept(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = _keep(data_dir)
    assert _keep(data_dir) == first
    assert (data_dir / "key").read_text() == f"{first}\n"
    assert (_mode(data_dir), _mode(data_dir / "key")) == (0o700, 0o600)
    assert sorted(p.name for p in data_dir.iterdir()) == ["key"]  # no draft left behind


def test_a_secret_that_is_not_valid_is_made_anew(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("\n")
    (tmp_path / "key").chmod(0o600)
    made_now = _keep(tmp_path)
    assert made_now.startswith("secret-")
    assert _keep(tmp_path) == made_now


def test_a_secret_others_could_read_is_made_anew(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "key").write_text("secret-that-leaked\n")
    (tmp_path / "key").chmod(0o644)
    with caplog.at_level("WARNING"):
        replaced = _keep(tmp_path)
    assert replaced != "secret-that-leaked"
    assert _mode(tmp_path / "key") == 0o600
    assert "could be read by other users (mode 644)" in caplog.text
    assert "secret-that-leaked" not in caplog.text


def test_a_link_in_place_of_the_secret_is_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").write_text("secret-of-someone\n")
    (tmp_path / "key").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ServerStartError, match="remove it to get a new one"):
        _keep(tmp_path)


def test_servers_starting_at_once_agree_on_one_secret(tmp_path: Path) -> None:
    found: list[str] = []
    barrier = threading.Barrier(8)

    def start() -> None:
        barrier.wait()
        found.append(_keep(tmp_path / "data"))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 8
    assert len(set(found)) == 1


@needs_nobody
def test_a_data_dir_of_another_user_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "theirs"
    data_dir.mkdir()
    os.chown(data_dir, NOBODY, NOBODY)
    with pytest.raises(DataDirOwnerError) as refused, claim(data_dir):
        pass
    message = str(refused.value)
    assert f"data dir {data_dir} belongs to nobody (uid {NOBODY})" in message
    assert "--data-dir" in message
    assert f"chown -R {os.geteuid()} {data_dir}" in message
    with pytest.raises(DataDirOwnerError):
        _keep(data_dir)
    assert list(data_dir.iterdir()) == []  # nothing was written into it


@needs_nobody
def test_a_secret_file_of_another_user_is_refused(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("secret-planted-by-nobody\n")
    (tmp_path / "key").chmod(0o600)
    os.chown(tmp_path / "key", NOBODY, NOBODY)
    with pytest.raises(ServerStartError, match="is not a file of root"):
        _keep(tmp_path)
