"""The knowledge cache: keyed by the content of every file it depends on, so never stale; corrupt or foreign
files are rebuilt; a cache that cannot be written costs only speed."""

from __future__ import annotations

import dataclasses
import pickle
import shutil
from pathlib import Path

import pytest

from oncoline.knowledge import cache, loader


def _counting_build(calls: list[int], value: object) -> object:
    def build() -> object:
        calls.append(1)
        return value

    return build


def test_a_changed_input_file_invalidates_the_cache(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(Path(loader.__file__).parent / "data", data)
    inputs = sorted(data.glob("*.yaml"))
    store = tmp_path / "cache"
    calls: list[int] = []
    assert cache.cached("kb", _counting_build(calls, {"v": 1}), inputs=inputs, directory=store) == {"v": 1}
    assert cache.cached("kb", _counting_build(calls, {"v": 2}), inputs=inputs, directory=store) == {"v": 1}
    assert len(calls) == 1  # the second call read the cache
    statements = data / "statements.yaml"
    statements.write_bytes(statements.read_bytes() + b"\n# one more byte\n")  # same name, new content
    assert cache.cached("kb", _counting_build(calls, {"v": 3}), inputs=inputs, directory=store) == {"v": 3}
    assert len(calls) == 2 and len(list(store.glob("kb-*.pickle"))) == 1  # rebuilt; the stale file removed


def test_corrupt_or_foreign_cache_files_are_rebuilt(tmp_path: Path) -> None:
    inputs = [Path(loader.__file__)]
    calls: list[int] = []
    cache.cached("kb", _counting_build(calls, [1]), inputs=inputs, directory=tmp_path)
    (path,) = tmp_path.glob("kb-*.pickle")
    blob = path.read_bytes()
    path.write_bytes(blob[:-5] + pickle.dumps("tampered")[:5])  # payload no longer matches its hash
    assert cache.cached("kb", _counting_build(calls, [2]), inputs=inputs, directory=tmp_path) == [2]
    path.write_bytes(b"not a cache file")
    assert cache.cached("kb", _counting_build(calls, [3]), inputs=inputs, directory=tmp_path) == [3]
    assert len(calls) == 3


def test_an_unwritable_cache_only_costs_speed(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("x", encoding="utf-8")  # a file where the directory should be: nothing can be written
    calls: list[int] = []
    for _ in range(2):
        assert cache.cached("kb", _counting_build(calls, 7), inputs=[blocked], directory=blocked / "sub") == 7
    assert len(calls) == 2


def test_cached_packaged_knowledge_equals_a_fresh_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONCOLINE_CACHE_DIR", str(tmp_path))
    fresh = loader.build_knowledge(loader.read_files(None))
    loader._packaged.cache_clear()
    try:
        first = loader.load_knowledge()  # builds and writes
        loader._packaged.cache_clear()
        second = loader.load_knowledge()  # reads the file
    finally:
        loader._packaged.cache_clear()
    assert list(tmp_path.glob("knowledge-*.pickle"))
    for got in (first, second):  # DrugVocabulary compares by identity: compare its contents
        assert dataclasses.replace(got, vocab=None) == dataclasses.replace(fresh, vocab=None)
        assert vars(got.vocab) == vars(fresh.vocab)
    assert second is not first
    key = cache.source_key(cache.packaged_inputs())
    assert (tmp_path / f"knowledge-{key[:40]}.pickle").exists()


def test_packaged_inputs_cover_the_data_and_the_code_that_validates_it() -> None:
    names = {p.name for p in cache.packaged_inputs()}
    assert {"statements.yaml", "drugs.yaml", "schema.py", "loader.py", "patient.py"} <= names


def test_cache_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONCOLINE_CACHE_DIR", "off")
    assert cache.cache_dir() is None
