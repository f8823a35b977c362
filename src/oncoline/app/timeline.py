"""The patient's metastatic lines up to a decision date, for a timeline (swimmer plot) beside the recommendation."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from oncoline.model.patient import Patient

__all__ = ["Timeline", "TimelineLine", "patient_timeline"]


@dataclass(frozen=True)
class TimelineLine:
    """One metastatic line as drawn.

    Attributes
    ----------
    ordinal
        1, 2, … in start order.
    drugs
        Canonical drug names.
    start, end
        First and last day (``end`` None: ongoing, or not recorded).
    stopped
        progression | toxicity | completed | ongoing | None (not recorded).
    """

    ordinal: int
    drugs: tuple[str, ...]
    start: dt.date | None
    end: dt.date | None
    stopped: str | None


@dataclass(frozen=True)
class Timeline:
    """The lines of one patient up to ``as_of``.

    Attributes
    ----------
    metastatic_diagnosis
        Day of the metastatic diagnosis, when known.
    as_of
        The decision date; lines starting later are left out, ends after it are cut to it.
    lines
        In start order.
    derived
        True when the lines were derived from raw exposures (not given as history).
    """

    metastatic_diagnosis: dt.date | None
    as_of: dt.date
    lines: tuple[TimelineLine, ...]
    derived: bool

    @property
    def first_day(self) -> dt.date | None:
        """The earliest day shown (metastatic diagnosis or first line start), None when nothing is dated."""
        days = [d for d in (self.metastatic_diagnosis, *(ln.start for ln in self.lines)) if d is not None]
        return min(days) if days else None


def patient_timeline(patient: Patient, /, *, as_of: dt.date) -> Timeline:
    """The patient's metastatic lines as of a date: ``history`` as given, else lines derived from ``exposures``.

    Parameters
    ----------
    patient
        The patient (as read by :func:`oncoline.app.read_patient`).
    as_of
        The decision date.

    Returns
    -------
    Timeline
        Lines in start order; a line starting after ``as_of`` is left out and an end after it is cut to it
        (the line is then ongoing), as the recommender does.

    Notes
    -----
    Derivation uses the reference line-of-therapy engine with the packaged parameters
    (``knowledge/data/lines.yaml``), as the recommender does for exposures.
    """
    derived = False
    rows: list[tuple[tuple[str, ...], dt.date | None, dt.date | None, str | None]] = []
    if patient.history:
        for h in patient.history:
            rows.append((tuple(h.drugs), h.start, h.end, h.stopped.value if h.stopped else None))
    elif patient.exposures and patient.metastatic_diagnosis is not None:
        from oncoline.engines.lines.params import load_line_params
        from oncoline.engines.lines.reference import derive_lines

        result = derive_lines(
            patient.exposures,
            metastatic_diagnosis=patient.metastatic_diagnosis,
            params=load_line_params(),
            as_of=as_of,
            person_id=patient.id,
        )
        derived = True
        for ln in result.lines:
            reason = ln.end_reason.value
            ongoing = reason == "ongoing"
            stopped = reason if reason in ("progression", "toxicity", "ongoing") else None
            rows.append((tuple(ln.drugs), ln.start, None if ongoing else ln.end, stopped))
    rows = [r for r in rows if r[1] is None or r[1] <= as_of]
    rows.sort(key=lambda r: (r[1] is None, r[1] or dt.date.min))
    lines = []
    for i, (drugs, start, end, stopped) in enumerate(rows, start=1):
        if end is not None and end > as_of:
            end, stopped = None, "ongoing"
        lines.append(TimelineLine(i, drugs, start, end, stopped))
    return Timeline(patient.metastatic_diagnosis, as_of, tuple(lines), derived)
