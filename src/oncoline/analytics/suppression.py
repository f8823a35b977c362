"""Small-cell suppression of aggregate tables: the convention OHDSI tools use for sharing aggregate results.

A count of persons (or lines) from 1 to ``min_cell - 1`` is never shown: the exported column holds null and its
``*_shown`` twin the text ``"<5"`` (for ``min_cell=5``). Zero is shown (no person to identify).

Counts that add up to a shown total would let a reader recover a suppressed cell by subtraction, so within each
group that sums to a total (for instance every pathway of one stratum) suppression is *complementary*: when the
suppressed cells of a group add up to fewer than ``min_cell`` persons, further cells are suppressed, smallest first,
until they add up to at least ``min_cell`` (or every cell of the group is suppressed). The total minus the shown
cells is then either 0 or at least ``min_cell``; no count below the threshold is derivable from one table.

A cell hidden only to protect another (a *complementary* cell, itself at least ``min_cell`` or zero) is not
labelled ``"<5"`` — that would state a false range (a hidden 36,618 is not "1 to 4"). Its ``*_shown`` text is
:data:`COMPLEMENTARY_TEXT`. Because a reader then knows which hidden cells are small and that the others hold at
least ``min_cell``, complementary cells are added until the hidden total exceeds ``min_cell`` per complementary cell
by at least ``min_cell - 1`` as well: the bound a reader can place on a small cell by subtraction is then no
tighter than "1 to ``min_cell - 1``". Where that cannot be reached (every cell of the group is hidden), the hidden
cells of the group are all labelled :data:`SUPPRESSED_TEXT`, which states no range.

Shares (``share`` columns) of a suppressed count are null as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["COMPLEMENTARY_TEXT", "DEFAULT_MIN_CELL", "SUPPRESSED_TEXT", "shown_text", "suppress"]

DEFAULT_MIN_CELL = 5
"""Counts below this are suppressed unless told otherwise (OHDSI's usual minimum cell count)."""


COMPLEMENTARY_TEXT = "suppressed (complementary)"
"""The ``*_shown`` text of a cell hidden only so that a small cell cannot be recovered by subtraction."""


SUPPRESSED_TEXT = "suppressed"
"""The ``*_shown`` text of the hidden cells of a group whose small and complementary cells must not be told apart."""


def shown_text(value: int | None, min_cell: int, *, complementary: bool = False) -> str:
    """The count as a reader sees it: ``"<5"`` for a suppressed (null) small count, :data:`COMPLEMENTARY_TEXT` for
    a cell hidden only to protect another (``complementary``), else the number.

    >>> shown_text(None, 5), shown_text(12, 5), shown_text(0, 5), shown_text(None, 5, complementary=True)
    ('<5', '12', '0', 'suppressed (complementary)')
    """
    if value is None:
        return COMPLEMENTARY_TEXT if complementary else f"<{min_cell}"
    return str(value)


def _suppressed_positions(values: list[int], min_cell: int) -> tuple[set[int], bool]:
    """Positions to suppress in one group: primary (0 < n < min_cell) and complementary cells.

    Complementary cells (smallest first) are added until at least two cells are hidden, they add up to at least
    ``min_cell`` and the slack — the primary cells plus what each complementary cell holds above ``min_cell`` — is
    at least ``min_cell - 1`` (so subtraction bounds no small cell tighter than ``1..min_cell - 1``), or until
    every non-zero cell is hidden. The flag is true when complementary cells were needed and the slack is still
    short (the group's hidden cells must then be labelled without a range).
    """
    primary = {i for i, v in enumerate(values) if 0 < v < min_cell}
    if not primary:
        return primary, False
    hidden = set(primary)
    total_hidden = sum(values[i] for i in hidden)
    slack = total_hidden
    others = sorted((v, i) for i, v in enumerate(values) if i not in hidden and v > 0)
    for v, i in others:
        if total_hidden >= min_cell and len(hidden) >= 2 and slack >= min_cell - 1:
            break
        hidden.add(i)
        total_hidden += v
        slack += v - min_cell
    return hidden, len(hidden) > len(primary) and slack < min_cell - 1


def suppress(
    table: pa.Table,
    /,
    *,
    counts: Sequence[str],
    min_cell: int = DEFAULT_MIN_CELL,
    group_by: Sequence[str] = (),
    shares: dict[str, str] | None = None,
) -> pa.Table:
    """Suppress small counts in ``table`` (primary and complementary suppression).

    Parameters
    ----------
    table
        An aggregate table: one row per cell.
    counts
        Integer columns holding counts of persons or lines. Each is replaced by a nullable int64 column (null when
        suppressed) and gains a string twin ``<name>_shown`` (``"<5"``, :data:`COMPLEMENTARY_TEXT` or the number).
    min_cell
        The smallest count that may be shown (≥ 1; 1 turns suppression off).
    group_by
        Columns naming the groups whose cells add up to a total shown elsewhere (for example the stratum of a
        pathway table). Complementary suppression works within each group, on the first column of ``counts``;
        the other count columns of a row are suppressed with it. Without ``group_by`` the whole table is one group.
    shares
        ``{share column: count column}``: the share is set to null wherever its count is suppressed.

    Returns
    -------
    pyarrow.Table
        The same rows and order; count columns nullable int64, ``*_shown`` string columns appended.

    Raises
    ------
    ValueError
        When ``min_cell`` is below 1 or a named column is missing.

    Examples
    --------
    >>> import pyarrow as pa
    >>> t = suppress(pa.table({"g": ["a", "a", "a"], "n": [100, 3, 40]}), counts=["n"], group_by=["g"])
    >>> t.column("n_shown").to_pylist()
    ['100', '<5', 'suppressed (complementary)']
    """
    import pyarrow as pa

    if min_cell < 1:
        raise ValueError(f"min_cell must be at least 1, got {min_cell}")
    for name in [*counts, *group_by, *(shares or {})]:
        if name not in table.column_names:
            raise ValueError(f"suppress: column {name!r} is not in the table ({', '.join(table.column_names)})")
    if not counts or table.num_rows == 0:
        out = table
        for name in counts:
            out = out.append_column(f"{name}_shown", pa.array([], pa.string()) if table.num_rows == 0 else None)
        return out
    first = [int(v or 0) for v in table.column(counts[0]).to_pylist()]
    keys = list(zip(*(table.column(g).to_pylist() for g in group_by), strict=True)) if group_by else None
    groups: dict[object, list[int]] = {}
    for row in range(table.num_rows):
        groups.setdefault(keys[row] if keys is not None else None, []).append(row)
    hidden_rows: set[int] = set()
    neutral_rows: set[int] = set()
    for rows in groups.values():
        positions, neutral = _suppressed_positions([first[r] for r in rows], min_cell)
        hidden_rows |= {rows[i] for i in positions}
        if neutral:
            neutral_rows |= {rows[i] for i in positions}
    out = table
    for name in counts:
        values = [None if v is None else int(v) for v in table.column(name).to_pylist()]
        kept: list[int | None] = []
        texts: list[str] = []
        for row, v in enumerate(values):
            small = v is not None and 0 < v < min_cell
            value = None if (row in hidden_rows or small) else v
            kept.append(value)
            if value is None and row in neutral_rows and not (small and name != counts[0]):
                texts.append(SUPPRESSED_TEXT)
            else:
                texts.append(shown_text(value, min_cell, complementary=value is None and not small and v is not None))
        pos = out.column_names.index(name)
        out = out.set_column(pos, name, pa.array(kept, pa.int64()))
        out = out.append_column(f"{name}_shown", pa.array(texts, pa.string()))
    for share, count in (shares or {}).items():
        mask = out.column(count).is_null()
        vals = [None if m else v for m, v in zip(mask.to_pylist(), out.column(share).to_pylist(), strict=True)]
        out = out.set_column(out.column_names.index(share), share, pa.array(vals, pa.float64()))
    return out
