"""Row-array helpers shared by the DuckDB line engine's steps (:mod:`~oncoline.engines.lines.prepare`,
:mod:`~oncoline.engines.lines.kernel_run`, :mod:`~oncoline.engines.lines.assemble`): work on halves of the rows
on two threads, row gathers on a pool, and the sizes that bound temporaries and packed sort keys.

Arrow and numpy release the GIL, so a step cut in halves of the rows (or two independent columns) runs on two
cores; a step's result never depends on whether a pool was given. Module attributes are read at call time (tests
lower :data:`SPLIT_MIN_ROWS` and :data:`PACK_BITS` to reach the threaded and the SQL paths on small inputs).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import TypeVar

import numpy as np
import numpy.typing as npt

__all__ = ["BLOCK", "PACK_BITS", "SPLIT_MIN_ROWS", "each_half", "gather", "halves", "submit"]

BLOCK = 1 << 20
"""Rows per block where a step works block by block to keep its temporaries small."""

PACK_BITS = 63
"""Sort keys that fit in this many bits are packed into one int64 (tests lower it to reach the SQL sort)."""

SPLIT_MIN_ROWS = 200_000
"""Row-wise work on at least this many rows is cut in halves for two threads (when a pool is given)."""

_T = TypeVar("_T")
_A = TypeVar("_A", bound=np.generic)


def submit(pool: Executor | None, fn: Callable[[], _T]) -> Future[_T]:
    """``fn`` on the pool, or run now (no pool); the result is read with ``.result()`` either way."""
    if pool is not None:
        return pool.submit(fn)
    done: Future[_T] = Future()
    try:
        done.set_result(fn())
    except BaseException as exc:  # raised again by .result(), as from the pool
        done.set_exception(exc)
    return done


def gather(values: npt.NDArray[_A], rows: npt.NDArray[np.int64]) -> npt.NDArray[_A]:
    """``values[rows]`` (a function, to run on a pool)."""
    return values[rows]


def halves(fn: Callable[[int, int], _T], n: int, pool: Executor) -> list[_T]:
    """``[fn(0, n // 2), fn(n // 2, n)]``, the first on the pool beside the second in this thread."""
    first = pool.submit(fn, 0, n // 2)
    second = fn(n // 2, n)
    return [first.result(), second]


def each_half(fn: Callable[[int, int], None], n: int, pool: Executor | None) -> None:
    """``fn(0, n)``, as ``fn(0, n // 2)`` on the pool beside ``fn(n // 2, n)`` in this thread from
    :data:`SPLIT_MIN_ROWS` rows with a pool (``fn`` writes rows ``lo:hi`` of its outputs)."""
    if pool is None or n < SPLIT_MIN_ROWS:
        fn(0, n)
    else:
        halves(fn, n, pool)
