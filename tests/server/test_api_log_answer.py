"""Log answers written piece by piece (whole logs and log-stream pages) are byte for byte the
answer encoded at once."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from submarine.server.api import logs as loganswer
from submarine.server.api.rest import dumps, envelope_body
from submarine.server.api.wire import log_payload
from submarine.server.run.podlogs import (
    ChunkPlan,
    encode_cursor,
    plan_chunk,
    read_chunk,
    read_lines,
)

ID = "experiment-1700000000000-0001"

PIECES = [b"\n", b"\r\n", b"a", b"step 1 loss=0.5", b"\xff", b"\xc3", b"\xa9", b'"\\']
PIECES += [b"\x00\x1b", "é€😀".encode()]
contents = st.lists(st.sampled_from(PIECES), max_size=40).map(b"".join)


def _whole(pods: list[tuple[str, Path]]) -> bytes:
    payload = log_payload(ID, [(name, read_lines(path)) for name, path in pods])
    return dumps(envelope_body(result=payload)).encode("utf-8")


def _streamed(pods: list[tuple[str, Path]]) -> bytes:
    return b"".join(loganswer.log_pieces(loganswer.pod_log_pieces(ID, pods)))


@settings(max_examples=300, deadline=None)
@given(files=st.lists(contents | st.none(), max_size=3), block=st.sampled_from([1, 2, 3, 7, 64]))
def test_the_streamed_answer_is_the_whole_answer(files: list[bytes | None], block: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
        patch.setattr(loganswer, "BLOCK", block)
        patch.setattr(loganswer, "PIECE", block * 3)
        pods = []
        for index, data in enumerate(files):
            path = Path(tmp) / f"pod-{index}.log"
            if data is not None:  # None: a pod that never started (no file)
                path.write_bytes(data)
            pods.append((f"{ID}-worker-{index}", path))
        assert _streamed(pods) == _whole(pods)


def test_a_list_of_experiments_logs_is_the_whole_list(tmp_path: Path) -> None:
    files = {}
    for number, lines in zip(range(3), [b"one\ntwo\n", b"", b"x" * 100_000], strict=True):
        path = tmp_path / f"{number}.log"
        path.write_bytes(lines)
        files[f"experiment-1700000000000-000{number}"] = [(f"pod-{number}", path)]
    pieces = loganswer.log_pieces(loganswer.experiment_logs(files, files.__getitem__))
    expected = [
        log_payload(eid, [(name, read_lines(path)) for name, path in pods])
        for eid, pods in files.items()
    ]
    whole = dumps(envelope_body(result=expected)).encode("utf-8")
    assert b"".join(pieces) == whole
    assert b"".join(loganswer.log_pieces(loganswer.experiment_logs([], files.__getitem__))) == (
        dumps(envelope_body(result=[])).encode("utf-8")
    )


def test_a_long_line_comes_in_pieces_of_bounded_size(tmp_path: Path) -> None:
    path = tmp_path / "long.log"
    path.write_bytes(b"y" * (4 * loganswer.PIECE) + b"\nshort\n")
    sizes = [len(p) for p in loganswer.log_pieces(loganswer.pod_log_pieces(ID, [("p", path)]))]
    assert len(sizes) > 3
    assert max(sizes) <= loganswer.PIECE + loganswer.BLOCK + 1024
    assert list(itertools.accumulate(sizes))[-1] == len(_whole([("p", path)]))


@settings(max_examples=300, deadline=None)
@given(
    files=st.lists(contents | st.none(), max_size=3),
    block=st.sampled_from([1, 2, 3, 7, 64]),
    limit=st.sampled_from([1, 5, 16, 1 << 20]),
    finished=st.booleans(),
    offset=st.integers(0, 12),
)
def test_a_log_stream_page_written_from_spans_is_the_page_read_at_once(
    files: list[bytes | None], block: int, limit: int, finished: bool, offset: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
        patch.setattr(loganswer, "STREAM_BLOCK", block)
        patch.setattr(loganswer, "PIECE", block * 3)
        pods = []
        for index, data in enumerate(files):
            path = Path(tmp) / f"pod-{index}.log"
            if data is not None:
                path.write_bytes(data)
            pods.append((f"{ID}-worker-{index}", path))
        offsets = {f"worker-{index}": offset for index in range(len(pods))}
        read, positions, more = read_chunk(pods, offsets, limit, finished=finished, key=f"{ID}-")
        spans, planned, cut = plan_chunk(pods, offsets, limit, finished=finished, key=f"{ID}-")
        assert (planned, cut) == (positions, more)
        plan = ChunkPlan(spans=spans, cursor=encode_cursor(positions), more=more)
        whole = envelope_body(
            result={
                "experimentId": ID,
                "status": "Running",
                "pods": [{"podName": name, "lines": lines} for name, lines in read],
                "cursor": plan.cursor,
                "more": more,
            }
        )
        streamed = b"".join(loganswer.log_pieces(loganswer.chunk_pieces(ID, "Running", plan)))
        assert streamed == dumps(whole).encode("utf-8")
        assert plan.quiet == (not more and not any(lines for _, lines in read))
