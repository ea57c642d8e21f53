"""Hostile HTTP against the local server: wrong methods and content types, invalid UTF-8,
deep nesting, huge bodies, odd ids, and hypothesis-generated mixtures of them all.

Requests go out through ``http.client`` so that paths reach the server byte for byte
(``../x`` is not normalised away, ``%2F`` stays encoded). Every answer must be a valid
envelope (checked with a strict model: exactly Submarine's six keys), never a 5xx, and a
refused request must store nothing (the experiments are counted in the server's database
before and after).

The server under fuzz runs with an address-space limit, so an input that makes it
allocate without bound fails the test with a 5xx instead of exhausting the machine.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, StrictBool, StrictInt, StrictStr

from tests.conftest import RunningServer, ServerFactory
from tests.support import make_spec, wait_until

from .conftest import Figures, stored_names

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

API = "/api/v1/experiment"
ID = "experiment-1700000000000-0001"
MIB = 1 << 20
HEADROOM = 1536 * MIB
"""How much more address space than at start the fuzzed server may take."""


class StrictEnvelope(BaseModel):
    """Submarine's envelope, with exactly its six keys."""

    model_config = ConfigDict(extra="forbid")

    status: StrictStr
    code: StrictInt
    success: StrictBool | None
    message: StrictStr | None
    result: Any
    attributes: dict[str, Any]


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    factory = ServerFactory(tmp_path_factory.mktemp("fuzz"))
    try:
        server = factory.start("--grace-period", "0.2")
        process = psutil.Process(server.process.pid)
        limit = process.memory_info().vms + HEADROOM
        process.rlimit(psutil.RLIMIT_AS, (limit, limit))
        yield server
    finally:
        factory.close()


def send(
    server: RunningServer,
    method: str,
    path: str,
    body: bytes | Iterable[bytes] | None = None,
    headers: dict[str, str] | None = None,
    *,
    chunked: bool = False,
    timeout: float = 30.0,
) -> Answer:
    """One request with the path and body exactly as given."""
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
        response = connection.getresponse()
        return Answer(response.status, dict(response.getheaders()), response.read())
    finally:
        connection.close()


def check(answer: Answer, method: str = "GET") -> StrictEnvelope | None:
    """Never a 5xx; every answer but a HEAD's is a consistent envelope."""
    assert answer.status < 500, f"HTTP {answer.status}: {answer.body[:300]!r}"
    if method == "HEAD":
        return None
    assert answer.headers.get("content-type", "").startswith("application/json")
    envelope = StrictEnvelope.model_validate_json(answer.body)
    assert envelope.code == answer.status
    ok = 200 <= answer.status < 300
    assert envelope.success is (True if ok else None)  # null on errors, as on Submarine 0.8.0
    if not ok:
        assert envelope.result is None
        assert envelope.message, "an error without a message"
    return envelope


def total(server: RunningServer) -> int:
    return sum(stored_names(server).values())


def refused(
    server: RunningServer,
    figures: Figures,
    method: str,
    path: str,
    body: bytes | Iterable[bytes] | None = None,
    headers: dict[str, str] | None = None,
    *,
    chunked: bool = False,
    status: int | None = None,
    timeout: float = 30.0,
) -> StrictEnvelope:
    """Send a request that must be refused (4xx) and store nothing."""
    before = total(server)
    answer = send(server, method, path, body, headers, chunked=chunked, timeout=timeout)
    figures.add("fuzz: HTTP requests (tables)")
    envelope = check(answer, method)
    assert envelope is not None
    assert 400 <= answer.status < 500, f"{method} {path[:80]} was answered {answer.status}"
    if status is not None:
        assert answer.status == status, envelope.message
    assert total(server) == before, "a refused request stored something"
    return envelope


JSON = {"Content-Type": "application/json"}


# -- tables ------------------------------------------------------------------------------------

ODD_IDS = [
    "../x",
    "..%2F..%2Fetc%2Fpasswd",
    "%2F",
    "%2e%2e%2f",
    "x%00y",
    "%ff%fe",
    "%E2%80%AE",
    "experiment-1-1%2F..%2F..",
    "a" * 10_000,
    "experiment-" + "1" * 10_000 + "-1",
    ID + "/extra",
    "%20",
    "*",
    "experiment_1_1;DROP%20TABLE%20experiments",
    "$(touch%20x)",
]


