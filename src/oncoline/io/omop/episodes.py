"""Derived lines as OMOP oncology episodes: EPISODE (Treatment Regimen, ``episode_number`` = line) and
EPISODE_EVENT rows, written and read back."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol

from oncoline.errors import InputError
from oncoline.io.omop._sql import _cast, _ints
from oncoline.io.omop.concepts import load_omop_concepts
from oncoline.io.omop.db import connect
from oncoline.io.omop.tables import EPISODE_TABLES, create_tables

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "EpisodeWriteReport",
    "LinesLike",
    "episodes_from_lines",
    "exposure_event_id",
    "read_episodes",
    "write_episodes",
]


@dataclass(frozen=True)
class EpisodeWriteReport:
    """What :func:`write_episodes` wrote.

    Attributes
    ----------
    target
        The (password-redacted) URL.
    n_episodes, n_episode_events
        EPISODE and EPISODE_EVENT rows inserted.
    n_replaced_episodes
        Earlier oncoline-derived Treatment Regimen episodes of the same persons deleted first.
    first_episode_id
        ``episode_id`` of the first inserted row (ids are consecutive), None when nothing was written.
    n_regimens_truncated
        Regimens longer than ``episode_source_value`` (50 characters) stored cut short.
    created_tables
        EPISODE / EPISODE_EVENT tables created because they were missing.
    """

    target: str
    n_episodes: int
    n_episode_events: int
    n_replaced_episodes: int
    first_episode_id: int | None
    n_regimens_truncated: int
    created_tables: list[str]

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready data."""
        return asdict(self)


class LinesLike(Protocol):
    """What :func:`write_episodes` needs of a cohort line result
    (:class:`oncoline.engines.lines.cohort.CohortLines` fits)."""

    @property
    def lines(self) -> pa.Table: ...

    @property
    def assignments(self) -> pa.Table: ...


def exposure_event_id(exposure_id: str) -> int:
    """The DRUG_EXPOSURE id behind an engine ``exposure_id`` (``"123"`` or ``"123:docetaxel"`` → 123).

    Raises
    ------
    InputError
        When the id does not start with a whole number (the lines did not come from :func:`read_cohort`).
    """
    head = str(exposure_id).split(":", 1)[0].strip()
    if not head.lstrip("-").isdigit():
        raise InputError(
            f"exposure_id {exposure_id!r} is not a DRUG_EXPOSURE id; write episodes only for lines derived from "
            "an OMOP cohort (oncoline.io.omop.read_cohort)",
            field="assignments.exposure_id",
        )
    return int(head)


