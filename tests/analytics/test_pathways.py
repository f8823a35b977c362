"""Pathways: counts add up to the persons with at least one line, in every stratum; one colour per regimen."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from oncoline.analytics.pathways import END, OTHER, pathways
from oncoline.analytics.strata import person_strata


def test_pathway_counts_sum_to_persons_with_a_line() -> None:
    from tests.analytics.cohort import small_cohort

    _, index, lines = small_cohort(20_000, 5)
    strata = person_strata(index)
    paths = pathways(lines, strata, max_lines=3, top_regimens=6)
    persons = set(lines.column("person_id").to_pylist())
    by_stratum: dict[tuple[str, str], int] = {}
    for r in paths.pathways.to_pylist():
        by_stratum[(r["stratum_kind"], r["stratum"])] = (
            by_stratum.get((r["stratum_kind"], r["stratum"]), 0) + r["persons"]
        )
    assert by_stratum[("all", "all")] == len(persons) > 50
    strata_rows = {r["person_id"]: r for r in strata.to_pylist()}
    for kind in ("index_year", "age_band", "hr_status", "presentation"):
        expected: dict[str, int] = {}
        for p in persons:
            expected[strata_rows[p][kind]] = expected.get(strata_rows[p][kind], 0) + 1
        assert {s: n for (k, s), n in by_stratum.items() if k == kind} == expected
    # the sunburst's children add up to their parent; first-line nodes to the persons
    steps = paths.steps.to_pylist()
    node = {(r["stratum_kind"], r["stratum"], r["id"]): r["persons"] for r in steps}
    kids: dict[tuple[str, str, str], int] = {}
    for r in steps:
        key = (r["stratum_kind"], r["stratum"], r["parent"])
        kids[key] = kids.get(key, 0) + r["persons"]
    for (kind, stratum, parent), total in kids.items():
        assert total == (node[(kind, stratum, parent)] if parent else by_stratum[(kind, stratum)])
    # Sankey links out of (line, regimen) add up to the persons with that regimen at that line
    line_reg = {
        (r["line"], r["regimen"]): r["persons"] for r in paths.line_regimens.to_pylist() if r["stratum_kind"] == "all"
    }
    out: dict[tuple[int, str], int] = {}
    for r in paths.transitions.to_pylist():
        if r["stratum_kind"] == "all":
            out[(r["line"], r["from_regimen"])] = out.get((r["line"], r["from_regimen"]), 0) + r["persons"]
    assert out == {k: v for k, v in line_reg.items() if k[0] < 3}
    assert OTHER in paths.regimens.column("label").to_pylist()


def test_pathway_sequence_and_end() -> None:
    day = dt.date(2024, 1, 1)
    lines = pa.table(
        {
            "person_id": ["a", "a", "b", "c", "c", "c"],
            "line": [1, 2, 1, 1, 2, 3],
            "regimen": ["THP", "T-DXd", "THP", "THP", "T-DXd", "TTC"],
        }
    )
    index = pa.table({"person_id": ["a", "b", "c"], "metastatic_diagnosis": [day] * 3})
    paths = pathways(lines, person_strata(index), max_lines=2, top_regimens=5)
    got = {r["pathway"]: r["persons"] for r in paths.pathways.to_pylist() if r["stratum_kind"] == "all"}
    assert got == {"THP → T-DXd": 2, "THP": 1}  # c's third line is beyond max_lines
    ends = [r for r in paths.steps.to_pylist() if r["stratum_kind"] == "all" and r["regimen"] == END]
    assert [(r["parent"], r["persons"]) for r in ends] == [("THP", 1)]
    with pytest.raises(ValueError, match="max_lines"):
        pathways(lines, person_strata(index), max_lines=0)


def test_one_colour_per_regimen_in_every_figure() -> None:
    from oncoline.app.cohort_report import ReportInputs, ReportOptions, build_cohort_report
    from oncoline.engines.lines.params import load_line_params
    from oncoline.outputs.report import figures as F
    from tests.analytics.cohort import AS_OF, small_cohort

    _exposures, index, lines = small_cohort(20_000, 5)
    inputs = ReportInputs(
        lines=lines, index=index, as_of=AS_OF, as_of_note="t", params=load_line_params(), source="t", exposures=None
    )
    t = build_cohort_report(inputs, options=ReportOptions(min_cell=1, concordance=False)).tables
    colours = F.regimen_colours(t["regimens"])
    assert len(set(colours.values())) == len(colours)  # distinct colours
    seen: dict[str, set[str]] = {}
    sun = F.sunburst(t["pathway_steps"], colours).data[0]
    for label, colour in zip(sun.labels, sun.marker.colors, strict=True):
        seen.setdefault(label, set()).add(colour)
    sankey = F.sankey(t["pathway_transitions"], colours, max_lines=5).data[0]
    for label, colour in zip(sankey.node.label, sankey.node.color, strict=True):
        seen.setdefault(label.split("L ", 1)[-1] if label[0].isdigit() else label, set()).add(colour)
    for kind in ("index_year", "age_band", "hr_status", "presentation"):
        for trace in F.strata_bars(t["line_regimens"], colours, stratum_kind=kind).data:
            seen.setdefault(trace.name, set()).add(trace.marker.color)
    for label, found in seen.items():
        assert found == {colours[label]}, label


def test_sankey_nodes_sit_in_their_line_column() -> None:
    """The new user's "2L paclitaxel" drawn in the line-1 column: a line-2 node with no incoming link (its
    1L→2L link suppressed) was placed by plotly at the left. Every node now has its line's x."""
    import pyarrow as pa

    from oncoline.outputs.report import figures as F

    rows = [
        (1, "THP", "T-DXd", 50),
        (2, "T-DXd", "tucatinib", 20),
        (2, "paclitaxel", "T-DXd", 10),
        (3, "tucatinib", "lapatinib", 12),
    ]
    transitions = pa.table(
        {
            "stratum_kind": ["all"] * len(rows),
            "stratum": ["all"] * len(rows),
            "line": pa.array([r[0] for r in rows], pa.int32()),
            "from_regimen": [r[1] for r in rows],
            "to_regimen": [r[2] for r in rows],
            "persons": pa.array([r[3] for r in rows], pa.int64()),
        }
    )
    node = F.sankey(transitions, {}, max_lines=5).data[0].node
    x = dict(zip(node.label, node.x, strict=True))
    columns = {int(label.split("L ", 1)[0]): set() for label in node.label}
    for label, pos in x.items():
        columns[int(label.split("L ", 1)[0])].add(pos)
    assert all(len(v) == 1 for v in columns.values()), columns  # one x per line
    xs = [next(iter(columns[k])) for k in sorted(columns)]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)  # line 1 at the left, each line its own column
    assert x["2L paclitaxel"] == x["2L T-DXd"] > x["1L THP"]
    assert all(0 < v < 1 for v in [*node.x, *node.y])


