"""Shared hypothesis strategies: realistic exposure histories of HER2-positive MBC (house style S17).

Import as ``from strategies import histories, cohorts`` (``tests/`` is on ``sys.path`` through its
``conftest.py``).

A history is a metastatic diagnosis, a data cut-off and exposure rows built the way real records look:
regimens given in 7/21-day cycles (THP, T-DXd, T-DM1, tucatinib + trastuzumab + capecitabine, oral
capecitabine + lapatinib, endocrine therapy ...), taxanes dropped after induction, taxane switches, Phesgo
and biosimilar names, maintenance endocrine therapy, breaks shorter and longer than the gap, supportive
drugs (denosumab, ondansetron, dexamethasone), an occasional early-setting exposure, documented
progression/toxicity, and brands/RxNorm codes for the drug text.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any

from hypothesis import strategies as st

__all__ = [
    "SUPPORTIVE",
    "Cohort",
    "History",
    "Row",
    "cohorts",
    "histories",
    "supportive_rows",
]

# Regimens as (drug text choices per component, cycle length in days, oral?) — text choices exercise the
# vocabulary (brands, biosimilars, products, RxNorm codes); each tuple item is one component.
_REGIMENS: list[tuple[tuple[tuple[str, ...], ...], int, bool]] = [
    (
        (("pertuzumab", "Perjeta"), ("trastuzumab", "Herceptin", "trastuzumab-dkst"), ("docetaxel", "Taxotere")),
        21,
        False,
    ),
    ((("pertuzumab",), ("trastuzumab",), ("paclitaxel", "Taxol")), 21, False),
    ((("Phesgo",), ("docetaxel",)), 21, False),
    ((("trastuzumab deruxtecan", "Enhertu", "T-DXd"),), 21, False),
    ((("ado-trastuzumab emtansine", "Kadcyla", "T-DM1"),), 21, False),
    ((("tucatinib",), ("trastuzumab",), ("capecitabine", "Xeloda", "194000")), 21, False),
    ((("capecitabine",), ("lapatinib", "Tykerb")), 21, True),
    ((("trastuzumab",), ("vinorelbine",)), 21, False),
    ((("letrozole", "Femara"),), 28, True),
    ((("fulvestrant",), ("palbociclib",)), 28, False),
    ((("eribulin",),), 21, False),
]
SUPPORTIVE = ("denosumab", "Xgeva", "zoledronic acid", "ondansetron", "dexamethasone", "pegfilgrastim", "loperamide")
"""Supportive drug texts: never form or change a line."""


@dataclass(frozen=True)
class Row:
    """One exposure row as a source would hold it."""

    drug: str
    start: dt.date
    end: dt.date | None = None
    stopped: str | None = None
    exposure_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """FORMAT.md ``events.exposures`` item."""
        out: dict[str, Any] = {"drug": self.drug, "start": self.start}
        if self.end is not None:
            out["end"] = self.end
        if self.stopped is not None:
            out["stopped"] = self.stopped
        return out


@dataclass(frozen=True)
class History:
    """One person's exposures with a metastatic diagnosis and a data cut-off."""

    person_id: str
    metastatic_diagnosis: dt.date
    as_of: dt.date
    rows: tuple[Row, ...]

    def with_ids(self) -> History:
        """The same history with ``exposure_id`` = ``"<person>-<position>"`` on each row."""
        return replace(
            self, rows=tuple(replace(r, exposure_id=f"{self.person_id}-{i}") for i, r in enumerate(self.rows))
        )

    def events(self) -> dict[str, Any]:
        """The FORMAT.md ``events`` block."""
        return {
            "metastatic_diagnosis": self.metastatic_diagnosis,
            "as_of": self.as_of,
            "exposures": [r.as_dict() for r in self.rows],
        }


@dataclass(frozen=True)
class Cohort:
    """Several histories, as column lists ready for ``pyarrow.table``."""

    histories: tuple[History, ...]
    as_of: dt.date
    extra_index: tuple[str, ...] = field(default=())

    def exposure_columns(self) -> dict[str, list[Any]]:
        """``person_id, exposure_id, drug, start_date, end_date, stopped`` columns."""
        cols: dict[str, list[Any]] = {
            k: [] for k in ("person_id", "exposure_id", "drug", "start_date", "end_date", "stopped")
        }
        for h in self.histories:
            for i, r in enumerate(h.rows):
                cols["person_id"].append(h.person_id)
                cols["exposure_id"].append(r.exposure_id or f"{h.person_id}-{i}")
                cols["drug"].append(r.drug)
                cols["start_date"].append(r.start)
                cols["end_date"].append(r.end)
                cols["stopped"].append(r.stopped)
        return cols

    def index_columns(self) -> dict[str, list[Any]]:
        """``person_id, metastatic_diagnosis`` columns (plus persons without exposures)."""
        persons = [h.person_id for h in self.histories] + list(self.extra_index)
        dates = [h.metastatic_diagnosis for h in self.histories] + [dt.date(2023, 1, 1)] * len(self.extra_index)
        return {"person_id": persons, "metastatic_diagnosis": dates}


