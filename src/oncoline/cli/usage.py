"""How much of the machine a command used: wall time, CPU time of the whole process tree, cores used.

A door concern (the CLI reports it under a cohort run so a user can see whether both cores worked); engines and
the application layer never read the clock.

The CPU time counts this process, its children that have ended (``RUSAGE_CHILDREN``) and, on Linux, every
descendant still running — Spark's JVM and its Python workers stay alive until the interpreter exits, and
``/usr/bin/time`` does not count them. Elsewhere (no ``/proc``) the live descendants are left out and the figure
says so.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Usage", "UsageClock", "available_cores", "tree_cpu_seconds"]

_PROC = Path("/proc")


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the platform has one, else ``os.cpu_count()``)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _descendants_cpu_seconds(root: int) -> float | None:
    """CPU seconds (user + system, with their own ended children) of the live descendants of ``root``.

    ``None`` where ``/proc`` cannot be read. A process that ends while it is read is skipped.
    """
    if not (_PROC / str(root) / "stat").exists():
        return None
    tick = os.sysconf("SC_CLK_TCK")
    parent: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # ended meanwhile, or not ours to read
            continue
        # the command name (field 2) is in parentheses and may hold spaces: split after its closing one
        fields = stat[stat.rfind(")") + 2 :].split()
        pid = int(entry.name)
        parent[pid] = int(fields[1])
        # fields 14-17 of stat (utime, stime, cutime, cstime) are 11-14 here, after the name and the state
        ticks[pid] = sum(int(v) for v in fields[11:15])
    children: dict[int, list[int]] = {}
    for pid, ppid in parent.items():
        children.setdefault(ppid, []).append(pid)
    total = 0
    stack = list(children.get(root, []))
    while stack:
        pid = stack.pop()
        total += ticks[pid]
        stack.extend(children.get(pid, []))
    return total / tick


def tree_cpu_seconds() -> tuple[float, bool]:
    """CPU seconds used so far by this process and everything it started, and whether live descendants counted.

    Returns
    -------
    (seconds, complete)
        ``seconds``: user + system time of this process, its ended children and (on Linux) its live
        descendants. ``complete`` is ``False`` where live descendants could not be read.
    """
    own = resource.getrusage(resource.RUSAGE_SELF)
    ended = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds = own.ru_utime + own.ru_stime + ended.ru_utime + ended.ru_stime
    live = _descendants_cpu_seconds(os.getpid())
    return seconds + (live or 0.0), live is not None


@dataclass(frozen=True)
class Usage:
    """What a piece of work used: ``wall_s`` and ``cpu_s`` in seconds, ``cores`` available to the process."""

    wall_s: float
    cpu_s: float
    cores: int
    complete: bool

    @property
    def cores_used(self) -> float:
        """Average cores busy over the wall time (``cpu_s / wall_s``; 0 for an instant)."""
        return self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0

    def describe(self) -> str:
        """One line for a person: ``"4.6 s, CPU 8.1 s: 1.76 of 2 cores on average"``."""
        note = "" if self.complete else " (worker processes still running not counted)"
        return (
            f"{self.wall_s:,.1f} s, CPU {self.cpu_s:,.1f} s{note}: "
            f"{self.cores_used:.2f} of {self.cores} core{'s' if self.cores != 1 else ''} on average"
        )


class UsageClock:
    """Measures the work between its creation and :meth:`stop` (wall clock and process-tree CPU time)."""

    def __init__(self) -> None:
        self._wall = time.perf_counter()
        self._cpu, _ = tree_cpu_seconds()

    def stop(self) -> Usage:
        """The usage since the clock started."""
        cpu, complete = tree_cpu_seconds()
        return Usage(time.perf_counter() - self._wall, cpu - self._cpu, available_cores(), complete)
