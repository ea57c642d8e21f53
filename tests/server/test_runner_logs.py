"""Pod logs: whole reads, the incremental log-stream reads (cursor, limit), waiting for output."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from submarine.server.run import podlogs as logs
from tests.support import make_spec

from .runner_support import harness, probe

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def pods_in(tmp_path: Path, **contents: bytes) -> list[tuple[str, Path]]:
    pods = []
    for name, data in contents.items():
        path = tmp_path / f"exp-{name}.log"
        path.write_bytes(data)
        pods.append((f"exp-{name}", path))
    return pods


def test_complete_lines_only_until_the_pods_finish(tmp_path: Path) -> None:
    pods = pods_in(tmp_path, a=b"one\ntwo\nthr", b=b"")
    got, offsets, more = logs.read_chunk(pods, {}, 1000, finished=False, key="exp-")
    assert got == [("exp-a", ["one", "two"]), ("exp-b", [])]
    assert offsets == {"a": 8, "b": 0}
    assert more is False
    with pods[0][1].open("ab") as file:
        file.write(b"ee\nfour")
    got, offsets, _ = logs.read_chunk(pods, offsets, 1000, finished=False, key="exp-")
    assert got[0] == ("exp-a", ["three"])
    got, offsets, _ = logs.read_chunk(pods, offsets, 1000, finished=True, key="exp-")
    assert got[0] == ("exp-a", ["four"])
    assert offsets["a"] == pods[0][1].stat().st_size


def test_limit_cuts_the_answer_and_shares_it_between_pods(tmp_path: Path) -> None:
    flood = b"".join(b"line %04d\n" % i for i in range(1000))  # 10 bytes a line
    pods = pods_in(tmp_path, a=flood, b=b"quiet 1\nquiet 2\n")
    got, offsets, more = logs.read_chunk(pods, {}, 100, finished=False, key="exp-")
    assert more is True
    assert got[1] == ("exp-b", ["quiet 1", "quiet 2"])  # the flood does not hide it
    assert got[0][1] == [f"line {i:04d}" for i in range(len(got[0][1]))]
    assert sum(len(line) + 1 for _, lines in got for line in lines) <= 100
    seen = list(got[0][1])
    while more:
        got, offsets, more = logs.read_chunk(pods, offsets, 100, finished=False, key="exp-")
        seen.extend(got[0][1])
        assert got[1] == ("exp-b", [])
    assert seen == [f"line {i:04d}" for i in range(1000)]


def test_a_line_longer_than_the_limit_comes_in_pieces(tmp_path: Path) -> None:
    pods = pods_in(tmp_path, a=b"x" * 25 + b"\nend\n")
    got, offsets, more = logs.read_chunk(pods, {}, 10, finished=False)
    assert (got, more) == ([("exp-a", ["x" * 10])], True)
    pieces = got[0][1]
    while more:
        got, offsets, more = logs.read_chunk(pods, offsets, 10, finished=False)
        pieces.extend(got[0][1])
    assert "".join(pieces[:-1]) == "x" * 25
    assert pieces[-1] == "end"


def test_cursors_round_trip_and_bad_ones_are_refused() -> None:
    cursor = logs.encode_cursor({"worker-0": 12, "ps-0": 0})
    assert logs.decode_cursor(cursor) == {"worker-0": 12, "ps-0": 0}
    assert logs.decode_cursor(None) == {}
    for bad in ["nope", "c1.!!!", logs.encode_cursor({"a": -1}), "c1." + "e30"[:2]]:
        with pytest.raises(ValueError, match="is not valid: pass the cursor of the previous"):
            logs.decode_cursor(bad)


def test_reasons_start_on_a_line_of_their_own(tmp_path: Path) -> None:
    path = tmp_path / "p.log"
    path.write_bytes(b"progress 50%")
    logs.append_reason(path, "stopped:\nthe server stopped")
    assert logs.read_lines(path) == ["progress 50%", "[submarine] stopped: the server stopped"]
    logs.end_line(path)
    assert path.read_bytes().endswith(b"stopped\n")
    assert logs.read_lines(tmp_path / "missing.log") == []


async def test_a_flooding_replica_is_read_in_bounded_chunks(tmp_path: Path) -> None:
    size = 4 << 20
    release = tmp_path / "release"
    async with harness(tmp_path) as h:
        eid = h.submit(
            make_spec(
                "PyTorch",
                {
                    "Master": {"cmd": probe("--flood", str(size), "--wait-file", str(release))},
                    "Worker": {"replicas": 1, "cmd": probe("--dump", "--sleep")},
                },
            )
        )
        cursor = None
        flood: list[str] = []
        worker: list[str] = []
        biggest = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while True:
            assert loop.time() < deadline, "the flood never finished"
            chunk = h.runner.read_chunk(eid, cursor, 256 << 10)
            cursor = chunk.cursor
            got = dict(chunk.pods)
            flood.extend(got[f"{eid}-master-0"])
            worker.extend(got[f"{eid}-worker-0"])
            biggest = max(biggest, sum(len(x) + 1 for lines in got.values() for x in lines))
            if flood and flood[-1] == "FLOOD DONE" and worker:
                break
            if not chunk.more:
                await h.runner.wait_for_change(eid, 5, cursor=cursor)
        assert biggest <= 256 << 10
        assert len(flood) - 1 == len([x for x in flood if x.startswith("flood line ")])
        numbers = [int(x.split()[2]) for x in flood[:-1]]
        assert numbers == list(range(len(numbers)))
        assert len(numbers) == -(-size // 121)  # lines of 121 bytes until size is reached
        release.touch()
        assert await h.until_status(eid) == "Succeeded"
        assert any(line.startswith("PROBE ") for line in worker)
        # The standard endpoint gives every line at once.
        whole = dict(h.pod_logs(eid))[f"{eid}-master-0"]
        assert whole[: len(flood)] == flood


async def test_wait_for_change_returns_when_output_arrives(tmp_path: Path) -> None:
    release = tmp_path / "release"
    async with harness(tmp_path) as h:
        eid = h.submit(
            make_spec(
                "PyTorch",
                {"Master": {"cmd": probe("--dump", "--wait-file", str(release), "--sleep")}},
            )
        )
        await h.until_logged(eid, "PROBE")
        chunk = h.runner.read_chunk(eid, None, 1 << 20)
        assert [len(lines) for _, lines in chunk.pods] == [1]
        # Nothing new past the cursor: the wait lasts until output comes.
        waiter = asyncio.ensure_future(h.runner.wait_for_change(eid, 30, cursor=chunk.cursor))
        await asyncio.wait({waiter}, timeout=0.3)
        assert not waiter.done()
        release.touch()
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.wait_for(waiter, 10)
        assert loop.time() - started < 10
        again = h.runner.read_chunk(eid, chunk.cursor, 1 << 20)
        assert again.pods == [(f"{eid}-master-0", ["SLEEPING"])]
        # Output already past the cursor: no wait at all.
        await asyncio.wait_for(h.runner.wait_for_change(eid, 30, cursor=chunk.cursor), 5)


async def test_wait_for_change_returns_on_a_status_change(tmp_path: Path) -> None:
    release = tmp_path / "release"
    async with harness(tmp_path) as h:
        eid = h.submit(
            make_spec("PyTorch", {"Master": {"cmd": probe("--wait-file", str(release))}})
        )
        await h.until_status(eid, "Running")
        cursor = h.runner.read_chunk(eid, None, 1 << 20).cursor
        waiter = asyncio.ensure_future(h.runner.wait_for_change(eid, 30, cursor=cursor))
        release.touch()
        await asyncio.wait_for(waiter, 10)
        await h.until_status(eid, "Succeeded")
        assert h.runner.read_chunk(eid, cursor, 1 << 20).pods == [(f"{eid}-master-0", [])]
        # An experiment that is gone does not keep anyone waiting.
        await h.delete(eid)
        await asyncio.wait_for(h.runner.wait_for_change(eid, 30), 5)


def test_a_line_that_outgrows_what_is_left_of_the_limit_waits_whole(tmp_path: Path) -> None:
    lines = [b"step %03d " % i + b"x" * 20 for i in range(40)]  # 29 bytes and a newline
    pods = pods_in(tmp_path, a=b"\n".join(lines) + b"\n")
    seen: list[str] = []
    offsets: dict[str, int] = {}
    more = True
    while more:
        got, offsets, more = logs.read_chunk(pods, offsets, 100, finished=False, key="exp-")
        assert sum(len(line) + 1 for _, pod in got for line in pod) <= 100
        seen.extend(got[0][1])
    assert seen == [line.decode() for line in lines]  # none cut in two
