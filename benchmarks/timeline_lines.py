"""Timeline of one whole ``oncoline lines`` process: where the wall time goes and how many cores are busy.

``python -m benchmarks lines-timeline EXPOSURES --index INDEX --out OUT [oncoline lines options]`` runs the
command in this process, as the console script does (the command is the whole process), while a thread samples
the CPU time of every thread of the process from ``/proc/self/task/*/stat`` (Linux) every ``--tick`` seconds.
The engine's steps are wrapped with timers (wall and the calling thread's CPU time). Printed to stderr: each step
(start, end, wall, thread CPU, thread), then for each step of the main thread and the gaps between them the CPU
seconds of the whole process and of the main thread — a phase whose process CPU is close to its main-thread CPU
ran on one core. ``--buckets`` adds, per interval, the cores busy, the resident memory and the busiest threads.

The probe adds a little CPU (the sampler); compare phases, not totals, with ``python -m benchmarks lines``.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["main"]

_STEPS = {
    "oncoline.io.exposures": ("read_table", "write_table"),
    "oncoline.io.cohort_index": ("check_index_rows", "check_index_covers"),
    "oncoline.app.lines": ("write_lines_table", "_summary"),
    "oncoline.engines.lines.prepare": ("prepare_kernel_input", "_encode", "_days", "_reason_rows"),
    "oncoline.engines.lines.kernel_run": ("run_kernel_handing_over", "_sorted_order"),
    "oncoline.engines.lines.duckdb_engine": ("derive_lines_cohort",),
    "oncoline.engines.lines.kernel": ("assign_lines",),
    "oncoline.cli.lines": ("_print_summary", "print_json"),
}
"""Module → functions timed (looked up at call time by their callers, so rebinding the module attribute works)."""

_PHASES = (
    "check_index_rows",
    "check_index_covers",
    "prepare_kernel_input",
    "run_kernel_handing_over",
    "write_lines_table",
    "_summary",
    "_print_summary",
    "print_json",
)
"""Steps of the main thread shown as phases."""


def main(argv: list[str]) -> int:
    """Run ``oncoline lines`` with ``argv`` (after the probe's own options) and print its timeline."""
    tick, buckets = 0.01, 0.0
    while argv and argv[0] in ("--tick", "--buckets"):
        value = float(argv[1])
        tick, buckets = (value, buckets) if argv[0] == "--tick" else (tick, value)
        argv = argv[2:]
    t0 = time.perf_counter()
    clock_tick = os.sysconf("SC_CLK_TCK")
    samples: list[tuple[float, dict[int, int], int]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            per_thread: dict[int, int] = {}
            for tid in os.listdir("/proc/self/task"):
                try:
                    stat = open(f"/proc/self/task/{tid}/stat").read()  # noqa: SIM115 - closed by refcount
                except OSError:
                    continue
                fields = stat[stat.rindex(")") + 2 :].split()
                per_thread[int(tid)] = int(fields[11]) + int(fields[12])
            rss = int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 2**20  # noqa: SIM115
            samples.append((time.perf_counter() - t0, per_thread, rss))
            time.sleep(tick)

    threading.Thread(target=sample, daemon=True).start()
    steps: list[tuple[str, str, float, float, float]] = []

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            start, cpu = time.perf_counter() - t0, time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                end = time.perf_counter() - t0
                steps.append((name, threading.current_thread().name, start, end, time.thread_time() - cpu))

        return run

    import importlib

    import __main__
    from oncoline.cli import app

    __main__.main = app.main  # the command is the whole process (see cli.lines)
    for module_name, names in _STEPS.items():
        module = importlib.import_module(module_name)
        for name in names:
            if hasattr(module, name):
                setattr(module, name, timed(name, getattr(module, name)))
    sys.argv = ["oncoline", "lines", *argv]
    try:
        app.main()
    except SystemExit as exc:
        if exc.code not in (0, None):
            return int(exc.code) if isinstance(exc.code, int) else 1
    total = time.perf_counter() - t0
    stop.set()
    _report(steps, samples, total, clock_tick, buckets)
    return 0


def _report(
    steps: list[tuple[str, str, float, float, float]],
    samples: list[tuple[float, dict[int, int], int]],
    total: float,
    clock_tick: int,
    buckets: float,
) -> None:
    out = sys.stderr
    main_tid = os.getpid()
    print(f"whole run (from the probe's start): {total:.3f} s wall, {time.process_time():.3f} s CPU", file=out)
    print("  start     end    wall  thread CPU  thread                step", file=out)
    for name, thread, a, b, cpu in sorted(steps, key=lambda s: s[2]):
        print(f"{a:7.3f} {b:7.3f} {b - a:7.3f} {cpu:11.3f}  {thread[:20]:20}  {name}", file=out)

    def at(t: float) -> tuple[float, dict[int, int], int] | None:
        found = samples[0] if samples else None
        for s in samples:
            if s[0] > t:
                break
            found = s
        return found

    def cpu_between(a: float, b: float) -> tuple[float, float]:
        sa, sb = at(a), at(b)
        if sa is None or sb is None:
            return 0.0, 0.0
        everything = sum(sb[1].values()) - sum(c for tid, c in sa[1].items() if tid in sb[1])
        main = sb[1].get(main_tid, 0) - sa[1].get(main_tid, 0)
        return everything / clock_tick, main / clock_tick

    print("phases of the main thread (and the gaps between them): wall, process CPU, main-thread CPU", file=out)
    last = 0.0
    phases = [s for s in sorted(steps, key=lambda s: s[2]) if s[1] == "MainThread" and s[0] in _PHASES]
    for name, _, a, b, _ in phases:
        if a - last > 0.005:
            every, main = cpu_between(last, a)
            print(
                f"{last:7.3f}-{a:7.3f} {a - last:6.3f} s  process {every:5.2f}  main {main:5.2f}  (before {name})",
                file=out,
            )
        every, main = cpu_between(a, b)
        print(f"{a:7.3f}-{b:7.3f} {b - a:6.3f} s  process {every:5.2f}  main {main:5.2f}  {name}", file=out)
        last = b
    if buckets <= 0 or not samples:
        return
    print("intervals: cores busy, resident MB, busiest threads (thread id: CPU s)", file=out)
    base = samples[0]
    for s in samples[1:]:
        if s[0] - base[0] < buckets:
            continue
        used = {tid: (c - base[1].get(tid, 0)) / clock_tick for tid, c in s[1].items()}
        busy = sorted(((v, tid) for tid, v in used.items() if v), reverse=True)[:4]
        shown = " ".join(f"{tid}:{v:.2f}" for v, tid in busy)
        cores = sum(used.values()) / (s[0] - base[0])
        print(f"{base[0]:7.3f}-{s[0]:7.3f} cores {cores:4.2f} rss {s[2]:6d}  {shown}", file=out)
        base = s


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
