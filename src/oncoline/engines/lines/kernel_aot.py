"""The line kernel compiled ahead of time: a process loads it in milliseconds instead of starting numba.

numba's on-disk cache (``cache=True``) still imports numba and sets up LLVM in every process — about 0.8 s of
CPU time, more than a DuckDB sort of 10^6 rows. The same pass, compiled once with ``numba.pycc`` into a small
extension module, loads in about 0.05 s and needs neither numba nor LLVM at run time.

- :func:`load` returns the ahead-of-time kernel when a module built from *this* kernel source, Python and
  platform exists (:func:`key`), else None (the caller falls back to numba's just-in-time pass).
- :func:`build` compiles it (about 12 s, once; needs numba and a C compiler): ``python -m
  oncoline.engines.lines.kernel``. When it is missing, the first run starts that build as a detached
  background process (:func:`build_in_background`) and uses the just-in-time pass meanwhile; set
  ``ONCOLINE_NO_AOT=1`` to never build or load it.

The kernel's functions are passed in (this module does not import :mod:`oncoline.engines.lines.kernel`,
which imports it).

The module is written next to numba's cache (the package's ``__pycache__``) when that is writable, else under
``$XDG_CACHE_HOME/oncoline`` (``~/.cache/oncoline``). Both engines and every test run the same pass either
way; ``tests/engines/lines/test_kernel.py`` checks the two agree.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["SIGNATURE", "build", "build_in_background", "key", "load"]

_NAME = "oncoline_lines_kernel"
_BUILDS: list[subprocess.Popen[bytes]] = []  # background builds started by this process
SIGNATURE = (
    "i8(i8[::1], i4[::1], i4[::1], i4[::1], i1[::1], i4[::1], b1[::1], b1[::1], i8[::1], i8, i8, i8, i8, i8, b1, i8,"
    " i4[::1], i8[::1], i4[::1], i4[::1], i4[::1], i4[::1], i4[::1], i4[::1], i1[::1], i1[::1], i1[::1], i8[:, ::1])"
)
"""The exported kernel's numba signature (the argument order of ``kernel._kernel_py``)."""


def key(*functions: Callable[..., Any]) -> str:
    """A short hash of the kernel functions' source, the signature, the Python version and the platform."""
    text = "\n".join(
        [
            *(inspect.getsource(fn) for fn in functions),
            SIGNATURE,
            sys.version,
            platform.machine(),
            platform.system(),
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _directories() -> list[Path]:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "oncoline"
    return [Path(__file__).resolve().parent / "__pycache__", cache]


def _file_name(k: str) -> str:
    return f"{_NAME}-{k}.so"


def load(*functions: Callable[..., Any]) -> Callable[..., Any] | None:
    """The ahead-of-time kernel built from ``functions`` (their source) for this interpreter, or None (not
    built, or switched off)."""
    if os.environ.get("ONCOLINE_NO_AOT"):
        return None
    k = key(*functions)
    for directory in _directories():
        path = directory / _file_name(k)
        if path.exists():
            spec = importlib.util.spec_from_file_location(_NAME, path)
            if spec is None or spec.loader is None:
                continue
            try:
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
            except ImportError:
                continue
            fn: Callable[..., Any] = module.kernel
            return fn
    return None


def _target() -> Path | None:
    for directory in _directories():
        try:
            directory.mkdir(parents=True, exist_ok=True)
            probe = directory / f".{_NAME}-probe-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError:
            continue
        return directory
    return None


def build(kernel_py: Callable[..., Any], close_line_py: Callable[..., Any], directory: Path | None = None) -> Path:
    """Compile ``kernel_py`` (which calls ``close_line_py`` through its module's ``_close_line``) ahead of
    time; returns the module file.

    Raises
    ------
    RuntimeError
        When numba (``pycc``) or a C compiler is missing, or no cache directory is writable.
    """
    import tempfile
    import warnings

    target = directory or _target()
    if target is None:
        raise RuntimeError("no writable directory for the compiled kernel")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba.pycc is deprecated in favour of a successor not released yet
        from numba import njit

        cc_class: Any = importlib.import_module("numba.pycc").CC  # untyped
        kernel_py.__globals__["_close_line"] = njit(close_line_py)  # the exported kernel calls it compiled
        k = key(kernel_py, close_line_py)
        with tempfile.TemporaryDirectory(prefix="oncoline-aot-") as tmp:
            cc = cc_class(_NAME)
            cc.output_dir = tmp
            cc.output_file = _file_name(k)
            cc.verbose = False
            cc.export("kernel", SIGNATURE)(kernel_py)
            cc.compile()
            final = target / _file_name(k)
            os.replace(Path(tmp) / _file_name(k), final)  # atomic: a reader never sees half a module
    return final


def build_in_background(*functions: Callable[..., Any]) -> None:
    """Start :func:`build` as a detached process, once per kernel source (a marker file keeps a failed or
    running build from being started again); returns at once. Does nothing with ``ONCOLINE_NO_AOT`` set."""
    if os.environ.get("ONCOLINE_NO_AOT"):
        return
    target = _target()
    if target is None:
        return
    marker = target / f"{_NAME}-{key(*functions)}.started"
    try:
        with open(marker, "x", encoding="utf-8") as fh:
            fh.write(str(os.getpid()))
    except OSError:  # started before (or failed): do not try again for this source
        return
    # the handle is kept for the life of the process: dropping it while the build runs raises a ResourceWarning
    # ("subprocess … is still running"), an error under the test suite's warnings-as-errors (found by the fuzzer)
    _BUILDS.append(
        subprocess.Popen(
            [sys.executable, "-m", "oncoline.engines.lines.kernel", str(target)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )
    )