@pytest.mark.parametrize("max_lines", [1, 2, 5])
def test_person_sequences_equal_their_sql_twin(max_lines: int) -> None:
    # the Arrow build of each person's labels (lines shuffled, a person without an index row, a line whose
    # regimen has no label) gives the table the SQL twin gives
    import pyarrow.compute as pc

    from oncoline.analytics.pathways import _person_sequences_sql, person_sequences, regimen_labels
    from tests.analytics.cohort import small_cohort

    _, index, lines = small_cohort(20_000, 5)
    strata = person_strata(index)
    labels = regimen_labels(lines, top_regimens=4)
    shuffled = lines.take(pa.array(list(reversed(range(lines.num_rows)))))
    stray = shuffled.slice(0, 2).set_column(0, "person_id", pa.array(["nobody-in-the-index"] * 2))
    mixed = pa.concat_tables([shuffled.cast(stray.schema) if shuffled.schema != stray.schema else shuffled, stray])
    unlabelled = labels.filter(pc.not_equal(labels.column("regimen"), labels.column("regimen")[0]))
    for regimens in (labels, unlabelled):
        got = person_sequences(mixed, strata, regimens, max_lines=max_lines)
        assert got.num_rows > 5
        assert got.equals(_person_sequences_sql(mixed, strata, regimens, max_lines=max_lines))
