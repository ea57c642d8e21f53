"""What this machine can run at once (cpus, memory, gpus) and what an experiment asks for.

An experiment's request is the sum of its replicas' ``resources`` (a replica without
resources asks for nothing). The runner starts experiments first in, first out, while the
sum of the requests of those running fits the capacity (:meth:`Capacity.shortfalls` says what is
missing, if anything); :meth:`Capacity.problem` says when an experiment can never fit.

>>> machine = Capacity(cpu_millis=2000, memory_bytes=8 << 30, gpus=0)
>>> machine.problem(Request(cpu_millis=8000))
'needs cpu=8 but this machine has 2 cpus (override it with the cpus setting)'
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass

import psutil

from submarine.models import ExperimentSpec

__all__ = [
    "Capacity",
    "Request",
    "count_gpus",
    "detect_capacity",
    "format_bytes",
    "format_cpus",
    "request_of",
]


def format_cpus(millis: int) -> str:
    """Cores from millicores, written shortly: 8000 -> ``8``, 1500 -> ``1.5``."""
    return f"{millis / 1000:g}"


def format_bytes(size: int) -> str:
    """A byte count with a binary unit: ``17179869184`` -> ``16G``; ``1610612736`` -> ``1.5G``."""
    for unit, shift in (("E", 60), ("P", 50), ("T", 40), ("G", 30), ("M", 20), ("K", 10)):
        if size >= 1 << shift:
            return f"{size / (1 << shift):.3g}{unit}"
    return f"{size} bytes"


@dataclass(frozen=True)
class Request:
    """What an experiment (or one replica) asks for: millicores, bytes, whole gpus."""

    cpu_millis: int = 0
    """CPU in millicores (1000 = one core)."""
    memory_bytes: int = 0
    """Memory in bytes."""
    gpus: int = 0
    """Number of whole gpus."""

    def __add__(self, other: Request) -> Request:
        return Request(
            self.cpu_millis + other.cpu_millis,
            self.memory_bytes + other.memory_bytes,
            self.gpus + other.gpus,
        )

    def __sub__(self, other: Request) -> Request:
        return Request(
            self.cpu_millis - other.cpu_millis,
            self.memory_bytes - other.memory_bytes,
            self.gpus - other.gpus,
        )

    @classmethod
    def total(cls, requests: Iterable[Request]) -> Request:
        """The sum of several requests."""
        result = cls()
        for request in requests:
            result = result + request
        return result


def request_of(spec: ExperimentSpec) -> list[tuple[str, int, Request]]:
    """The request of every replica of a spec: ``(role, index, request)``."""
    result: list[tuple[str, int, Request]] = []
    for role, task in spec.spec.items():
        parsed = task.parsed_resources
        request = Request(parsed.cpu_millis or 0, parsed.memory_bytes or 0, parsed.gpu or 0)
        result.extend((role, index, request) for index in range(task.replicas))
    return result


@dataclass(frozen=True)
class Capacity:
    """The resources of the machine the server runs on.

    >>> Capacity(4000, 1 << 34, gpus=1).shortfalls(Request(cpu_millis=500))
    []
    """

    cpu_millis: int
    """CPU in millicores."""
    memory_bytes: int
    """Memory in bytes."""
    gpus: int
    """Number of gpus (indexes 0 to gpus - 1)."""

    def shortfalls(self, request: Request, in_use: Request = Request()) -> list[str]:
        """What ``request`` needs beyond what ``in_use`` leaves free; empty when it fits.

        >>> Capacity(2000, 1 << 30, 0).shortfalls(Request(cpu_millis=1500), Request(1000))
        ['needs 1.5 cpus, 1 free']
        """
        free = Request(self.cpu_millis, self.memory_bytes, self.gpus) - in_use
        found = []
        if request.cpu_millis > free.cpu_millis:
            found.append(
                f"needs {format_cpus(request.cpu_millis)} cpus, "
                f"{format_cpus(max(0, free.cpu_millis))} free"
            )
        if request.memory_bytes > free.memory_bytes:
            found.append(
                f"needs {format_bytes(request.memory_bytes)} of memory, "
                f"{format_bytes(max(0, free.memory_bytes))} free"
            )
        if request.gpus > free.gpus:
            found.append(f"needs {request.gpus} gpus, {max(0, free.gpus)} free")
        return found

    def problem(self, request: Request) -> str | None:
        """Why ``request`` can never fit this machine (need and capacity), or None."""
        problems = []
        if request.cpu_millis > self.cpu_millis:
            problems.append(
                f"needs cpu={format_cpus(request.cpu_millis)} but this machine has "
                f"{format_cpus(self.cpu_millis)} cpus (override it with the cpus setting)"
            )
        if request.memory_bytes > self.memory_bytes:
            problems.append(
                f"needs memory={format_bytes(request.memory_bytes)} but this machine has "
                f"{format_bytes(self.memory_bytes)} of memory "
                "(override it with the memory setting)"
            )
        if request.gpus > self.gpus:
            problems.append(
                f"needs nvidia.com/gpu={request.gpus} but this machine has {self.gpus} gpus "
                "(override it with the gpus setting)"
            )
        return "; ".join(problems) or None


_GPU_LINE = re.compile(r"^GPU \d+:", re.MULTILINE)


def count_gpus(device_paths: Iterable[str], nvidia_smi_output: str | None) -> int:
    """The number of gpus from ``/dev/nvidia<N>`` device files, else ``nvidia-smi -L`` lines."""
    devices = [p for p in device_paths if re.fullmatch(r".*/nvidia[0-9]+", p)]
    if devices:
        return len(devices)
    if nvidia_smi_output:
        return len(_GPU_LINE.findall(nvidia_smi_output))
    return 0


def _nvidia_smi() -> str | None:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        done = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def detect_capacity(
    cpus: float | None = None, memory_bytes: int | None = None, gpus: int | None = None
) -> Capacity:
    """This machine's capacity; each value given overrides what is detected.

    cpus: ``os.cpu_count()`` (psutil's count when that is unknown); memory: total physical
    memory; gpus: ``/dev/nvidia[0-9]*`` devices, else the lines of ``nvidia-smi -L``, else 0.
    """
    if cpus is None:
        cpus = float(os.cpu_count() or psutil.cpu_count() or 1)
    if memory_bytes is None:
        memory_bytes = int(psutil.virtual_memory().total)
    if gpus is None:
        devices = glob.glob("/dev/nvidia[0-9]*")
        gpus = count_gpus(devices, None if devices else _nvidia_smi())
    return Capacity(cpu_millis=round(cpus * 1000), memory_bytes=memory_bytes, gpus=gpus)