@pytest.mark.bounded
@pytest.mark.parametrize("odd", ODD_IDS, ids=lambda s: s[:24])
def test_odd_ids_are_not_found(target: RunningServer, figures: Figures, odd: str) -> None:
    body = json.dumps(make_spec(name="odd-id")).encode()
    for method, path, payload in [
        ("GET", f"{API}/{odd}", None),
        ("DELETE", f"{API}/{odd}", None),
        ("PATCH", f"{API}/{odd}", body),
        ("GET", f"{API}/logs/{odd}", None),
        ("GET", f"{API}/{odd}/log-stream", None),
    ]:
        envelope = refused(target, figures, method, path, payload, JSON)
        assert envelope.code in (404, 405)


@pytest.mark.bounded
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", API),
        ("DELETE", API),
        ("PATCH", API),
        ("POST", f"{API}/ping"),
        ("PUT", f"{API}/{ID}"),
        ("POST", f"{API}/logs"),
        ("POST", f"{API}/{ID}/log-stream"),
        ("GET", "/api/auth/token"),
        ("OPTIONS", API),
        ("TRACE", API),
        ("PROPFIND", API),
        ("BREW", API),
    ],
)
def test_wrong_methods_are_405(
    target: RunningServer, figures: Figures, method: str, path: str
) -> None:
    envelope = refused(target, figures, method, path, b"{}", JSON, status=405)
    assert method in (envelope.message or "")


@pytest.mark.bounded
@pytest.mark.parametrize(
    "content_type",
    [
        "application/xml",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
        "image/png",
        "application/octet-stream",
        "*/*",
    ],
)
def test_wrong_content_types_are_415(
    target: RunningServer, figures: Figures, content_type: str
) -> None:
    body = json.dumps(make_spec(name="wrong-type")).encode()
    for method, path in [("POST", API), ("PATCH", f"{API}/{ID}")]:
        envelope = refused(target, figures, method, path, body, {"Content-Type": content_type})
        if method == "POST":
            assert envelope.code == 415
            assert "application/json" in (envelope.message or "")


BAD_BODIES = [
    pytest.param(b"\xff\xfe\x00{", JSON, id="invalid-utf8"),
    pytest.param(b'{"meta": "\xc3\x28"}', JSON, id="invalid-utf8-in-string"),
    pytest.param(b"", JSON, id="empty"),
    pytest.param(b"   \n", JSON, id="blank"),
    pytest.param(b"null", JSON, id="null"),
    pytest.param(b"[]", JSON, id="list"),
    pytest.param(b'"Pong"', JSON, id="string"),
    pytest.param(b"{", JSON, id="truncated"),
    pytest.param(b"NaN", JSON, id="nan"),
    pytest.param(b"[" * 100_000 + b"]" * 100_000, JSON, id="nested-100k-lists"),
    pytest.param(b'{"a":' * 100_000 + b"1" + b"}" * 100_000, JSON, id="nested-100k-maps"),
    pytest.param(b"a: &a [*a, *a]\nb: *a", {"Content-Type": "application/yaml"}, id="yaml-alias"),
    pytest.param(
        b"!!python/object/apply:os.system ['true']",
        {"Content-Type": "application/yaml"},
        id="yaml-python-tag",
    ),
    pytest.param(b"\x00\x01\x02", JSON, id="control-bytes"),
    pytest.param(json.dumps(make_spec(name="a;b")).encode(), JSON, id="metachar-name"),
    pytest.param(json.dumps(make_spec(name="x" * 64)).encode(), JSON, id="long-name"),
]


@pytest.mark.bounded
@pytest.mark.parametrize(("body", "headers"), BAD_BODIES)
def test_bad_bodies_are_400(
    target: RunningServer, figures: Figures, body: bytes, headers: dict[str, str]
) -> None:
    refused(target, figures, "POST", API, body, headers, status=400)


@pytest.mark.bounded
@pytest.mark.parametrize(
    "text",
    ['"\\ud800"', '"\\udfff tail"', '"a\\ud83d"'],
    ids=["lone-high", "lone-low", "half-pair"],
)
def test_unpaired_surrogates_are_400(target: RunningServer, figures: Figures, text: str) -> None:
    for where in ("cmd", "env"):
        spec = make_spec(name=f"surrogate-{where}")
        if where == "cmd":
            spec["meta"]["cmd"] = "SURROGATE"
        else:
            spec["meta"]["envVars"] = {"VALUE": "SURROGATE"}
        body = json.dumps(spec).replace('"SURROGATE"', text).encode()
        refused(target, figures, "POST", API, body, JSON, status=400)


def _replicas(count: int) -> bytes:
    return json.dumps(make_spec(roles={"Worker": count}, name=f"replicas-{count}")).encode()


