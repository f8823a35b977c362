"""Strata of a cohort: index year, age band, HR status and presentation (de novo vs recurrent), per person.

Built from the index table (:mod:`oncoline.io.cohort_index` documents its optional columns). A value the index
does not give is ``unknown``, never guessed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["AGE_BANDS", "STRATA", "person_strata"]

STRATA = ("all", "index_year", "age_band", "hr_status", "presentation")
"""Stratum kinds, in report order (``all`` is the whole cohort)."""

AGE_BANDS = ((0, 40, "<40"), (40, 50, "40-49"), (50, 60, "50-59"), (60, 70, "60-69"), (70, 200, "70+"))
"""Age bands in years at the index date: ``(lower inclusive, upper exclusive, label)``."""


def person_strata(index: pa.Table, /) -> pa.Table:
    """One row per person of ``index``: the stratum of each kind.

    Parameters
    ----------
    index
        The cohort index (``person_id``, ``metastatic_diagnosis``; optional ``age_at_index`` in years or
        ``birth_year``, ``hr_status``, ``presentation``). Several rows for one person: the earliest index date wins.

    Returns
    -------
    pyarrow.Table
        ``person_id``, ``index_year`` (text, ``unknown`` without a date), ``age_band`` (:data:`AGE_BANDS` labels or
        ``unknown``; from ``age_at_index``, else index year − ``birth_year``), ``hr_status`` (positive | negative |
        unknown), ``presentation`` (de_novo | recurrent | unknown); sorted by person_id.

    Examples
    --------
    >>> import datetime as dt, pyarrow as pa
    >>> t = person_strata(pa.table({"person_id": ["a"], "metastatic_diagnosis": [dt.date(2021, 5, 1)],
    ...                             "birth_year": [1960]}))
    >>> t.to_pylist()[0]["age_band"], t.to_pylist()[0]["index_year"]
    ('60-69', '2021')
    """
    from oncoline.analytics._duckdb import connect_one_thread

    cols = set(index.column_names)
    bands = " ".join(f"WHEN age >= {lo} AND age < {hi} THEN '{label}'" for lo, hi, label in AGE_BANDS)
    year = "year(dx)"
    if "age_at_index" in cols:
        age = "CAST(age_at_index AS DOUBLE)"
        if "birth_year" in cols:
            age = f"coalesce({age}, CAST({year} - CAST(birth_year AS INTEGER) AS DOUBLE))"
    elif "birth_year" in cols:
        age = f"CAST({year} - CAST(birth_year AS INTEGER) AS DOUBLE)"
    else:
        age = "CAST(NULL AS DOUBLE)"
    hr = "lower(CAST(hr_status AS VARCHAR))" if "hr_status" in cols else "NULL"
    pres = "lower(CAST(presentation AS VARCHAR))" if "presentation" in cols else "NULL"
    extra = [c for c in ("age_at_index", "birth_year", "hr_status", "presentation") if c in cols]
    picked = ", ".join(f"arg_min({c}, coalesce(dx, DATE '9999-12-31')) AS {c}" for c in extra)
    con = connect_one_thread()
    try:
        con.register("idx", index.select(["person_id", "metastatic_diagnosis", *extra]))
        sql = f"""
        WITH i AS (SELECT CAST(person_id AS VARCHAR) AS person_id, TRY_CAST(metastatic_diagnosis AS DATE) AS dx
                   {"".join(", " + c for c in extra)} FROM idx WHERE person_id IS NOT NULL),
        p AS (SELECT person_id, min(dx) AS dx {", " + picked if picked else ""} FROM i GROUP BY person_id),
        a AS (SELECT *, {age} AS age FROM p)
        SELECT person_id,
               coalesce(CAST({year} AS VARCHAR), 'unknown') AS index_year,
               CASE {bands} ELSE 'unknown' END AS age_band,
               CASE WHEN {hr} IN ('positive', 'negative') THEN {hr} ELSE 'unknown' END AS hr_status,
               CASE WHEN {pres} IN ('de_novo', 'recurrent') THEN {pres} ELSE 'unknown' END AS presentation
        FROM a ORDER BY person_id
        """
        return con.execute(sql).to_arrow_table()
    finally:
        con.close()
