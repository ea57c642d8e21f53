"""Varied specs and payloads in the shapes API.md documents, for the model tests."""

from __future__ import annotations

import copy
from typing import Any

SEED_SPEC: dict[str, Any] = {
    "meta": {
        "name": "tf-mnist-json",
        "namespace": "default",
        "framework": "TensorFlow",
        "cmd": "python /var/tf_mnist/mnist_with_summaries.py --log_dir=/train/log "
        "--learning_rate=0.01 --batch_size=150",
        "envVars": {"ENV_1": "ENV1"},
    },
    "environment": {"image": "apache/submarine:tf-mnist-with-summaries-1.0"},
    "spec": {
        "Ps": {"replicas": 1, "resources": "cpu=1,memory=1024M"},
        "Worker": {"replicas": 1, "resources": "cpu=1,memory=1024M"},
    },
}

VALID_SPECS: dict[str, dict[str, Any]] = {
    "seed": SEED_SPEC,
    "tf-every-role": {
        "meta": {"name": "tf.all_roles-1", "framework": "TensorFlow", "cmd": "python train.py"},
        "environment": {"image": "tf:2"},
        "spec": {
            "Ps": {"replicas": 2, "resources": "cpu=500m,memory=512M"},
            "Worker": {"replicas": 4, "resources": "cpu=1,memory=2G,nvidia.com/gpu=1"},
            "Chief": {"replicas": 1, "resources": "cpu=1"},
            "Evaluator": {"replicas": 1, "resources": "memory=1G", "cmd": "python eval.py"},
        },
        "code": {"syncMode": "git", "git": {"url": "https://example.com/repo.git"}},
    },
    "tf-master": {
        "meta": {"name": "m", "framework": "tensorflow", "cmd": "true", "tags": ["a", "b"]},
        "environment": {"name": "my-env", "image": "tf:2"},
        "spec": {
            "Master": {"replicas": 1, "resources": "cpu=1"},
            "Worker": {"replicas": 2, "resources": "cpu=1"},
        },
    },
    "pytorch": {
        "meta": {"name": "torch-ddp", "framework": "PyTorch", "cmd": "python ddp.py"},
        "environment": {
            "name": "torch-env",
            "dockerImage": "pytorch:2",
            "image": "pytorch:2",
            "kernelSpec": {
                "name": "team",
                "channels": ["defaults"],
                "condaDependencies": ["numpy=1.24"],
                "pipDependencies": ["torch==2.1"],
            },
        },
        "spec": {
            "Master": {"replicas": 1, "resources": "cpu=2,memory=4G"},
            "Worker": {"replicas": 3, "resources": "cpu=2,memory=4G,nvidia.com/gpu=2"},
        },
    },
    "xgboost-role-images": {
        "meta": {"name": "xgb", "framework": "XGBOOST"},
        "environment": {},
        "spec": {
            "master": {
                "replicas": 1,
                "resources": "cpu=1",
                "image": "xgb:1",
                "cmd": "python xgb.py",
            },
            "worker": {
                "replicas": 2,
                "resources": "cpu=1",
                "image": "xgb:1",
                "cmd": "python xgb.py --worker",
                "envVars": {"OMP_NUM_THREADS": "1", "my.var-x": "y"},
            },
        },
        "code": {
            "syncMode": "git",
            "git": {
                "url": "https://example.com/private.git",
                "branch": "dev",
                "username": "u",
                "password": "p",
                "trustCerts": True,
            },
        },
    },
    "workbench-form": {
        "meta": {
            "name": "mnist-form",
            "namespace": "default",
            "framework": "TensorFlow",
            "cmd": "python /var/tf_mnist/mnist_with_summaries.py --log_dir=/train/log",
            "envVars": {"ENV1": "ENV1"},
        },
        "environment": {"image": "apache/submarine:tf-mnist-with-summaries-1.0"},
        "spec": {
            "Ps": {"replicas": "1", "resources": "cpu=1,memory=1024M"},
            "Worker": {"replicas": 1, "resources": "cpu=1,memory=1024M", "envVars": {"N": 1}},
        },
        "code": {"git": {"url": "https://github.com/apache/submarine.git", "branch": None}},
    },
}
"""Specs the model accepts, in the shapes users and Submarine 0.8.0's own tools write."""


def spec(**changes: Any) -> dict[str, Any]:
    """A deep copy of the seed spec with dotted paths changed (None deletes)."""
    data = copy.deepcopy(SEED_SPEC)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        target = data
        for part in parents:
            target = target.setdefault(part, {})
        if value is None:
            target.pop(last, None)
        else:
            target[last] = value
    return data