YAML = {"Content-Type": "application/yaml"}
COSTLY_WAIT = 60.0
"""How long a costly input may take to be refused: far more than it needs, far less than an
input that makes the server work without bound."""
COSTLY = [
    pytest.param(b"[" * 100_000 + b"]" * 100_000, YAML, 400, id="yaml-nested-100k"),
    pytest.param(b"{a: " * 50_000 + b"1" + b"}" * 50_000, YAML, 400, id="yaml-maps-50k"),
    pytest.param(_replicas(10**6), JSON, 400, id="replicas-1e6"),
    pytest.param(_replicas(10**9), JSON, 400, id="replicas-1e9"),
    pytest.param(_replicas(10**30), JSON, 400, id="replicas-1e30"),
    pytest.param(None, {**JSON, "Content-Length": "99999999999"}, 413, id="declared-100GB"),
]


@pytest.mark.bounded
@pytest.mark.parametrize(("body", "headers", "status"), COSTLY)
def test_costly_inputs_are_refused_at_once_and_stall_nothing(
    server_factory: ServerFactory,
    figures: Figures,
    request: pytest.FixtureRequest,
    body: bytes | None,
    headers: dict[str, str],
    status: int,
) -> None:
    """Each on a server of its own with its address space capped: an input that makes a
    server work or allocate without bound must not take the machine (or the module's
    fuzz server) down with it. While the request is in flight, pings must still be
    answered (how fast is a figure of the report)."""
    server = server_factory.start("--grace-period", "0.2")
    process = psutil.Process(server.process.pid)
    limit = process.memory_info().vms + HEADROOM
    process.rlimit(psutil.RLIMIT_AS, (limit, limit))
    outcome: dict[str, Any] = {}

    def costly() -> None:
        try:
            outcome["answer"] = send(server, "POST", API, body, headers, timeout=COSTLY_WAIT)
        except Exception as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=costly)
    try:
        worker.start()
        pings = []
        for _ in range(3):
            began = time.monotonic()
            pong = send(server, "GET", f"{API}/ping")
            pings.append(time.monotonic() - began)
            assert pong.status == 200, "the server stalled while a costly request ran"
        worker.join(COSTLY_WAIT + 30)
        figures.add("fuzz: HTTP requests (tables)")
        case = request.node.callspec.id
        figures.set(f"fuzz: slowest ping during {case} (ms)", round(max(pings) * 1000, 1))
        assert "error" not in outcome, f"no answer in {COSTLY_WAIT:g} s: {outcome.get('error')!r}"
        answer = outcome["answer"]
        envelope = check(answer)
        assert answer.status == status, f"HTTP {answer.status}: {answer.body[:200]!r}"
        assert envelope is not None
        assert total(server) == 0
    except BaseException:
        server.kill()  # it may stay busy for minutes: no graceful stop
        raise


@pytest.mark.bounded
def test_huge_bodies_are_413(target: RunningServer, figures: Figures) -> None:
    big = json.dumps(make_spec(name="huge", env={"PAD": "x" * (2 * MIB)})).encode()
    refused(target, figures, "POST", API, big, JSON, status=413)
    refused(target, figures, "PATCH", f"{API}/{ID}", big, JSON)
    chunks = [b"x" * (64 * 1024)] * 40
    refused(target, figures, "POST", API, iter(chunks), JSON, chunked=True, status=413)


@pytest.mark.bounded
@pytest.mark.parametrize(
    "query",
    [
        "status=Bogus",
        "status=%ff",
        "status=" + "R" * 10_000,
    ],
)
def test_bad_list_filters_are_400(target: RunningServer, figures: Figures, query: str) -> None:
    refused(target, figures, "GET", f"{API}?{query}", status=400)
    refused(target, figures, "GET", f"{API}/logs?{query}", status=400)


@pytest.mark.bounded
def test_bad_log_stream_parameters_are_400(target: RunningServer, figures: Figures) -> None:
    body = json.dumps(make_spec(name="stream-params")).encode()
    made = check(send(target, "POST", API, body, JSON))
    assert made is not None
    experiment_id = made.result["experimentId"]
    for query in ["wait=nan", "wait=-1", "wait=inf&limit=0", "limit=-5", "limit=1.5", "cursor=%ff"]:
        refused(target, figures, "GET", f"{API}/{experiment_id}/log-stream?{query}", status=400)
    # Only the create above was stored.
    check(send(target, "DELETE", f"{API}/{experiment_id}"))


# -- hypothesis ---------------------------------------------------------------------------------

