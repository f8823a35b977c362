"""OMOP CDM use cases: create the tables (and a demo CDM), read a cohort, derive its lines with the data cut-off
of the CDM, write them back as oncology EPISODE / EPISODE_EVENT rows and read them back.

URL: a DuckDB file (``cdm.duckdb`` or ``duckdb:///path``) or ``postgresql://user@host:port/db``; ``?schema=NAME``
(or ``schema=``) names the CDM schema. Data cut-off of :func:`derive_omop_lines` without an as-of date: the latest
``observation_period_end_date`` (when OBSERVATION_PERIOD has rows), else the latest DRUG_EXPOSURE start or end
date; never later than today. One cut-off for every person.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oncoline.app.cutoff import CutOff, omop_cut_off
from oncoline.app.lines import (
    check_table_path,
    engine_function,
    input_id_type,
    integer_person_ids,
    line_params,
    lines_provenance,
    write_lines_table,
)
from oncoline.errors import InputError

if TYPE_CHECKING:
    import pyarrow as pa

    from oncoline.engines.lines.cohort import CohortLines
    from oncoline.io.omop import EpisodeWriteReport, LinesLike, OmopReadReport

__all__ = [
    "OMOP_ENGINES",
    "OmopCohort",
    "OmopEpisodes",
    "OmopLinesRun",
    "derive_omop_lines",
    "init_omop",
    "omop_cut_off",
    "read_omop_cohort",
    "read_omop_episodes",
    "shown_url",
    "write_omop_episodes",
]

OMOP_ENGINES = ("duckdb", "spark", "reference")


def shown_url(url: str, /) -> str:
    """``url`` with any password replaced, for messages and titles."""
    from oncoline.io.omop.db import redact_url

    return redact_url(url)


def check_table_option(path: Path | None, option: str, /) -> None:
    """Refuse an output table path that is not ``.parquet``/``.pq``/``.csv``.

    Raises
    ------
    InputError
        Field ``option`` (a usage error).
    """
    if path is not None and path.suffix.lower() not in (".parquet", ".pq", ".csv"):
        raise InputError(f"{option} {path}: give a .parquet or .csv file", field=option)


def init_omop(url: str, /, *, schema: str | None = None, demo: bool = False, vocabulary: bool = True) -> dict[str, Any]:
    """Create the OMOP CDM v5.4 tables oncoline reads and writes (existing tables are left alone).

    Parameters
    ----------
    url, schema
        The CDM.
    demo
        Also load the synthetic demo CDM (3 persons, with defects to report).
    vocabulary
        With ``demo``: load CONCEPT / CONCEPT_ANCESTOR rows too.

    Returns
    -------
    dict
        ``created_tables`` (names), and with ``demo``: ``loaded_rows`` (table → rows) and ``demo_as_of`` (date).

    Raises
    ------
    InputError, BackendError
        A bad URL or schema; the database fails.
    """
    from oncoline.io.omop import init_cdm
    from oncoline.io.omop.db import connect
    from oncoline.io.omop.demo import DEMO_AS_OF, load_demo

    created = init_cdm(url, schema=schema)
    out: dict[str, Any] = {"created_tables": created}
    if demo:
        with connect(url, schema=schema) as db:
            out["loaded_rows"] = load_demo(db, vocabulary=vocabulary)
        out["demo_as_of"] = DEMO_AS_OF
    return out


@dataclass(frozen=True)
class OmopCohort:
    """A cohort read from an OMOP CDM.

    Attributes
    ----------
    exposures
        One row per mapped drug exposure (person_id, exposure_id, drug, start_date, end_date, stopped).
    index
        One row per person with a metastatic index date (person_id, metastatic_diagnosis).
    report
        What was read, mapped and flagged (``report.to_dict()`` is JSON-ready).
    """

    exposures: pa.Table
    index: pa.Table
    report: OmopReadReport


def read_omop_cohort(
    url: str,
    /,
    *,
    schema: str | None = None,
    her2_positive_only: bool = False,
    exposures_out: Path | None = None,
    index_out: Path | None = None,
) -> OmopCohort:
    """Read a cohort (drug mapping, metastatic index dates, HER2/ER/PR) from an OMOP CDM, optionally writing the
    exposure and index tables (``.parquet``/``.csv``).

    Raises
    ------
    InputError
        A bad URL, schema or output path (fields ``--exposures`` / ``--index``).
    BackendError
        The database fails.
    """
    from oncoline.io.exposures import write_table
    from oncoline.io.omop import read_cohort

    check_table_option(exposures_out, "--exposures")
    check_table_option(index_out, "--index")
    exposures, index, report = read_cohort(url, schema=schema, her2_positive_only=her2_positive_only)
    if exposures_out is not None:
        write_table(exposures, exposures_out)
    if index_out is not None:
        write_table(index, index_out)
    return OmopCohort(exposures, index, report)


@dataclass(frozen=True)
class OmopLinesRun:
    """Lines derived from an OMOP CDM.

    Attributes
    ----------
    result
        The lines, the row → line assignments and the engine's row accounting.
    read
        What was read from the CDM.
    cut
        The data cut-off and the rule that chose it.
    engine
        The engine that ran.
    out
        Where the lines table was written, if anywhere.
    episodes
        What was written to EPISODE / EPISODE_EVENT, when asked.
    """

    result: CohortLines
    read: OmopReadReport
    cut: CutOff
    engine: str
    out: Path | None = None
    episodes: EpisodeWriteReport | None = None

    def summary(self, *, readable_cut_off: bool = False) -> dict[str, Any]:
        """The summary ``oncoline omop lines`` shows: engine, cut-off, persons, lines, out, read, engine_report,
        episodes, and the line rows when no ``out`` was written. ``readable_cut_off`` folds the cut-off into one
        ``"data cut-off"`` line (the readable view) instead of as_of / as_of_source / as_of_note (JSON)."""
        report = self.result.report
        cut = self.cut
        summary: dict[str, Any] = {
            "engine": self.engine,
            **({"data cut-off": f"{cut.as_of or 'none'} ({cut.describe()})"} if readable_cut_off else cut.to_json()),
            "persons": report.persons,
            "lines": self.result.lines.num_rows,
            "out": None if self.out is None else str(self.out),
            "read": self.read.to_dict(),
            "engine_report": {
                "rows_in": report.rows_in,
                "rows_used": report.rows_used,
                "excluded": report.excluded,
                "unknown_drugs": report.unknown_drugs,
                "repaired": report.repaired,
            },
        }
        if self.episodes is not None:
            summary["episodes"] = self.episodes.to_dict()
        if self.out is None:
            summary["line_rows"] = [
                {k: v for k, v in row.items() if k != "drugs"} for row in self.result.lines.to_pylist()
            ]
        return summary


def derive_omop_lines(
    url: str,
    /,
    *,
    schema: str | None = None,
    engine: str = "duckdb",
    as_of: dt.date | None = None,
    today: dt.date | None = None,
    params: Mapping[str, Any] | None = None,
    her2_positive_only: bool = False,
    out: Path | None = None,
    assignments_out: Path | None = None,
    write_episodes: bool = False,
) -> OmopLinesRun:
    """Derive lines of therapy from an OMOP CDM and optionally store them as OMOP oncology episodes.

    Parameters
    ----------
    url, schema
        The CDM.
    engine
        ``duckdb`` (default), ``spark`` or ``reference``.
    as_of
        The data cut-off; default :func:`omop_cut_off`.
    today
        The clock's date, injected by the door (default: read now).
    params
        Line-of-therapy parameter overrides.
    her2_positive_only
        Keep persons with a positive HER2 result in MEASUREMENT.
    out, assignments_out
        Write the lines / row → line tables (``.parquet``/``.csv``).
    write_episodes
        Write the lines to EPISODE (Treatment Regimen, episode_number = line) and EPISODE_EVENT, replacing
        earlier derived regimens of the same persons.

    Returns
    -------
    OmopLinesRun

    Raises
    ------
    InputError
        A bad URL, schema, output path, engine name (field ``--engine``) or parameter.
    BackendError
        The engine is not installed or the database fails.
    """
    from oncoline.io import omop as omop_io
    from oncoline.io.exposures import write_table

    check_table_option(out, "--out")
    check_table_option(assignments_out, "--assignments")
    check_table_path(out, option="--out")
    check_table_path(assignments_out, option="--assignments")
    chosen_params = line_params(params)
    if engine not in OMOP_ENGINES:
        raise InputError(f"--engine {engine!r}: choose one of {', '.join(OMOP_ENGINES)}", field="--engine")
    fn = engine_function(engine)
    exposures, index, report = omop_io.read_cohort(url, schema=schema, her2_positive_only=her2_positive_only)
    cut = CutOff(as_of, "option") if as_of is not None else omop_cut_off(url, schema=schema, today=today)
    result = fn(exposures, index, params=chosen_params, as_of=cut.as_of)
    integer = integer_person_ids(exposures, index)
    if out is not None:
        lines_out = input_id_type(result.lines, integer=integer)
        write_lines_table(lines_out, out, lines_provenance(chosen_params, cut, engine))
    if assignments_out is not None:
        write_table(input_id_type(result.assignments, integer=integer), assignments_out)
    episodes = omop_io.write_episodes(url, result, schema=schema) if write_episodes else None
    return OmopLinesRun(result, report, cut, engine, out, episodes)


def write_omop_episodes(url: str, lines: LinesLike, /, *, schema: str | None = None) -> EpisodeWriteReport:
    """Store derived lines as OMOP oncology episodes: EPISODE (Treatment Regimen, ``episode_number`` = line) and
    EPISODE_EVENT rows, replacing earlier oncoline-derived regimens of the same persons.

    Parameters
    ----------
    url, schema
        The CDM the cohort was read from.
    lines
        A cohort line result whose rows came from that CDM: :attr:`OmopLinesRun.result`, or any object with
        ``lines`` and ``assignments`` tables (:class:`~oncoline.engines.lines.cohort.CohortLines`).

    Returns
    -------
    EpisodeWriteReport
        Rows written and replaced, tables created (``to_dict()`` is JSON-ready).

    Raises
    ------
    InputError
        Lines whose exposure ids are not DRUG_EXPOSURE ids of an OMOP cohort; a bad URL or schema.
    BackendError
        The database fails.
    """
    from oncoline.io.omop import write_episodes

    return write_episodes(url, lines, schema=schema)


@dataclass(frozen=True)
class OmopEpisodes:
    """The derived Treatment Regimen episodes of a CDM.

    Attributes
    ----------
    episodes
        One row per person_id and line (episode).
    events
        One row per DRUG_EXPOSURE linked to an episode.
    rows
        The episodes as mappings, each with ``n_events`` (linked exposures).
    """

    episodes: pa.Table
    events: pa.Table
    rows: list[dict[str, Any]]


def read_omop_episodes(url: str, /, *, schema: str | None = None, out: Path | None = None) -> OmopEpisodes:
    """Read back the derived Treatment Regimen episodes and the DRUG_EXPOSURE rows linked to each, optionally
    writing the episodes table (``.parquet``/``.csv``).

    Raises
    ------
    InputError
        A bad URL, schema or output path (field ``--out``).
    BackendError
        The database fails.
    """
    from oncoline.io.exposures import write_table
    from oncoline.io.omop import read_episodes

    check_table_option(out, "--out")
    eps, events = read_episodes(url, schema=schema)
    if out is not None:
        write_table(eps, out)
    per_episode: dict[tuple[str, int], int] = {}
    for e in events.to_pylist():
        k = (e["person_id"], e["line"])
        per_episode[k] = per_episode.get(k, 0) + 1
    rows = [{**r, "n_events": per_episode.get((r["person_id"], r["line"]), 0)} for r in eps.to_pylist()]
    return OmopEpisodes(eps, events, rows)
