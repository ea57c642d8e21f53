"""Resource strings (``"cpu=1,memory=1024M,nvidia.com/gpu=1"``) and their typed form.

Submarine's server splits ``resources`` on ``,`` and ``=``, silently drops malformed
items and unknown keys, and computes the memory limit as
``int(memory[:-1]) * 2 + memory[-1]`` (a Java int, so the number is at most
1073741823). This module refuses everything the server
would drop or choke on, so a spec that validates here is one the server runs as written.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final

CPU: Final = "cpu"
MEMORY: Final = "memory"
GPU: Final = "nvidia.com/gpu"
RESOURCE_KEYS: Final = (CPU, MEMORY, GPU)
MEMORY_NUMBER_MAX: Final = 1073741823
"""The largest number before a memory unit: Submarine doubles it as a Java int."""

_CPU_RE = re.compile(r"^(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+|[0-9]+m)$")
_MEMORY_RE = re.compile(r"^[0-9]+[EPTGMK]$")
_GPU_RE = re.compile(r"^[0-9]+$")
_KEY_HINTS: Final = {
    "gpu": GPU,
    "gpus": GPU,
    "nvidia.com/gpus": GPU,
    "mem": MEMORY,
    "memory_mb": MEMORY,
    "ram": MEMORY,
    "cpus": CPU,
    "vcpu": CPU,
    "vcores": CPU,
}
_UNITS: Final = {"K": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6}


class ResourceError(ValueError):
    """A resource string or mapping that Submarine would not run as written."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def _check_item(key: str, value: str) -> str | None:
    """The problem with one ``key=value`` item, or None when it is valid."""
    if key == CPU:
        if not _CPU_RE.match(value) or _cpu_millis(value) == 0:
            return (
                f"cpu={value!r} is not a CPU quantity: use a positive number of cores "
                "('1', '0.5') or millicores ('500m')"
            )
    elif key == MEMORY:
        if not _MEMORY_RE.match(value):
            return (
                f"memory={value!r} is refused: write a whole number followed by exactly one "
                "unit letter of E, P, T, G, M, K (like '1024M' or '2G'); Submarine computes "
                "the memory limit from that form, so '1.5G', '1024Mi' or '512' fail there"
            )
        if int(value[:-1]) > MEMORY_NUMBER_MAX:
            return _memory_too_large(value)
    elif key == GPU:
        if not _GPU_RE.match(value):
            return f"nvidia.com/gpu={value!r} is not a whole number of GPUs (like '1')"
    else:
        hint = _KEY_HINTS.get(key.lower())
        suggestion = f"write {hint}={value} instead" if hint else "Submarine ignores any other key"
        return (
            f"unknown resource {key!r}: the keys are cpu, memory and nvidia.com/gpu; {suggestion}"
        )
    return None


def _memory_too_large(value: str) -> str:
    number, unit = int(value[:-1]), value[-1]
    units = list(_UNITS)
    larger = units.index(unit) + 1
    fix = (
        f"write it in a larger unit, like '{-(-number // 1024)}{units[larger]}'"
        if larger < len(units)
        else "ask for less"
    )
    return (
        f"memory={value!r} is refused: the number before the unit is at most "
        f"{MEMORY_NUMBER_MAX} (Submarine doubles it as a Java int for the memory limit, which "
        f"overflows above that); {fix}"
    )


def _cpu_millis(value: str) -> int:
    if value.endswith("m"):
        return int(value[:-1])
    return round(float(value) * 1000)


@dataclass(frozen=True)
class Resources:
    """Typed resource requests of one replica, in the order they were written.

    >>> r = Resources.parse("cpu=1,memory=1024M")
    >>> r.cpu, r.memory, r.gpu, str(r)
    ('1', '1024M', None, 'cpu=1,memory=1024M')
    """

    items: tuple[tuple[str, str], ...] = field(default=())

    @classmethod
    def of(
        cls, cpu: str | float | None = None, memory: str | None = None, gpu: int | None = None
    ) -> Resources:
        """Build resources from keyword values, validating each."""
        pairs: dict[str, object] = {CPU: cpu, MEMORY: memory, GPU: gpu}
        return cls.from_mapping({k: v for k, v in pairs.items() if v is not None})

    @classmethod
    def parse(cls, text: str) -> Resources:
        """Parse ``"cpu=1,memory=1024M"``; raise ``ResourceError`` naming every bad item."""
        problems: list[str] = []
        items: list[tuple[str, str]] = []
        if not text.strip():
            raise ResourceError(["resources is empty: write items like 'cpu=1,memory=1024M'"])
        for raw in text.split(","):
            item = raw.strip()
            key, sep, value = item.partition("=")
            key, value = key.strip(), value.strip()
            if not sep or not key or not value:
                problems.append(
                    f"{item!r} is not a key=value item (write items like 'cpu=1', joined by commas)"
                )
                continue
            problem = _check_item(key, value)
            if problem:
                problems.append(problem)
            elif any(k == key for k, _ in items):
                problems.append(f"{key} is given twice")
            else:
                items.append((key, value))
        if problems:
            raise ResourceError(problems)
        return cls(tuple(items))

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, object]) -> Resources:
        """Build resources from ``{"cpu": "1", "memory": "1024M"}``; numbers are accepted."""
        parts = []
        for key, value in mapping.items():
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise ResourceError([f"{key}={value!r} is not a string or a number"])
            parts.append(f"{key}={value}")
        return cls.parse(",".join(parts)) if parts else cls()

    @property
    def cpu(self) -> str | None:
        """The CPU request as written (``"1"``, ``"500m"``), or None."""
        return self.as_map().get(CPU)

    @property
    def memory(self) -> str | None:
        """The memory request as written (``"1024M"``), or None."""
        return self.as_map().get(MEMORY)

    @property
    def gpu(self) -> int | None:
        """The number of GPUs, or None."""
        value = self.as_map().get(GPU)
        return int(value) if value is not None else None

    @property
    def cpu_millis(self) -> int | None:
        """The CPU request in millicores (``"0.5"`` -> 500), or None."""
        return _cpu_millis(self.cpu) if self.cpu is not None else None

    @property
    def memory_bytes(self) -> int | None:
        """The memory request in bytes, with binary units as Kubernetes reads them."""
        if self.memory is None:
            return None
        return int(self.memory[:-1]) << (10 * _UNITS[self.memory[-1]])

    def as_map(self) -> dict[str, str]:
        """The ``resourceMap`` the server derives: ``{"cpu": "1", "memory": "1024M"}``."""
        return dict(self.items)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.items)

    def __str__(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.items)
