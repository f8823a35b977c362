"""How the concordance keys a lines table (``analytics/concordance.py`` ``_key_lines``, in arrays): every line gets
the state a direct per-line reading gives — knowledge period of its start, HER2 and HR status of its person in the
index, the canonical earlier lines of that person (:func:`canonical_state`), its sorted drugs — whatever the row
order, the order of drugs within a line, dictionary-encoded text columns, persons missing from the index or an
empty table; equal states share one task and different states never do.
"""

from __future__ import annotations

import random
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from oncoline.analytics.concordance import Judge, LineState, _key_lines, canonical_state
from oncoline.engines.lines.params import load_line_params
from oncoline.knowledge.loader import load_knowledge
from tests.analytics.test_concordance_fast import _mixed_index

KB = load_knowledge()
JUDGE = Judge(KB, load_line_params())


def _expected(lines: pa.Table, index: pa.Table) -> list[tuple[LineState, tuple[str, ...]]]:
    """Each line's (canonical state, sorted drugs), read line by line in Python."""
    status: dict[str, tuple[Any, Any]] = {}
    for r in index.to_pylist():  # the earliest metastatic diagnosis of a person wins (one row each here)
        status.setdefault(str(r["person_id"]), (r.get("her2_status"), r.get("hr_status")))
    rows = lines.select(["person_id", "line", "drugs", "start_date", "end_reason"]).to_pylist()
    by_person: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_person.setdefault(str(r["person_id"]), []).append(r)
    out = []
    for r in rows:
        person = str(r["person_id"])
        earlier = [
            (tuple(e["drugs"]), "toxicity" if e["end_reason"] == "toxicity" else None)
            for e in by_person[person]
            if e["line"] < r["line"]
        ]
        her2, hr = status.get(person, (None, None))
        state = LineState(
            JUDGE.period_start(r["start_date"]),
            her2.lower() if her2 else None,
            hr.lower() if hr else None,
            tuple(earlier),
        )
        out.append((canonical_state(state), tuple(sorted(r["drugs"]))))
    return out


def _check(lines: pa.Table, index: pa.Table) -> None:
    keyed = _key_lines(lines, index, JUDGE)
    expected = _expected(lines, index)
    got = [keyed.tasks[i] for i in keyed.task_of_line.tolist()]
    assert got == expected
    assert len(set(keyed.tasks)) == len(keyed.tasks)  # one task per distinct (state, drugs)
    assert keyed.states == len({state for state, _drugs in expected})
    assert keyed.lines.column("person_id").to_pylist() == [str(p) for p in lines.column("person_id").to_pylist()]
    assert keyed.lines.column("line").to_pylist() == lines.column("line").to_pylist()


def test_generated_cohort_keys_like_a_line_by_line_reading() -> None:
    from tests.analytics.cohort import small_cohort

    _exposures, index, lines = small_cohort()
    index = _mixed_index(index)
    _check(lines, index)
    # rows shuffled, drugs of each line shuffled, text columns dictionary-encoded, a person left out of the index
    rng = random.Random(11)
    order = list(range(lines.num_rows))
    rng.shuffle(order)
    shuffled = lines.take(pa.array(order))
    drugs = [rng.sample(d, len(d)) for d in shuffled.column("drugs").to_pylist()]
    shuffled = shuffled.set_column(
        shuffled.column_names.index("drugs"), "drugs", pa.array(drugs, pa.list_(pa.string()))
    )
    for name in ("regimen", "end_reason", "person_id"):
        i = shuffled.column_names.index(name)
        shuffled = shuffled.set_column(i, name, pc.dictionary_encode(shuffled.column(name)))
    missing = index.column("person_id")[0]
    _check(shuffled, index.filter(pc.not_equal(index.column("person_id"), missing)))


def test_dictionary_columns_in_chunks_with_their_own_dictionaries() -> None:
    from tests.analytics.cohort import small_cohort

    _exposures, index, lines = small_cohort()
    index = _mixed_index(index)
    half = lines.num_rows // 2
    chunks = [lines.slice(0, half), lines.slice(half)]
    encoded = []
    for chunk in chunks:  # each chunk encoded on its own: different dictionaries
        for name in ("person_id", "regimen", "end_reason"):
            i = chunk.column_names.index(name)
            chunk = chunk.set_column(i, name, pc.dictionary_encode(chunk.column(name)))
        encoded.append(chunk)
    _check(pa.concat_tables(encoded), index)


def test_empty_lines_table() -> None:
    from tests.analytics.cohort import small_cohort

    _exposures, index, lines = small_cohort()
    keyed = _key_lines(lines.slice(0, 0), index, JUDGE)
    assert keyed.tasks == [] and len(keyed.task_of_line) == 0 and keyed.states == 0
    assert keyed.lines.num_rows == 0
