"""The templates' store: in the experiments' database, unique names, insertion order, kept
across a reopen, and the example templates offered once per database."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from submarine.server.api.templates import stored_examples
from submarine.server.examples import TEMPLATE_FILES, example_templates
from submarine.server.store.experiments import Store
from submarine.server.store.templates import SEEDED_FACT, DuplicateTemplateError, TemplateStore


def template(name: str, description: str = "") -> dict[str, Any]:
    return {"name": name, "description": description, "parameters": [], "experimentSpec": {}}


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "data" / "submarine.db"


@pytest.fixture
def templates(database: Path) -> Iterator[TemplateStore]:
    experiments = Store(database)
    store = TemplateStore(database)
    try:
        yield store
    finally:
        store.close()
        experiments.close()


def test_templates_are_listed_in_insertion_order_and_a_patch_keeps_the_place(
    templates: TemplateStore,
) -> None:
    for name in ("b", "a", "c"):
        templates.insert(template(name))
    assert templates.replace("a", template("a", "changed"))
    assert [t["name"] for t in templates.list()] == ["b", "a", "c"]
    assert templates.get("a") == template("a", "changed")
    assert templates.get("nope") is None


def test_a_name_is_unique(templates: TemplateStore) -> None:
    templates.insert(template("t", "first"))
    with pytest.raises(DuplicateTemplateError, match="'t' already exists") as caught:
        templates.insert(template("t", "second"))
    assert caught.value.name == "t"
    assert templates.list() == [template("t", "first")]


def test_replace_and_delete_of_an_unknown_name_say_so(templates: TemplateStore) -> None:
    assert not templates.replace("nope", template("nope"))
    assert not templates.delete("nope")
    templates.insert(template("t"))
    assert templates.delete("t")
    assert templates.list() == []


def test_templates_live_in_the_experiments_database_and_survive_a_reopen(
    database: Path, templates: TemplateStore
) -> None:
    templates.insert(template("kept", "é ☃"))
    templates.close()
    with sqlite3.connect(database) as raw:
        tables = {row[0] for row in raw.execute("SELECT name FROM sqlite_master")}
    assert {"experiments", "templates"} <= tables
    reopened = TemplateStore(database)
    try:
        assert reopened.list() == [template("kept", "é ☃")]
    finally:
        reopened.close()


def test_ids_of_answers_count_up_from_the_stores_start(templates: TemplateStore) -> None:
    assert [templates.next_id(), templates.next_id()] == [1, 2]
    assert templates.server_timestamp > 1_600_000_000_000


def test_examples_are_seeded_once_and_a_deleted_one_stays_deleted(database: Path) -> None:
    experiments = Store(database)
    first = TemplateStore(database)
    try:
        assert first.seed([template("x"), template("y")]) == ["x", "y"]
        assert first.delete("x")
        assert first.seed([template("x"), template("z")]) == []
    finally:
        first.close()
    again = TemplateStore(database)
    try:
        assert again.seed([template("x")]) == []
        assert [t["name"] for t in again.list()] == ["y"]
        with sqlite3.connect(database) as raw:
            facts = dict(raw.execute("SELECT key, value FROM facts").fetchall())
        assert SEEDED_FACT in facts
    finally:
        again.close()
        experiments.close()


def test_seeding_leaves_a_taken_name_as_it_is(templates: TemplateStore) -> None:
    templates.insert(template("x", "mine"))
    assert templates.seed([template("x", "example"), template("y")]) == ["y"]
    assert templates.get("x") == template("x", "mine")


def test_the_example_templates_are_package_data_and_valid() -> None:
    documents = example_templates()
    assert [f"{d['name']}.json" for d in documents] == list(TEMPLATE_FILES)
    stored = stored_examples()
    for example in stored:
        names = [p["name"] for p in example["parameters"]]
        assert {"learning_rate", "epochs", "spec.Worker.replicas"} <= set(names)
        assert "python -m submarine.server.examples.sgd" in example["experimentSpec"]["meta"]["cmd"]
        assert all(p["required"] == "false" and p["value"] for p in example["parameters"])
