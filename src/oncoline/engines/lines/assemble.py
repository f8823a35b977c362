"""Output assembly for the DuckDB line engine: the lines table from the kernel's per-line arrays, and the row →
line table sorted by person_id, line and exposure_id (text order).

Each distinct drug set is decoded once; integer exposure ids are sorted in numpy through a key that orders them
as their texts order (text ids, or keys wider than 63 bits, go to DuckDB).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from oncoline.engines.lines import _rows
from oncoline.engines.lines import kernel as k
from oncoline.engines.lines.cohort import assignments_schema, complete_lines

if TYPE_CHECKING:
    import pyarrow as pa

    from oncoline.engines.lines.prepare import KernelInput

__all__ = ["assemble_assignments", "assemble_lines"]


def assemble_lines(res: k.KernelLines, sorted_person: npt.NDArray[np.integer[Any]], prep: KernelInput) -> pa.Table:
    """The lines table from kernel output (``sorted_person``: the person index of each sorted row)."""
    import pyarrow as pa

    # each distinct drug set is decoded once; lines take their list by index
    if len(res):
        if res.masks.shape[1] == 1:  # one word: a 1-D unique is much cheaper than a row-wise one
            words, inverse = np.unique(res.masks[:, 0], return_inverse=True)
            uniq = words.reshape(-1, 1)
        else:
            uniq, inverse = np.unique(res.masks, axis=0, return_inverse=True)
        names = pa.array([sorted(d) for d in prep.codes.decode(uniq)], pa.list_(pa.string()))
        drugs = names.take(pa.array(np.asarray(inverse).reshape(-1)))
    else:
        drugs = pa.array([], pa.list_(pa.string()))
    core = pa.table(
        {
            "person_id": prep.person_ids.take(pa.array(sorted_person[res.first_row])),
            "line": pa.array(res.line),
            "drugs": drugs,
            "start_date": pa.array(res.start).cast(pa.date32()),
            "end_date": pa.array(res.end).cast(pa.date32()),
            "n_exposures": pa.array(res.n_exposures),
            "open_rule": pa.array(np.array(k.OPEN_RULES, dtype=object)[res.open_rule], pa.string()),
            "close_rule": pa.array(np.array(k.CLOSE_RULES, dtype=object)[res.close_rule], pa.string()),
            "end_reason": pa.array(np.array(k.END_REASONS, dtype=object)[res.end_reason], pa.string()),
        }
    )
    return complete_lines(core, presorted=True)  # kernel lines come in person (text order), line order


def _text_order_key(e: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], int] | None:
    """A key that sorts non-negative integers as their decimal texts sort (``"10" < "9"``), and its digits.

    Each number is padded on the right with zeros to the longest length ``D`` (so a text compares equal to
    its extensions), and ties go to the shorter text: ``key = (x * 10**(D - len(x))) << b | len(x)`` with
    ``b`` bits for the length. None when a number is negative or has more than 15 digits.
    """
    if e.shape[0] == 0 or int(e.min()) < 0:
        return None
    digits = len(str(int(e.max())))
    if digits > 15:
        return None
    nd = np.ones(e.shape[0], dtype=np.int8)
    for d in range(1, digits):
        nd += e >= 10**d
    pow10 = 10 ** np.arange(digits + 1, dtype=np.int64)
    key: npt.NDArray[np.int64] = pow10[digits - nd]  # in-place from here: these arrays have 10^7 entries
    key *= e
    key <<= digits.bit_length()
    key |= nd
    return key, digits


def _from_text_order_key(key: npt.NDArray[np.int64], digits: int) -> npt.NDArray[np.int64]:
    """The numbers back from :func:`_text_order_key` (exact: the padded numbers are below 2**53 and are
    divided by a power of ten that divides them)."""
    b = digits.bit_length()
    shift = key & ((1 << b) - 1)
    np.subtract(digits, shift, out=shift)  # the power of ten each number was padded with
    padded = (key >> b).astype(np.float64)
    padded /= (10.0 ** np.arange(digits + 1))[shift]
    np.rint(padded, out=padded)
    return padded.astype(np.int64)


def assemble_assignments(line_of_source: npt.NDArray[np.int32], prep: KernelInput, con: Any) -> pa.Table:
    """The row → line table (one row per used input row), sorted by person_id, line, exposure_id (text).

    Integer exposure ids (and the default row numbers) are sorted in numpy: person, line and a key that
    orders the ids as text (:func:`_text_order_key`) packed into one int64, sorted, and unpacked — the key
    holds the id itself, so no permutation is applied. Text ids, or keys wider than 63 bits, go to DuckDB.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    p = prep.person_of_row[prep.kept]
    line = line_of_source[prep.kept]
    packed = None if prep.id_numbers is None else _text_order_key(prep.id_numbers[prep.kept])
    if packed is not None and p.shape[0]:
        id_key, digits = packed
        e_bits = int(id_key.max()).bit_length()
        l_bits = int(line.max()).bit_length()
        p_bits = int(p.max()).bit_length()
        if p_bits + l_bits + e_bits <= _rows.PACK_BITS:
            key = p.astype(np.int64)  # in place from here: these arrays have 10^7 entries
            key <<= l_bits + e_bits
            part = line.astype(np.int64)
            part <<= e_bits
            key |= part
            key |= id_key
            del part, id_key
            key.sort()
            ids = _from_text_order_key(key & ((1 << e_bits) - 1), digits)
            key >>= e_bits
            line_sorted = (key & ((1 << l_bits) - 1)).astype(np.int32)
            key >>= l_bits
            return pa.table(
                {
                    "person_id": prep.person_ids.take(pa.array(key)),
                    "exposure_id": pc.cast(pa.array(ids), pa.string()),
                    "line": pa.array(line_sorted),
                },
                schema=assignments_schema(),
            )
    tbl = pa.table({"p": p, "e": prep.exposure_ids.take(pa.array(prep.kept)), "line": line})
    con.register("assigned", tbl)
    ordered = con.execute("SELECT p, CAST(e AS VARCHAR) AS e, line FROM assigned ORDER BY p, line, e").to_arrow_table()
    con.unregister("assigned")
    person = prep.person_ids.take(ordered.column("p"))
    return pa.table(
        {"person_id": person, "exposure_id": ordered.column("e"), "line": ordered.column("line")},
        schema=assignments_schema(),
    )
