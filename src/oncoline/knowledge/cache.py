"""A validated on-disk cache of the loaded knowledge, so that a command starts without re-reading and
re-validating the YAML files each time.

The cache key is the SHA-256 of every file the result depends on — the knowledge data files and the Python
modules that validate and model them (``knowledge/``, ``model/``) — plus the oncoline, Python and pydantic
versions. Any change to any of them gives a new key, so a cached result is never stale: it is rebuilt by the
full validating loader and written again. Each cache file also carries the SHA-256 of its payload; a file that
is truncated, corrupt or written for another key is ignored and rebuilt. A cache directory that cannot be
written only costs speed, never correctness.

Location: ``$ONCOLINE_CACHE_DIR``, else ``$XDG_CACHE_HOME/oncoline``, else ``~/.cache/oncoline``;
``ONCOLINE_CACHE_DIR=off`` disables the cache.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
import tempfile
from collections.abc import Callable, Iterable
from functools import cache, lru_cache
from pathlib import Path
from typing import TypeVar

__all__ = ["cache_dir", "cached", "packaged_inputs", "source_key"]

T = TypeVar("T")
_MAGIC = b"oncoline-cache-1\n"


def cache_dir() -> Path | None:
    """Where cache files go, or None when caching is off (``ONCOLINE_CACHE_DIR=off``)."""
    given = os.environ.get("ONCOLINE_CACHE_DIR")
    if given:
        return None if given.lower() in ("off", "0", "none") else Path(given)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "oncoline"


@cache
def packaged_inputs() -> tuple[Path, ...]:
    """The files the packaged knowledge depends on: ``knowledge/data/**`` and the ``.py`` files of
    ``oncoline.knowledge`` and ``oncoline.model``, sorted."""
    root = Path(__file__).resolve().parents[1]  # the oncoline package
    found: list[Path] = []
    for top, suffix in ((root / "knowledge" / "data", ""), (root / "knowledge", ".py"), (root / "model", ".py")):
        for folder, _, names in os.walk(top):  # os.walk: a third of Path.rglob's time, every run
            found += (Path(folder, name) for name in names if name.endswith(suffix))
    return tuple(sorted(set(found)))


def source_key(files: Iterable[Path], /) -> str:
    """SHA-256 over the files' names and bytes and the oncoline, Python and pydantic versions.

    Within one process the digest of files whose size, modification time and inode have not changed is computed
    once (a recommend run asks twice: the drug vocabulary and the knowledge); a changed file is read again.
    """
    files = tuple(files)
    stamps = []
    for path in files:
        st = path.stat()
        stamps.append((st.st_size, st.st_mtime_ns, st.st_ino))
    return _digest(files, tuple(stamps))


@lru_cache(maxsize=16)
def _digest(files: tuple[Path, ...], stamps: tuple[tuple[int, int, int], ...], /) -> str:
    import pydantic

    from oncoline._version import __version__

    digest = hashlib.sha256(f"{__version__}|{sys.version}|{pydantic.VERSION}".encode())
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def cached(name: str, build: Callable[[], T], /, *, inputs: Iterable[Path], directory: Path | None) -> T:
    """``build()``'s result, from ``directory/name-KEY.pickle`` when it holds a valid one for these ``inputs``.

    Parameters
    ----------
    name
        What is cached (``knowledge``, ``drugs``): the file name's prefix.
    build
        The full, validating loader; called when there is no valid cache file, and its result written.
    inputs
        Every file the result depends on (:func:`packaged_inputs`).
    directory
        The cache directory (:func:`cache_dir`); None: no cache, ``build()`` each time.

    Returns
    -------
    The built or cached object.

    Raises
    ------
    Whatever ``build`` raises (nothing is cached then). Cache files that cannot be read or written are ignored.
    """
    if directory is None:
        return build()
    key = source_key(inputs)
    path = directory / f"{name}-{key[:40]}.pickle"
    try:
        blob = path.read_bytes()
    except OSError:
        blob = b""
    if blob.startswith(_MAGIC):
        header, _, payload = blob[len(_MAGIC) :].partition(b"\n")
        if header == f"{key} {hashlib.sha256(payload).hexdigest()}".encode():
            try:
                return pickle.loads(payload)  # type: ignore[no-any-return]  # our own file, its hash checked
            except Exception:
                pass
    value = build()
    _write(directory, name, path, key, value)
    return value


def _write(directory: Path, name: str, path: Path, key: str, value: object) -> None:
    try:
        payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}-", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(_MAGIC + f"{key} {hashlib.sha256(payload).hexdigest()}\n".encode() + payload)
        os.replace(tmp, path)
        for old in directory.glob(f"{name}-*.pickle"):  # results of earlier knowledge versions
            if old != path:
                old.unlink(missing_ok=True)
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        return  # a cache that cannot be written costs speed, never correctness
