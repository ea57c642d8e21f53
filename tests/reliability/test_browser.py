"""A web page the user visits must not drive the local server (issue 11, items 1 and 2).

Each attack is sent as the browser would send it, byte for byte where it matters: a
``no-cors`` fetch or a ``<form enctype="text/plain">`` (no preflight, so ``text/plain`` or
no Content-Type), the ``Origin`` and ``Sec-Fetch-Site`` headers browsers add, and a DNS
rebinding page's ``Host`` header. Every one must be refused, store nothing and run
nothing; same-origin requests (a page this server serves) and plain clients (no Origin)
keep working.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from submarine.client import ExperimentClient
from tests.conftest import RunningServer, ServerFactory
from tests.support import make_spec

from .conftest import Figures, python_cmd, stored_names

pytestmark = [pytest.mark.reliability, pytest.mark.bounded]

API = "/api/v1/experiment"
EVIL = "http://evil.example"


def _marker_spec(marker: Path, name: str) -> dict[str, Any]:
    """A spec whose command would leave ``marker`` behind if it ever ran."""
    code = f"open({str(marker)!r}, 'w').write('ran')"
    return make_spec(name=name, cmd=python_cmd(code))


def _total(server: RunningServer) -> int:
    return sum(stored_names(server).values())


def _refused(answer: httpx.Response, code: int, *needles: str) -> str:
    assert answer.status_code == code, answer.text
    body = answer.json()
    assert body["code"] == code
    assert body["success"] is None
    assert body["result"] is None
    message = str(body["message"])
    for needle in needles:
        assert needle in message, message
    return message


def _port(server: RunningServer) -> int:
    port = httpx.URL(server.url).port
    assert port is not None
    return port


# The requests a page can make without a CORS preflight: (headers, what they are).
DRIVE_BY = [
    pytest.param({"Content-Type": "text/plain;charset=UTF-8"}, id="no-cors fetch (text/plain)"),
    pytest.param({"Content-Type": "text/plain"}, id="form enctype=text/plain"),
    pytest.param({"Content-Type": "application/x-www-form-urlencoded"}, id="urlencoded form"),
    pytest.param({"Content-Type": "multipart/form-data; boundary=x"}, id="multipart form"),
    pytest.param({}, id="no Content-Type"),
]


@pytest.mark.parametrize("headers", DRIVE_BY)
def test_a_drive_by_create_is_refused_and_runs_nothing(
    module_server: RunningServer, tmp_path: Path, figures: Figures, headers: dict[str, str]
) -> None:
    marker = tmp_path / "ran"
    body = json.dumps(_marker_spec(marker, "drive-by")).encode()
    before = _total(module_server)
    # As a browser sends it: the page's origin and the cross-site marks included, and
    # once more without them (an older browser, or a form posted from a file: URL).
    browser = {"Origin": EVIL, "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}
    for extra in (browser, {}):
        answer = httpx.post(
            module_server.url + API, content=body, headers={**headers, **extra}, timeout=30
        )
        figures.add("security: browser attacks refused")
        assert answer.status_code in (403, 415), answer.text
        _refused(answer, answer.status_code)
    answer = httpx.post(module_server.url + API, content=body, headers=headers, timeout=30)
    _refused(answer, 415, "application/json")
    assert _total(module_server) == before, "a refused request stored something"
    assert not marker.exists(), "the drive-by command ran"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Origin": EVIL}, id="foreign Origin"),
        pytest.param({"Origin": "null"}, id="Origin null (sandboxed frame, file:)"),
        pytest.param({"Sec-Fetch-Site": "cross-site"}, id="Sec-Fetch-Site cross-site"),
        pytest.param({"Sec-Fetch-Site": "same-site"}, id="Sec-Fetch-Site same-site"),
        pytest.param(
            {"Origin": "http://127.0.0.1:1", "Sec-Fetch-Site": "same-site"},
            id="another local port",
        ),
    ],
)
def test_cross_site_requests_are_403_on_every_kind_of_route(
    module_server: RunningServer, figures: Figures, headers: dict[str, str]
) -> None:
    with ExperimentClient(module_server.url) as client:
        victim = client.create_experiment(make_spec(name="victim", cmd="true")).experiment_id
    before = _total(module_server)
    json_body = {**headers, "Content-Type": "application/json"}
    spec = json.dumps(make_spec(name="cross-site")).encode()
    url = module_server.url
    attempts = [
        httpx.post(url + API, content=spec, headers=json_body),
        httpx.patch(f"{url}{API}/{victim}", content=spec, headers=json_body),
        httpx.delete(f"{url}{API}/{victim}", headers=headers),  # no body, no Content-Type
        httpx.get(url + API, headers=headers),
        httpx.get(f"{url}{API}/logs/{victim}", headers=headers),
        httpx.get(f"{url}{API}/ping", headers=headers),
        httpx.post(f"{url}/api/auth/token", content=b"{}", headers=json_body),
    ]
    for answer in attempts:
        figures.add("security: browser attacks refused")
        _refused(answer, 403, "--allow-origin")
        assert "victim" not in answer.text
    assert _total(module_server) == before
    with ExperimentClient(module_server.url) as client:
        kept = client.get_experiment(victim)
    assert kept.spec is not None
    assert kept.spec.meta.name == "victim", "a cross-site PATCH changed the experiment"


@pytest.mark.parametrize(
    "host", ["rebind.attacker.test", "rebind.attacker.test:{port}", "192.0.2.1:{port}", "[::2]"]
)
def test_dns_rebinding_host_headers_are_421(
    module_server: RunningServer, figures: Figures, host: str
) -> None:
    with ExperimentClient(module_server.url) as client:
        secret = client.create_experiment(make_spec(name="secret-spec", cmd="true")).experiment_id
    before = _total(module_server)
    headers = {"Host": host.format(port=_port(module_server))}
    # A rebound page is same-origin with the attacker's name: no Origin on GET, and its
    # own origin on writes, matching its own Host header.
    json_headers = {
        **headers,
        "Content-Type": "application/json",
        "Origin": f"http://{headers['Host']}",
    }
    url = module_server.url
    spec = json.dumps(make_spec(name="rebound")).encode()
    attempts = [
        httpx.get(url + API, headers=headers),
        httpx.get(f"{url}{API}/{secret}", headers=headers),
        httpx.get(f"{url}{API}/logs", headers=headers),
        httpx.get(f"{url}{API}/ping", headers=headers),
        httpx.post(url + API, content=spec, headers=json_headers),
        httpx.delete(f"{url}{API}/{secret}", headers=json_headers),
    ]
    for answer in attempts:
        figures.add("security: browser attacks refused")
        _refused(answer, 421, "--allow-host")
        assert "secret-spec" not in answer.text
    assert _total(module_server) == before
    with ExperimentClient(module_server.url) as client:
        assert client.get_experiment(secret).experiment_id == secret


def test_same_origin_pages_and_plain_clients_keep_working(module_server: RunningServer) -> None:
    port = _port(module_server)
    spec = json.dumps(make_spec(name="same-origin")).encode()
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost"):
        origin = f"http://{host}"
        page = {"Host": host, "Origin": origin, "Sec-Fetch-Site": "same-origin"}
        created = httpx.post(
            module_server.url + API,
            content=spec,
            headers={**page, "Content-Type": "application/json"},
        )
        assert created.status_code == 200, created.text
        experiment_id = created.json()["result"]["experimentId"]
        typed = {"Host": host, "Sec-Fetch-Site": "none"}  # a URL typed in the address bar
        assert httpx.get(f"{module_server.url}{API}/{experiment_id}", headers=typed).is_success
        deleted = httpx.delete(f"{module_server.url}{API}/{experiment_id}", headers=page)
        assert deleted.status_code == 200, deleted.text
    # YAML is a body type a page cannot send without a preflight either: accepted.
    answer = httpx.post(
        module_server.url + API,
        content=b"meta: {name: yaml-ok, framework: TensorFlow, cmd: 'true'}\n"
        b"environment: {image: local}\n"
        b"spec: {Worker: {replicas: 1, resources: 'cpu=100m,memory=64M'}}\n",
        headers={"Content-Type": "application/yaml"},
    )
    assert answer.status_code == 200, answer.text


def test_allowed_origins_and_hosts_pass(server_factory: ServerFactory) -> None:
    server = server_factory.start(
        "--allow-origin",
        "http://localhost:3000",
        "--allow-host",
        "box.test",
        env={"SUBMARINE_ALLOW_ORIGINS": "https://notebook.test"},
    )
    spec = json.dumps(make_spec(name="allowed")).encode()
    for origin in ("http://localhost:3000", "https://notebook.test"):
        headers = {"Origin": origin, "Sec-Fetch-Site": "cross-site"}
        answer = httpx.post(
            server.url + API, content=spec, headers={**headers, "Content-Type": "application/json"}
        )
        assert answer.status_code == 200, answer.text
    refused = httpx.get(server.url + API, headers={"Origin": "http://localhost:3001"})
    _refused(refused, 403)
    assert httpx.get(server.url + API, headers={"Host": "box.test"}).status_code == 200
    _refused(httpx.get(server.url + API, headers={"Host": "box2.test"}), 421)
    assert stored_names(server) == {"allowed": 2}