# ---------------------------------------------------------------------------------------------- episodes
def episodes_from_lines(lines: LinesLike, /, *, first_episode_id: int = 1) -> tuple[pa.Table, pa.Table, int]:
    """EPISODE and EPISODE_EVENT rows for derived lines (pure: no database).

    Parameters
    ----------
    lines
        A cohort line result: ``lines`` (person_id, line, regimen, start_date, end_date, …) and
        ``assignments`` (person_id, exposure_id, line) as made by the cohort engines from
        :func:`read_cohort` output.
    first_episode_id
        ``episode_id`` of the first row; rows are numbered consecutively in (person_id, line) order.

    Returns
    -------
    episode : pyarrow.Table
        One row per line, OMOP CDM v5.4 EPISODE columns: episode_concept_id = Treatment Regimen,
        episode_number = line, episode_type_concept_id = algorithmically derived, episode_object_concept_id
        and episode_source_concept_id = 0 (regimens are not mapped to HemOnc concepts yet),
        episode_source_value = the regimen (cut to 50 characters), datetimes at midnight.
    episode_event : pyarrow.Table
        One row per (line, DRUG_EXPOSURE): episode_id, event_id = drug_exposure_id,
        episode_event_field_concept_id = ``drug_exposure.drug_exposure_id``. An episode's events are its
        line's ``n_exposures`` (the engines count the input rows assigned to a line), except for a
        DRUG_EXPOSURE that :func:`read_cohort` split into one row per drug (``"<id>:<drug>"``, several
        anticancer drugs and no vocabulary product holding them): its rows count once each in
        ``n_exposures`` and give one event.
    n_truncated : int
        Regimens cut to fit episode_source_value.

    Raises
    ------
    InputError
        When a person_id or exposure_id is not numeric, or an assignment names a line that is not in
        ``lines``.
    """
    import pyarrow as pa

    kb = load_omop_concepts().episode
    key_of: dict[tuple[str, int], int] = {}
    ep: dict[str, list[Any]] = {
        k: []
        for k in (
            "episode_id",
            "person_id",
            "episode_concept_id",
            "episode_start_date",
            "episode_start_datetime",
            "episode_end_date",
            "episode_end_datetime",
            "episode_parent_id",
            "episode_number",
            "episode_object_concept_id",
            "episode_type_concept_id",
            "episode_source_value",
            "episode_source_concept_id",
        )
    }
    n_truncated = 0

    def person_int(p: Any) -> int:
        text = str(p).strip()
        if not text.lstrip("-").isdigit():
            raise InputError(f"person_id {p!r} is not an OMOP person_id (a whole number)", field="lines.person_id")
        return int(text)

    rows = sorted(lines.lines.to_pylist(), key=lambda r: (person_int(r["person_id"]), int(r["line"])))
    for i, r in enumerate(rows):
        eid = first_episode_id + i
        key_of[(str(r["person_id"]), int(r["line"]))] = eid
        regimen = str(r["regimen"] or "")
        if len(regimen) > 50:
            regimen, n_truncated = regimen[:49] + "…", n_truncated + 1
        start, end = r["start_date"], r["end_date"]
        ep["episode_id"].append(eid)
        ep["person_id"].append(person_int(r["person_id"]))
        ep["episode_concept_id"].append(kb.treatment_regimen.concept_id)
        ep["episode_start_date"].append(start)
        ep["episode_start_datetime"].append(dt.datetime.combine(start, dt.time()) if start else None)
        ep["episode_end_date"].append(end)
        ep["episode_end_datetime"].append(dt.datetime.combine(end, dt.time()) if end else None)
        ep["episode_parent_id"].append(None)
        ep["episode_number"].append(int(r["line"]))
        ep["episode_object_concept_id"].append(kb.no_matching_concept.concept_id)
        ep["episode_type_concept_id"].append(kb.episode_type.concept_id)
        ep["episode_source_value"].append(regimen)
        ep["episode_source_concept_id"].append(kb.no_matching_concept.concept_id)
    events: set[tuple[int, int]] = set()
    for a in lines.assignments.to_pylist():
        k = (str(a["person_id"]), int(a["line"]))
        if k not in key_of:
            raise InputError(
                f"assignment of exposure {a['exposure_id']!r} names line {k[1]} of person {k[0]!r}, which is not "
                "in the lines table; pass the lines and assignments of one engine run",
                field="assignments.line",
            )
        events.add((key_of[k], exposure_event_id(a["exposure_id"])))
    ordered = sorted(events)
    episode = pa.table(
        ep,
        schema=pa.schema(
            [
                ("episode_id", pa.int64()),
                ("person_id", pa.int64()),
                ("episode_concept_id", pa.int32()),
                ("episode_start_date", pa.date32()),
                ("episode_start_datetime", pa.timestamp("us")),
                ("episode_end_date", pa.date32()),
                ("episode_end_datetime", pa.timestamp("us")),
                ("episode_parent_id", pa.int64()),
                ("episode_number", pa.int32()),
                ("episode_object_concept_id", pa.int32()),
                ("episode_type_concept_id", pa.int32()),
                ("episode_source_value", pa.string()),
                ("episode_source_concept_id", pa.int32()),
            ]
        ),
    )
    event = pa.table(
        {
            "episode_id": [e for e, _ in ordered],
            "event_id": [x for _, x in ordered],
            "episode_event_field_concept_id": [kb.event_field_drug_exposure.concept_id] * len(ordered),
        },
        schema=pa.schema(
            [("episode_id", pa.int64()), ("event_id", pa.int64()), ("episode_event_field_concept_id", pa.int32())]
        ),
    )
    return episode, event, n_truncated


def _ours(alias: str = "") -> str:
    """SQL predicate selecting the episodes oncoline writes (algorithm-derived Treatment Regimens)."""
    kb = load_omop_concepts().episode
    a = f"{alias}." if alias else ""
    return (
        f"{a}episode_concept_id = {kb.treatment_regimen.concept_id} "
        f"AND {a}episode_type_concept_id = {kb.episode_type.concept_id}"
    )