_BASE = dt.date(2019, 1, 1)


@st.composite
def _regimen_block(draw: st.DrawFn, start: dt.date) -> tuple[list[Row], dt.date]:
    components, cycle, oral = draw(st.sampled_from(_REGIMENS))
    texts = [draw(st.sampled_from(choices)) for choices in components]
    n_cycles = draw(st.integers(1, 10))
    rows: list[Row] = []
    # components may start a few days apart (within or just beyond the regimen window)
    offsets = [0] + [draw(st.sampled_from([0, 0, 0, 1, 7, 17, 35])) for _ in texts[1:]]
    taxane_cycles = draw(st.integers(1, n_cycles))
    last = start
    for text, offset in zip(texts, offsets, strict=True):
        first = start + dt.timedelta(days=offset)
        is_taxane = text.lower() in {"docetaxel", "taxotere", "paclitaxel", "taxol"}
        count = taxane_cycles if is_taxane else n_cycles
        if oral and draw(st.booleans()):
            end = first + dt.timedelta(days=cycle * count - 1)
            rows.append(Row(text, first, end))
            last = max(last, end)
            continue
        for c in range(count):
            day = first + dt.timedelta(days=cycle * c)
            end = day if draw(st.integers(0, 4)) else day + dt.timedelta(days=draw(st.integers(0, 20)))
            rows.append(Row(text, day, end if end != day or draw(st.booleans()) else None))
            last = max(last, end)
    # sometimes a taxane switch or a maintenance addition during the block
    extra = draw(st.sampled_from(["none", "none", "taxane_switch", "letrozole", "late_new"]))
    if extra == "taxane_switch":
        day = start + dt.timedelta(days=draw(st.integers(29, 60)))
        rows.append(Row(draw(st.sampled_from(["paclitaxel", "nab-paclitaxel", "docetaxel"])), day))
    elif extra == "letrozole":
        day = start + dt.timedelta(days=draw(st.integers(29, 120)))
        rows.append(Row("letrozole", day, day + dt.timedelta(days=draw(st.integers(0, 200)))))
    elif extra == "late_new":
        day = start + dt.timedelta(days=draw(st.integers(29, 90)))
        rows.append(Row(draw(st.sampled_from(["capecitabine", "eribulin", "tucatinib"])), day))
    if draw(st.integers(0, 5)) == 0 and rows:
        i = draw(st.integers(0, len(rows) - 1))
        rows[i] = replace(rows[i], stopped=draw(st.sampled_from(["progression", "toxicity", "completed"])))
    return rows, last


@st.composite
def histories(draw: st.DrawFn, person_id: str = "P1", max_blocks: int = 4) -> History:
    """A realistic history of one person (a strategy of :class:`History`)."""
    dx = _BASE + dt.timedelta(days=draw(st.integers(0, 1500)))
    rows: list[Row] = []
    if draw(st.integers(0, 3)) == 0:  # early-setting therapy long before the metastatic diagnosis
        early = dx - dt.timedelta(days=draw(st.integers(200, 900)))
        rows.append(Row("trastuzumab", early, early + dt.timedelta(days=draw(st.integers(0, 300)))))
    day = dx + dt.timedelta(days=draw(st.integers(-30, 40)))
    for _ in range(draw(st.integers(0, max_blocks))):
        block, last = draw(_regimen_block(day))
        rows.extend(block)
        gap = draw(st.sampled_from([7, 14, 21, 30, 60, 119, 120, 121, 200]))
        day = last + dt.timedelta(days=gap)
    for _ in range(draw(st.integers(0, 4))):
        sday = dx + dt.timedelta(days=draw(st.integers(-60, 900)))
        rows.append(Row(draw(st.sampled_from(SUPPORTIVE)), sday))
    as_of = day + dt.timedelta(days=draw(st.integers(-400, 300)))
    as_of = max(as_of, dx)
    order = draw(st.permutations(range(len(rows))))
    return History(person_id, dx, as_of, tuple(rows[i] for i in order))


@st.composite
def supportive_rows(draw: st.DrawFn, around: dt.date, n: int = 5) -> list[Row]:
    """Up to ``n`` supportive-drug rows within three years after ``around``."""
    out = []
    for _ in range(draw(st.integers(1, n))):
        day = around + dt.timedelta(days=draw(st.integers(-30, 1000)))
        end = day + dt.timedelta(days=draw(st.integers(0, 30)))
        out.append(Row(draw(st.sampled_from(SUPPORTIVE)), day, end))
    return out


@st.composite
def cohorts(draw: st.DrawFn, max_persons: int = 6) -> Cohort:
    """A small cohort: persons P1..Pn with independent histories and one shared data cut-off."""
    n = draw(st.integers(1, max_persons))
    hs = [draw(histories(person_id=f"P{i + 1}")) for i in range(n)]
    as_of = max(h.as_of for h in hs)
    extra = ("P-no-exposures",) if draw(st.booleans()) else ()
    return Cohort(tuple(replace(h, as_of=as_of) for h in hs), as_of, extra)
