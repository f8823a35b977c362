"""The public API is explicit and sorted (house style S8)."""

from __future__ import annotations

import oncoline


def test_all_is_sorted_and_importable() -> None:
    assert oncoline.__all__ == sorted(oncoline.__all__)
    for name in oncoline.__all__:
        assert hasattr(oncoline, name), name