TEMPLATES = [
    API,
    f"{API}/ping",
    f"{API}/logs",
    f"{API}/{{id}}",
    f"{API}/logs/{{id}}",
    f"{API}/{{id}}/log-stream",
    "/api/auth/token",
    "/api/v1/{id}",
    "/{id}",
]
ids = st.one_of(
    st.sampled_from([*ODD_IDS[:9], ID, "experiment_1626160071451_0008"]),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=30).map(
        lambda t: quote(t, safe="-_.~")
    ),
    st.binary(min_size=1, max_size=12).map(lambda b: quote(b, safe="")),
)
queries = st.one_of(
    st.just(""),
    st.builds(
        lambda k, v: f"?{k}={v}",
        st.sampled_from(["status", "wait", "limit", "cursor", "x"]),
        st.sampled_from(["Running", "running", "", "%ff", "0", "-1", "nan", "1e309", "abc"]),
    ),
)
content_types = st.sampled_from(
    [
        None,
        "application/json",
        "application/json; charset=utf-8",
        "application/yaml",
        "text/yaml",
        "text/plain",
        "application/xml",
        "application/problem+json",
        "",
    ]
)
scalar = st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=8)
json_values = st.recursive(
    scalar,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
    max_leaves=12,
)


@st.composite
def near_specs(draw: st.DrawFn) -> bytes:
    """A harmless spec (it runs ``true`` or ``echo``), then mangled a little."""
    spec = make_spec(
        name=draw(st.from_regex(r"\Afuzz-[a-z0-9]{1,8}\Z")),
        cmd=draw(st.sampled_from(["true", "echo fuzz"])),
    )
    spec["spec"]["Worker"]["replicas"] = draw(st.integers(1, 3))
    for _ in range(draw(st.integers(0, 3))):
        section = draw(st.sampled_from(["meta", "environment", "spec", None]))
        key = draw(st.sampled_from(["name", "framework", "replicas", "resources", "envVars", "x"]))
        node = spec if section is None else spec[section]
        if draw(st.booleans()) and key in node and key != "cmd":
            del node[key]
        elif key not in ("cmd",):
            node[key] = draw(json_values)
    text = json.dumps(spec)
    if draw(st.booleans()):
        return text.encode()
    import yaml

    return yaml.safe_dump(spec).encode()


bodies = st.one_of(
    st.none(),
    st.binary(max_size=64),
    st.builds(lambda v: json.dumps(v).encode(), json_values),
    near_specs(),
    st.builds(lambda n: b"[" * n + b"]" * n, st.integers(1, 5000)),
)


@dataclass
class Case:
    method: str
    path: str
    content_type: str | None
    body: bytes | None


cases = st.builds(
    Case,
    st.sampled_from(["GET", "POST", "PATCH", "DELETE", "PUT", "HEAD", "OPTIONS"]),
    st.builds(
        lambda template, experiment_id, query: template.replace("{id}", experiment_id) + query,
        st.sampled_from(TEMPLATES),
        ids,
        queries,
    ),
    content_types,
    bodies,
)


def _fuzz_one(server: RunningServer, figures: Figures, case: Case) -> None:
    headers = {} if case.content_type is None else {"Content-Type": case.content_type}
    before = stored_names(server)
    answer = send(server, case.method, case.path, case.body, headers)
    figures.add("fuzz: HTTP requests (hypothesis)")
    envelope = check(answer, case.method)
    after = stored_names(server)
    # A create is what the server did, whatever query the path carried: the route is the
    # path alone (a valid spec sent to `?status=Running` is created too).
    route = case.path.partition("?")[0]
    created = case.method == "POST" and route == API and answer.status == 200
    if created:
        assert envelope is not None
        name = envelope.result["spec"]["meta"]["name"]
        assert after.get(name, 0) == before.get(name, 0) + 1
        figures.add("fuzz: experiments created by valid inputs")
        after[name] -= 1
        after = {k: v for k, v in after.items() if v}
    elif case.method == "DELETE" and answer.status == 200:
        assert sum(after.values()) == sum(before.values()) - 1
        return
    assert after == before, f"{case.method} {case.path[:60]} changed what is stored"


def _fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@pytest.mark.bounded
@_fuzz_settings(250)
@given(case=cases)
def test_fuzz_bounded(target: RunningServer, figures: Figures, case: Case) -> None:
    _fuzz_one(target, figures, case)


@_fuzz_settings(3000)
@given(case=cases)
def test_fuzz_full(target: RunningServer, figures: Figures, case: Case) -> None:
    _fuzz_one(target, figures, case)


@pytest.mark.bounded
def test_the_fuzzed_server_is_still_healthy(target: RunningServer) -> None:
    answer = send(target, "GET", f"{API}/ping")
    envelope = check(answer)
    assert envelope is not None
    assert envelope.result == "Pong"
    assert target.running
    wait_until(lambda: check(send(target, "GET", API)) is not None, what="a list")
