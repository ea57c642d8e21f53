"""Hypothesis strategies for experiment payloads as a server might send them: valid, odd
and wrong, shared by the payload-parsing tests."""

from __future__ import annotations

from hypothesis import strategies as st

from submarine.models import ExperimentStatus

__all__ = ["experiments", "specs", "tasks"]

text = st.text(max_size=12)
maybe = st.one_of(st.none(), text)
times = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "2023-05-23T09:01:12Z",
            "2022-03-14T16:03:10.000+08:00",
            "2021-07-13T21:29:33.000Z",
            "yesterday",
        ]
    ),
)
tasks = st.fixed_dictionaries(
    {"replicas": st.one_of(st.integers(-2, 5), st.just("2"))},
    optional={
        "resources": st.sampled_from(["cpu=1,memory=1024M", "gpu=1", "memory=1.5G", ""]),
        "resourceMap": st.dictionaries(st.sampled_from(["cpu", "memory"]), text, max_size=2),
        "cmd": maybe,
        "envVars": st.one_of(st.none(), st.dictionaries(text, text, max_size=2)),
        "image": maybe,
        "somethingNew": st.integers(),
    },
)
specs = st.fixed_dictionaries(
    {
        "meta": st.fixed_dictionaries(
            {"name": text, "framework": st.sampled_from(["TensorFlow", "pytorch", "Caffe"])},
            optional={
                "experimentId": maybe,
                "namespace": maybe,
                "cmd": maybe,
                "tags": st.lists(text, max_size=2),
                "envVars": st.dictionaries(text, text, max_size=2),
            },
        ),
        "environment": st.fixed_dictionaries(
            {},
            optional={
                "image": maybe,
                "name": maybe,
                "kernelSpec": st.one_of(
                    st.none(), st.fixed_dictionaries({"name": text, "channels": st.lists(text)})
                ),
            },
        ),
        "spec": st.dictionaries(
            st.sampled_from(["Ps", "Worker", "worker", "Driver"]), tasks, max_size=3
        ),
    },
    optional={
        "code": st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {"syncMode": st.sampled_from(["git", "hdfs"])},
                optional={"git": st.fixed_dictionaries({"url": text})},
            ),
        ),
        "experimentHandlerSpec": st.dictionaries(text, text, max_size=2),
    },
)
experiments = st.fixed_dictionaries(
    {"experimentId": text},
    optional={
        "uid": maybe,
        "name": maybe,
        "status": st.one_of(st.sampled_from([s.value for s in ExperimentStatus]), text),
        "acceptedTime": times,
        "finishedTime": times,
        "spec": st.one_of(st.none(), specs),
        "unknownField": st.one_of(st.integers(), text),
    },
)
