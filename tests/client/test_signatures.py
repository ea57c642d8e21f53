"""The two clients are mirrors: the same public methods, with the same parameters."""

from __future__ import annotations

import inspect
import typing

import httpx

from submarine.client import AsyncExperimentClient, ExperimentClient

THREAD_POOL_CALLS = {"get_experiment_async", "list_experiments_async", "delete_experiment_async"}
"""0.8.0's calls on a thread pool: the blocking client's only (asyncio awaits the plain ones)."""


def public_methods(cls: type) -> dict[str, object]:
    return {
        name: member
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_") and name not in THREAD_POOL_CALLS
    }


def test_only_the_blocking_client_has_the_thread_pool_calls():
    assert set(dir(ExperimentClient)) >= THREAD_POOL_CALLS
    assert not THREAD_POOL_CALLS & set(dir(AsyncExperimentClient))


def test_same_public_method_names():
    assert set(public_methods(ExperimentClient)) == set(public_methods(AsyncExperimentClient))
    assert {
        "create_experiment",
        "patch_experiment",
        "get_experiment",
        "list_experiments",
        "delete_experiment",
        "get_log",
        "list_log",
        "wait_for_finish",
        "ping",
        "stream_logs",
        "close",
    } <= set(public_methods(ExperimentClient))


def test_same_parameters_and_return_types():
    sync_methods = public_methods(ExperimentClient)
    async_methods = public_methods(AsyncExperimentClient)
    for name, sync_method in sync_methods.items():
        async_method = async_methods[name]
        sync_sig = inspect.signature(sync_method)
        async_sig = inspect.signature(async_method)
        assert sync_sig.parameters == async_sig.parameters, name
        sync_return = str(sync_sig.return_annotation)
        async_return = str(async_sig.return_annotation)
        if name == "stream_logs":
            assert sync_return == "LogStream"
            assert async_return == "AsyncLogStream"
            assert not inspect.iscoroutinefunction(async_method)
        elif name in ("iter_metrics", "iter_params"):
            assert f"Async{sync_return}" == async_return, name
            assert sync_return.startswith("Iterator["), name
            assert not inspect.iscoroutinefunction(async_method), name
        else:
            assert sync_return == async_return, name
            assert inspect.iscoroutinefunction(async_method), name
            assert not inspect.iscoroutinefunction(sync_method), name


def test_same_constructor_except_the_transport_type():
    sync_params = dict(inspect.signature(ExperimentClient.__init__).parameters)
    async_params = dict(inspect.signature(AsyncExperimentClient.__init__).parameters)
    assert list(sync_params) == list(async_params)
    sync_transport = sync_params.pop("transport")
    async_transport = async_params.pop("transport")
    assert sync_params == async_params
    assert sync_transport.default is None
    assert async_transport.default is None
    # httpx is imported for type checkers only (it loads with the first client), so its
    # names are supplied here, as documentation tools do for such imports.
    hints_sync = typing.get_type_hints(ExperimentClient.__init__, localns={"httpx": httpx})
    hints_async = typing.get_type_hints(AsyncExperimentClient.__init__, localns={"httpx": httpx})
    assert hints_sync["transport"] == httpx.BaseTransport | None
    assert hints_async["transport"] == httpx.AsyncBaseTransport | None


def test_seed_signatures_are_kept():
    params = inspect.signature(ExperimentClient.get_log).parameters
    assert list(params)[:3] == ["self", "id", "onlyMaster"]
    assert params["onlyMaster"].default is False
    wait = inspect.signature(ExperimentClient.wait_for_finish).parameters
    assert list(wait)[:4] == ["self", "id", "polling_interval", "timeout"]
    assert wait["polling_interval"].default == 10
    assert wait["raise_on_failure"].kind is inspect.Parameter.KEYWORD_ONLY
    init = inspect.signature(ExperimentClient.__init__).parameters
    assert init["max_retries"].default == 2
    assert init["host"].default is None


def test_the_mirrors_document_their_methods_alike():
    sync_methods = public_methods(ExperimentClient)
    async_methods = public_methods(AsyncExperimentClient)
    for name, sync_method in sync_methods.items():
        sync_doc = inspect.getdoc(sync_method) or ""
        async_doc = inspect.getdoc(async_methods[name]) or ""
        if name in ("stream_logs", "iter_metrics"):  # their examples iterate with async for
            async_doc = async_doc.replace(">>> async for", ">>> for")
        assert sync_doc == async_doc, name


def test_every_public_method_has_a_docstring():
    for cls in (ExperimentClient, AsyncExperimentClient):
        assert cls.__doc__
        for name, method in public_methods(cls).items():
            assert inspect.getdoc(method), f"{cls.__name__}.{name}"