def write_episodes(
    url: str,
    /,
    lines: LinesLike,
    *,
    schema: str | None = None,
    replace: bool = True,
    create_missing_tables: bool = True,
) -> EpisodeWriteReport:
    """Write derived lines as OMOP oncology-extension EPISODE and EPISODE_EVENT rows.

    Parameters
    ----------
    url
        OMOP CDM location (see :func:`oncoline.io.omop.db.connect`); usually the one the cohort was read from.
    lines
        The cohort line result (:class:`oncoline.engines.lines.cohort.CohortLines`) of exposures read by
        :func:`read_cohort`: person_id and exposure_id are OMOP ids.
    schema
        CDM schema; overrides the URL's.
    replace
        Delete first the algorithm-derived Treatment Regimen episodes (and their events) of the persons
        being written, so that re-running a derivation replaces it. Other episodes are never touched.
    create_missing_tables
        Create EPISODE / EPISODE_EVENT (OMOP CDM v5.4 DDL) when absent.

    Returns
    -------
    EpisodeWriteReport
        Rows written and replaced; see :func:`episodes_from_lines` for the row contents. Everything is
        written in one transaction.

    Raises
    ------
    InputError
        When ids are not OMOP ids (see :func:`episodes_from_lines`), the tables are missing and
        ``create_missing_tables`` is false, or a DuckDB file does not exist.
    BackendError
        When the database cannot be reached or rejects the rows.

    References
    ----------
    OHDSI oncology extension, EPISODE / EPISODE_EVENT (OMOP CDM v5.4); concept ids and their verification
    status in ``knowledge/data/omop_concepts.yaml``.
    """
    episodes_from_lines(lines)  # validate ids before touching the database
    with connect(url, schema=schema) as db:
        created: list[str] = []
        if create_missing_tables:
            created = create_tables(db, EPISODE_TABLES)
        db.require(EPISODE_TABLES, purpose="writing episodes")
        persons = sorted({int(str(p)) for p in lines.lines.column("person_id").to_pylist()})
        e, ev = db.table("episode"), db.table("episode_event")
        n_replaced = 0
        with db.transaction():
            if replace and persons:
                doomed = f"SELECT episode_id FROM {e} WHERE {_ours()} AND person_id IN ({_ints(persons)})"
                n_replaced = int(db.query(f"SELECT count(*) AS n FROM ({doomed}) d").column("n")[0].as_py())
                db.execute(f"DELETE FROM {ev} WHERE episode_id IN ({doomed})")
                db.execute(f"DELETE FROM {e} WHERE episode_id IN ({doomed})")
            top = db.query(f"SELECT max(episode_id) AS m FROM {e}").column("m")[0].as_py()
            first = int(top or 0) + 1
            episode, event, n_truncated = episodes_from_lines(lines, first_episode_id=first)
            if episode.num_rows:
                db.insert("episode", episode)
            if event.num_rows:
                db.insert("episode_event", event)
        return EpisodeWriteReport(
            target=db.url,
            n_episodes=episode.num_rows,
            n_episode_events=event.num_rows,
            n_replaced_episodes=n_replaced,
            first_episode_id=first if episode.num_rows else None,
            n_regimens_truncated=n_truncated,
            created_tables=created,
        )


def read_episodes(url: str, /, *, schema: str | None = None) -> tuple[pa.Table, pa.Table]:
    """Read back the Treatment Regimen episodes written by :func:`write_episodes`.

    Parameters
    ----------
    url
        OMOP CDM location (see :func:`oncoline.io.omop.db.connect`).
    schema
        CDM schema; overrides the URL's.

    Returns
    -------
    lines : pyarrow.Table
        One row per episode, sorted by person_id (numerically) and line: ``episode_id`` int64,
        ``person_id`` string, ``line`` int32 (episode_number), ``regimen`` string (episode_source_value),
        ``start_date`` / ``end_date`` date32.
    events : pyarrow.Table
        One row per EPISODE_EVENT linking a DRUG_EXPOSURE, sorted: ``person_id`` string, ``exposure_id``
        string (drug_exposure_id), ``line`` int32.

    Raises
    ------
    InputError
        When EPISODE / EPISODE_EVENT are missing, or a DuckDB file does not exist.
    BackendError
        When the database cannot be reached or rejects a query.
    """
    import pyarrow as pa

    field_id = load_omop_concepts().episode.event_field_drug_exposure.concept_id
    with connect(url, schema=schema) as db:
        db.require(EPISODE_TABLES, purpose="reading episodes")
        e, ev = db.table("episode"), db.table("episode_event")
        eps = _cast(
            db.query(
                "SELECT episode_id, person_id, episode_number AS line, episode_source_value AS regimen, "
                f"episode_start_date AS start_date, episode_end_date AS end_date FROM {e} WHERE {_ours()} "
                "ORDER BY person_id, episode_number, episode_id"
            ),
            pa.schema(
                [
                    ("episode_id", pa.int64()),
                    ("person_id", pa.string()),
                    ("line", pa.int32()),
                    ("regimen", pa.string()),
                    ("start_date", pa.date32()),
                    ("end_date", pa.date32()),
                ]
            ),
        )
        events = _cast(
            db.query(
                f"SELECT e.person_id, ev.event_id AS exposure_id, e.episode_number AS line FROM {ev} ev "
                f"JOIN {e} e ON e.episode_id = ev.episode_id WHERE {_ours('e')} "
                f"AND ev.episode_event_field_concept_id = {field_id} "
                "ORDER BY e.person_id, ev.event_id, e.episode_number"
            ),
            pa.schema([("person_id", pa.string()), ("exposure_id", pa.string()), ("line", pa.int32())]),
        )
    return eps, events
