"""The workbench's experiment list and run actions in a real headless Chromium: the table
fits every width from a phone to 1920 px, a queued experiment has no duration, the list of
2,000 experiments is paged, sorted, filtered and bulk-deleted and is read again only when
it changed (304s), and clone, update and rerun make and change experiments.

Thousands of experiments are stored before the server starts (finished ones: nothing runs).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Response, expect

from tests.conftest import RunningServer, ServerFactory
from tests.e2e.browser_support import WAIT_MS, shot
from tests.support import make_spec, wait_until

pytestmark = pytest.mark.slow

API = "/api/v1/experiment"
MANY = 2000
NO_DURATION = "\u2013"
"""What the page shows for a duration that has none (an en dash)."""


def _seed(data_dir: Path, count: int) -> None:
    """Store ``count`` finished experiments (every tenth tagged ``sweep``) in ``data_dir``."""
    from submarine.server.settings import Settings
    from submarine.server.store.experiments import ExperimentRecord, Store

    store = Store(Settings(data_dir=data_dir, workdir=data_dir).database)
    epoch = datetime(2025, 3, 14, 8, 0, 0, tzinfo=timezone.utc)
    try:
        for index in range(count):
            experiment_id = store.next_experiment_id()
            name = f"digits-resnet50-learning-rate-sweep-{index:04d}"
            tags = ["sweep", "resnet"] if index % 10 == 0 else ["baseline"]
            spec = {
                "meta": {
                    "experimentId": experiment_id,
                    "name": name,
                    "namespace": "default",
                    "framework": "TensorFlow",
                    "cmd": "python train.py --learning-rate 0.01",
                    "envVars": {},
                    "tags": tags,
                },
                "environment": {"image": "local"},
                "spec": {
                    "Worker": {
                        "replicas": 1,
                        "resources": "cpu=1,memory=512M",
                        "resourceMap": {"cpu": "1", "memory": "512M"},
                    }
                },
            }
            accepted = epoch + timedelta(seconds=index)
            store.insert(
                ExperimentRecord(
                    experiment_id=experiment_id,
                    uid=str(uuid.uuid4()),
                    name=name,
                    status="Failed" if index % 7 == 0 else "Succeeded",
                    spec=json.loads(json.dumps(spec)),
                    accepted_time=accepted,
                    created_time=accepted + timedelta(milliseconds=200),
                    running_time=accepted + timedelta(milliseconds=400),
                    finished_time=accepted + timedelta(seconds=95),
                )
            )
    finally:
        store.close()


@pytest.fixture(scope="module")
def factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerFactory]:
    made = ServerFactory(tmp_path_factory.mktemp("workbench-list"))
    try:
        yield made
    finally:
        made.close()


@pytest.fixture(scope="module")
def crowded(factory: ServerFactory) -> RunningServer:
    """A server with 2,000 stored experiments."""
    _seed(factory.root / f"server-{len(factory.servers)}", MANY)
    return factory.start()


@pytest.fixture(scope="module")
def small(factory: ServerFactory) -> RunningServer:
    """A server with a few experiments and one cpu (a second experiment has to wait)."""
    _seed(factory.root / f"server-{len(factory.servers)}", 3)
    return factory.start("--cpus", "1")


def _list(server: RunningServer) -> list[dict[str, Any]]:
    return list(httpx.get(f"{server.url}{API}", timeout=60).json()["result"])


def _create(server: RunningServer, spec: dict[str, Any]) -> dict[str, Any]:
    answer = httpx.post(f"{server.url}{API}", json=spec).json()
    assert answer["success"] is True, answer
    return dict(answer["result"])


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (1600, 900), (1920, 1080), (390, 844)])
def test_the_table_fits_every_width_with_status_and_delete_in_view(
    browser: Browser, small: RunningServer, width: int, height: int, tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{small.url}/#/")
        row = page.locator("#experiments tbody tr").first
        expect(row).to_be_visible()
        wrap = page.locator(".table-wrap").first
        scroll, client = wrap.evaluate("(n) => [n.scrollWidth, n.clientWidth]")
        assert scroll <= client + 1, f"the table needs {scroll} px in {client} px at {width} px"
        for target in (
            row.locator('[data-col="status"]'),
            row.get_by_role("button", name="Delete"),
        ):
            box = target.bounding_box()
            assert box is not None
            assert box["x"] >= 0, (width, box)
            assert box["x"] + box["width"] <= width, (width, box)
        if width == 390:
            shot(page, tmp_path, "phone-list")
    finally:
        context.close()
    assert not errors, errors


def test_a_queued_experiment_has_no_duration(page: Page, small: RunningServer) -> None:
    gate = small.workdir / "gate-queue"
    (small.workdir / "hold.py").write_text(
        "import os, sys, time\n"
        "end = time.monotonic() + 120\n"
        "while not os.path.exists(sys.argv[1]) and time.monotonic() < end:\n"
        "    time.sleep(0.05)\n"
    )
    spec = make_spec(name="holder", cmd=f"python hold.py {gate}", resources="cpu=1,memory=64M")
    holder = _create(small, spec)["experimentId"]
    queued = _create(small, make_spec(name="queued-one", resources="cpu=1,memory=64M"))
    queued_id = queued["experimentId"]
    try:
        assert queued["status"] == "Accepted"
        page.goto(f"{small.url}/#/")
        row = page.locator(f'#experiments tr[data-id="{queued_id}"]')
        expect(row.locator('[data-col="status"]')).to_have_text("Accepted")
        expect(row.locator('[data-col="duration"]')).to_have_text(NO_DURATION)
        page.goto(f"{small.url}/#/experiment/{queued_id}")
        duration = page.locator(".facts div", has_text="Duration").locator("dd")
        expect(duration).to_have_text(NO_DURATION)
        # What the page shows is what it was given: the server still says Accepted.
        assert httpx.get(f"{small.url}{API}/{queued_id}").json()["result"]["status"] == "Accepted"
    finally:
        gate.write_text("go")
    wait_until(
        lambda: httpx.get(f"{small.url}{API}/{holder}").json()["result"]["status"] == "Succeeded",
        what="the holder to finish",
        timeout=120,
    )


def test_the_list_of_2000_is_paged_sorted_filtered_and_read_only_when_changed(
    page: Page, crowded: RunningServer, tmp_path: Path
) -> None:
    statuses: list[int] = []
    page.on(
        "response",
        lambda r: (
            statuses.append(r.status) if r.url.endswith(API) and r.request.method == "GET" else None
        ),
    )
    page.goto(f"{crowded.url}/#/")
    expect(page.locator("#count")).to_have_text(f"{MANY} of {MANY}")
    expect(page.locator("#experiments tbody tr")).to_have_count(50)
    expect(page.locator("#page-at")).to_have_text("Page 1 of 40")
    first = page.locator("#experiments tbody tr").first
    # Newest first; tags come from meta.tags.
    expect(first.locator('[data-col="name"]')).to_have_text(
        "digits-resnet50-learning-rate-sweep-1999"
    )
    expect(page.locator("#experiments tr[data-id] .tag", has_text="sweep")).to_have_count(5)
    shot(page, tmp_path, "list-2000")
    # An unchanged list is not sent again: the next looks are answered 304.
    page.wait_for_event(
        "response", lambda r: f"{API}?since=" in r.url and r.status == 304, timeout=WAIT_MS
    )
    assert statuses[0] == 200

    page.click("#page-next")
    expect(page.locator("#page-at")).to_have_text("Page 2 of 40")
    expect(first.locator('[data-col="name"]')).to_have_text(
        "digits-resnet50-learning-rate-sweep-1949"
    )
    page.click('th[data-sort="name"] button')
    expect(page.locator('th[data-sort="name"]')).to_have_attribute("aria-sort", "ascending")
    expect(page.locator("#page-at")).to_have_text("Page 2 of 40")
    expect(first.locator('[data-col="name"]')).to_have_text(
        "digits-resnet50-learning-rate-sweep-0050"
    )
    page.select_option("#filter-status", "Failed")
    expect(page.locator("#count")).to_have_text(f"286 of {MANY}")
    page.select_option("#filter-status", "")
    page.select_option("#filter-tag", "sweep")
    expect(page.locator("#count")).to_have_text(f"200 of {MANY}")
    page.fill("#filter-name", "sweep-19")
    # 1900, 1910, ... 1990 carry the tag.
    expect(page.locator("#count")).to_have_text(f"10 of {MANY}")

    # Select every shown (filtered) experiment and delete them at once.
    page.check("#select-all")
    expect(page.locator("#delete-selected")).to_have_text("Delete selected (10)")
    page.click("#delete-selected")
    expect(page.locator("#confirm-title")).to_have_text("Delete 10 experiments?")
    page.click("#confirm-ok")
    expect(page.locator("#count")).to_have_text(f"0 of {MANY - 10}")
    left = _list(crowded)
    assert len(left) == MANY - 10
    # A change made elsewhere comes in as a change (?since=), not as the whole list again.
    page.fill("#filter-name", "")
    page.select_option("#filter-tag", "")
    deltas: list[Response] = []
    page.on(
        "response", lambda r: deltas.append(r) if "since=" in r.url and r.status == 200 else None
    )
    gone = left[0]["experimentId"]
    assert httpx.delete(f"{crowded.url}{API}/{gone}").json()["success"] is True
    expect(page.locator("#count")).to_have_text(f"{MANY - 11} of {MANY - 11}")
    assert any(gone in r.json()["result"]["removed"] for r in deltas)
    expect(page.locator(f'#experiments tr[data-id="{gone}"]')).to_have_count(0)
    assert not [
        e
        for e in left
        if e["spec"]["meta"]["name"].startswith("digits-resnet50-learning-rate-sweep-19")
        and "sweep" in e["spec"]["meta"]["tags"]
    ]


def test_clone_update_and_rerun(page: Page, small: RunningServer) -> None:
    spec = make_spec(name="to-clone", cmd="python -c pass", resources="cpu=100m,memory=64M")
    spec["meta"]["tags"] = ["first"]
    source = _create(small, spec)["experimentId"]
    wait_until(
        lambda: httpx.get(f"{small.url}{API}/{source}").json()["result"]["status"] == "Succeeded",
        what="the experiment to clone",
        timeout=120,
    )
    page.goto(f"{small.url}/#/experiment/{source}")
    expect(page.locator("#run-tags .tag")).to_have_text(["first"])
    page.click("#run-clone")
    expect(page.locator("#f-name")).to_have_value("to-clone")
    expect(page.locator("#f-cmd")).to_have_value("python -c pass")
    expect(page.get_by_label("Resources of role 1")).to_have_value("cpu=100m,memory=64M")
    expect(page.locator("#f-tags")).to_have_value("first")
    page.fill("#f-name", "the-clone")
    expect(page.locator("#create")).to_be_enabled()
    page.click("#create")
    page.wait_for_url("**/#/experiment/experiment-*")
    clone = page.url.rsplit("/", 1)[1]
    assert clone != source
    stored = httpx.get(f"{small.url}{API}/{clone}").json()["result"]["spec"]
    assert stored["meta"]["name"] == "the-clone"
    assert stored["meta"]["cmd"] == "python -c pass"
    assert stored["meta"]["tags"] == ["first"]
    assert stored["spec"]["Worker"]["resources"] == "cpu=100m,memory=64M"

    # Update: the form of the experiment, sent as a PATCH.
    page.goto(f"{small.url}/#/experiment/{source}")
    page.click("#run-update")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Update experiment {source}")
    expect(page.locator("#f-cmd")).to_have_value("python -c pass")
    page.fill("#f-cmd", "python -c 'print(1)'")
    page.fill("#f-tags", "first, second")
    expect(page.locator("#create")).to_have_text("Update experiment")
    expect(page.locator("#create")).to_be_enabled()
    page.click("#create")
    page.wait_for_url(f"**/#/experiment/{source}")
    expect(page.locator("#run-tags .tag")).to_have_text(["first", "second"])
    updated = httpx.get(f"{small.url}{API}/{source}").json()["result"]["spec"]
    assert updated["meta"]["cmd"] == "python -c 'print(1)'"
    assert updated["meta"]["tags"] == ["first", "second"]

    # Rerun: the same spec again, as a new experiment.
    page.click("#run-rerun")
    page.wait_for_url(lambda url: "#/experiment/experiment-" in url and not url.endswith(source))
    again = page.url.rsplit("/", 1)[1]
    assert again not in (source, clone)
    rerun = httpx.get(f"{small.url}{API}/{again}").json()["result"]["spec"]
    assert rerun["meta"]["cmd"] == "python -c 'print(1)'"
    assert rerun["meta"]["name"] == "to-clone"
