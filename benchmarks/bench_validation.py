"""Goal 5: spec validation throughput, against ``json.loads`` of the same spec text.

Three ways in: a JSON document (``model_validate_json``), a dict already parsed
(``model_validate``), and an invalid spec whose every problem is collected and rendered
(the error path users see). Figures are specs per second; the ratio is time per spec over
the time ``json.loads`` takes for the same text.
"""

from __future__ import annotations

import json
from typing import Any

from benchmarks.context import Context
from benchmarks.harness import Row, measure_pair
from benchmarks.servers import BENCH_SPEC

__all__ = ["INVALID_SPEC", "run"]

INVALID_SPEC: dict[str, Any] = {
    "meta": {"name": "bad name!", "framework": "TensorFlow", "cmd": "python train.py"},
    "environment": {"image": "tf:2"},
    "spec": {
        "Worker": {"replicas": 0, "resources": "cpu=1,memory=1.5G"},
        "Chief": {"replicas": 2, "replica": 1},
    },
}
"""Five problems: a bad name, replicas 0, a bad memory value, two Chiefs, a typo'd key."""


def _rate_row(key: str, what: str, pair: Any) -> Row:
    return Row(
        key,
        what,
        "`json.loads` of the same text",
        "/s",
        pair.candidate.inverted(),
        pair.baseline.inverted(),
        pair.ratio,
        None,
    )


def run(ctx: Context) -> None:
    """Validate specs in a tight loop, alternating with ``json.loads``."""
    from pydantic import ValidationError

    from submarine.models import ExperimentSpec, problems_of

    text = json.dumps(BENCH_SPEC)
    bad_text = json.dumps(INVALID_SPEC)
    parsed = json.loads(text)
    inner = ctx.size(2000, 20)
    repeats = ctx.size(9, 2)

    ctx.log("validation: model_validate_json")
    pair = measure_pair(
        lambda: ExperimentSpec.model_validate_json(text),
        lambda: json.loads(text),
        repeats=repeats,
        inner=inner,
    )
    ctx.add(_rate_row("5.1", "spec validation from JSON text (specs/s)", pair))

    ctx.log("validation: model_validate of a dict")
    pair = measure_pair(
        lambda: ExperimentSpec.model_validate(parsed),
        lambda: json.loads(text),
        repeats=repeats,
        inner=inner,
    )
    ctx.add(_rate_row("5.2", "spec validation from a dict (specs/s)", pair))

    def invalid() -> int:
        try:
            ExperimentSpec.model_validate_json(bad_text)
        except ValidationError as exc:
            return len([str(p) for p in problems_of(exc)])
        raise AssertionError("the invalid spec validated")

    problems = invalid()
    ctx.log("validation: invalid spec, every problem rendered")
    pair = measure_pair(invalid, lambda: json.loads(bad_text), repeats=repeats, inner=inner // 4)
    ctx.add(
        _rate_row(
            "5.3", f"invalid spec: all {problems} problems found and rendered (specs/s)", pair
        )
    )
