"""Artifact paths, folder archives and the numbering of uploads, without a server."""

from __future__ import annotations

import io
import tarfile
import threading
from pathlib import Path

import pytest

from submarine._archive import ArchiveError, extract_tar, path_problem, tar_pieces
from submarine.server.artifacts.files import ArtifactFiles, UploadError

ID = "experiment-1700000000000-0001"


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("../x", "'..' part"),
        ("1/../../x", "'..' part"),
        ("/etc/passwd", "starts with '/'"),
        ("a//b", "an empty part"),
        ("./a", "'.' part"),
        ("a\\b", "backslash"),
        ("a\nb", "control character"),
        ("x" * 256, "at most 255"),
        ("a/" * 600, "at most 1024"),
    ],
)
def test_paths_that_could_leave_the_artifacts_are_refused(path: str, problem: str) -> None:
    found = path_problem(path)
    assert found is not None
    assert problem in found


@pytest.mark.parametrize("path", ["", "1/", "1/model.pt", "1/variables/v.index", "é/ü.bin"])
def test_plain_paths_pass(path: str) -> None:
    assert path_problem(path) is None


def _tree(root: Path) -> dict[str, bytes | None]:
    return {
        p.relative_to(root).as_posix(): (p.read_bytes() if p.is_file() else None)
        for p in sorted(root.rglob("*"))
    }


def test_a_folder_goes_through_an_archive_whole(tmp_path: Path) -> None:
    source = tmp_path / "model"
    (source / "variables").mkdir(parents=True)
    (source / "assets").mkdir()
    (source / "saved_model.pb").write_bytes(b"\x00pb" * 1000)
    (source / "variables" / "variables.data-00000-of-00001").write_bytes(b"w" * 513)
    (source / "ünïcode name.txt").write_text("x")
    (source / "link").symlink_to(source / "saved_model.pb")  # left out
    archive = b"".join(tar_pieces(source))
    assert len(archive) % 512 == 0
    written = extract_tar(io.BytesIO(archive), tmp_path / "copy")
    expected = _tree(source)
    del expected["link"]
    assert _tree(tmp_path / "copy") == expected
    assert len(written) == 3


def _archive(*members: tuple[tarfile.TarInfo, bytes]) -> io.BytesIO:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as archive:
        for info, content in members:
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    data.seek(0)
    return data


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (_member("../evil"), "'..' part"),
        (_member("/abs"), "starts with '/'"),
        (_member("link", tarfile.SYMTYPE, "/etc/passwd"), "not a file or a directory"),
        (_member("hard", tarfile.LNKTYPE, "x"), "not a file or a directory"),
        (_member("fifo", tarfile.FIFOTYPE), "not a file or a directory"),
    ],
)
def test_an_archive_that_would_write_outside_or_make_links_is_refused(
    tmp_path: Path, member: tarfile.TarInfo, message: str
) -> None:
    with pytest.raises(ArchiveError, match=message):
        extract_tar(_archive((member, b"x")), tmp_path / "out")
    assert not (tmp_path / "evil").exists()
    assert list((tmp_path / "out").iterdir()) == []


def test_unpacking_never_writes_through_a_link_in_the_destination(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    destination = tmp_path / "out"
    destination.mkdir()
    (destination / "sub").symlink_to(outside)
    with pytest.raises(ArchiveError, match="symbolic link"):
        extract_tar(_archive((_member("sub/file"), b"x")), destination)
    assert list(outside.iterdir()) == []


def _stage(files: ArtifactFiles, upload: str, content: bytes) -> None:
    target = files.staged(ID, upload, "model.pt")
    target.write_bytes(content)


def test_uploads_committed_at_once_get_distinct_numbers(tmp_path: Path) -> None:
    files = ArtifactFiles(tmp_path)
    uploads = [f"{n:032x}" for n in range(1, 13)]
    for upload in uploads:
        _stage(files, upload, upload.encode())
    results: dict[str, str] = {}
    start = threading.Barrier(len(uploads))

    def commit(upload: str) -> None:
        start.wait()
        results[upload] = files.commit(ID, upload, "net")["path"]

    threads = [threading.Thread(target=commit, args=(u,)) for u in uploads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results.values(), key=lambda p: int(p[:-1])) == [f"{n}/" for n in range(1, 13)]
    for upload, path in results.items():
        assert (files.root(ID) / path / "model.pt").read_bytes() == upload.encode()
    models = files.models(ID)
    assert sorted(m["registeredModelVersion"] for m in models) == list(range(1, 13))
    assert files.entries(ID) == [f"{n}/" for n in range(1, 13)]  # in number order


def test_versions_count_on_across_experiments_and_restarts(tmp_path: Path) -> None:
    _stage(ArtifactFiles(tmp_path), "a" * 32, b"1")
    assert ArtifactFiles(tmp_path).commit(ID, "a" * 32, "net")["registeredModelVersion"] == 1
    other = ID.replace("0001", "0002")
    files = ArtifactFiles(tmp_path)  # as after a restart
    files.staged(other, "b" * 32, "m").write_bytes(b"2")
    assert files.commit(other, "b" * 32, "net")["registeredModelVersion"] == 2
    assert files.commit(other, "b" * 32, "net")["path"] == "1/"  # committed: same answer


def test_an_upload_cannot_turn_a_file_into_a_folder(tmp_path: Path) -> None:
    files = ArtifactFiles(tmp_path)
    _stage(files, "c" * 32, b"x")
    with pytest.raises(UploadError, match="goes through a file") as caught:
        files.staged(ID, "c" * 32, "model.pt/inner")
    assert caught.value.code == 409
    with pytest.raises(UploadError, match="give 32 hex digits"):
        files.staged(ID, "../../x", "m")
