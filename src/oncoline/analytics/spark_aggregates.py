"""The cohort report's aggregates computed in Spark, for a lines table that does not fit in memory.

Every count of :class:`oncoline.analytics.aggregates.CohortAggregates` is computed by Spark over the lines
DataFrame; the driver receives aggregates only, never a row per line or per person:

* lines per regimen (one row per regimen) → the regimen labels, on the driver, sent back as a small table;
* each person's label sequence over the first ``max_lines`` lines, grouped by strata and sequence (one row per
  distinct pathway and stratum);
* every line's durations for both endpoints, grouped by (endpoint, line, label, concordance category, days,
  event) with a count — Kaplan–Meier is fitted on the driver from these weighted counts (lifelines ``weights``);
* for the concordance, the distinct patient states (:mod:`oncoline.analytics.concordance_tables`) — judged on
  the driver, each once — are joined back in Spark and counted per (line, index year, category, reason).

The index (one row per person: strata, HER2 and HR status) is read and validated on the driver and sent to Spark
as a DataFrame. Results equal those of :func:`oncoline.analytics.aggregates.aggregate_lines` (tested on a
generated cohort), so the report's tables are the same.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import warnings
from typing import TYPE_CHECKING, Any

from oncoline.errors import BackendError

if TYPE_CHECKING:
    import pyarrow as pa

    from oncoline.analytics.aggregates import CohortAggregates, Step
    from oncoline.analytics.concordance import Judge

__all__ = ["aggregate_lines_spark", "latest_line_end"]


def _collect(df: Any) -> pa.Table:
    """Bring an aggregated Spark result to the driver as Arrow (every collection of this module goes here)."""
    import pyarrow as pa

    with warnings.catch_warnings():
        # pyspark leaves its result sockets to the garbage collector
        warnings.simplefilter("ignore", ResourceWarning)
        if hasattr(df, "toArrow"):
            table: pa.Table = df.toArrow()
            return table
        return pa.Table.from_pandas(df.toPandas(), preserve_index=False)  # pragma: no cover - pyspark 3.5


def _to_spark(session: Any, table: pa.Table) -> Any:
    """A Spark DataFrame of a (driver-side) Arrow table."""
    from pyspark.sql import DataFrame

    if hasattr(DataFrame, "toArrow"):  # pyspark >= 4.0 takes a pyarrow.Table
        return session.createDataFrame(table)
    return session.createDataFrame(table.to_pandas())  # pragma: no cover - pyspark 3.5


def latest_line_end(lines: Any, /) -> dt.date | None:
    """The latest ``end_date`` of a Spark lines DataFrame (one aggregate; None when it has no rows)."""
    from pyspark.sql import functions as F

    value = _collect(lines.agg(F.max(F.col("end_date").cast("date")).alias("d"))).column("d")[0].as_py()
    return value if isinstance(value, dt.date) else None


def aggregate_lines_spark(
    lines: Any,
    index: pa.Table,
    /,
    *,
    as_of: dt.date,
    max_lines: int,
    top_regimens: int,
    judge: Judge | None = None,
    step: Step | None = None,
) -> CohortAggregates:
    """The aggregates of a Spark lines DataFrame (the Spark path of the cohort report).

    Parameters
    ----------
    lines
        A ``pyspark.sql.DataFrame`` with the columns of the lines table of ``oncoline lines``
        (:func:`oncoline.engines.lines.cohort.lines_schema`), e.g. ``spark.read.parquet(path)``.
    index, as_of, max_lines, top_regimens, judge, step
        As for :func:`oncoline.analytics.aggregates.aggregate_lines`.

    Returns
    -------
    CohortAggregates
        Equal to :func:`~oncoline.analytics.aggregates.aggregate_lines` of the same lines in memory.

    Raises
    ------
    BackendError
        When a Spark job fails.
    """
    try:
        return _aggregate(
            lines, index, as_of=as_of, max_lines=max_lines, top_regimens=top_regimens, judge=judge, step=step
        )
    except BackendError:
        raise
    except Exception as exc:  # py4j / Spark analysis errors have no common base class
        if type(exc).__module__.startswith(("pyspark", "py4j")):
            raise BackendError(f"Spark failed while aggregating the lines table: {exc}") from exc
        raise


def _aggregate(
    lines: Any,
    index: pa.Table,
    *,
    as_of: dt.date,
    max_lines: int,
    top_regimens: int,
    judge: Judge | None,
    step: Step | None,
) -> CohortAggregates:
    import pyarrow as pa
    from pyspark.sql import functions as F

    from oncoline.analytics.aggregates import CohortAggregates, count_persons, her2_scope
    from oncoline.analytics.concordance_tables import person_status
    from oncoline.analytics.pathways import SEQUENCE_STRATA, regimen_labels_from_counts
    from oncoline.analytics.strata import person_strata

    def tick(what: str, done: float, total: float) -> None:
        if step is not None:
            step(what, done, total)

    session = lines.sparkSession
    kinds = list(SEQUENCE_STRATA)
    tick("strata and pathways (Spark)", 0, 3)
    analysed, her2 = her2_scope(index)  # HER2-negative persons of the index are left out (and counted)
    persons_tbl = person_strata(analysed).join(person_status(analysed), "person_id", join_type="left outer")
    persons = _to_spark(session, persons_tbl)  # one row per person: Spark broadcasts it when small
    all_lines = lines.withColumn("person_id", F.col("person_id").cast("string")).withColumn(
        "line", F.col("line").cast("int")
    )
    ids = persons.select("person_id")
    index_ids = _to_spark(session, person_strata(index).select(["person_id"]))

    def left_out(df: Any, keep: Any) -> dict[str, Any]:
        row: dict[str, Any] = _collect(
            df.join(keep, "person_id", "left_anti").agg(
                F.countDistinct("person_id").alias("persons"), F.count(F.lit(1)).alias("lines")
            )
        ).to_pylist()[0]
        return row

    outside_row = left_out(all_lines, index_ids)
    negative_row = (
        left_out(all_lines.join(index_ids, "person_id", "left_semi"), ids)
        if her2.negative
        else {"persons": 0, "lines": 0}
    )
    her2 = dataclasses.replace(
        her2, negative_lines=(int(negative_row["persons"] or 0), int(negative_row["lines"] or 0))
    )
    kept = all_lines.join(ids, "person_id", "left_semi").cache()
    cached = [kept]
    try:
        totals = _collect(
            kept.agg(F.countDistinct("person_id").alias("persons"), F.count(F.lit(1)).alias("lines"))
        ).to_pylist()[0]
        counts = _collect(kept.groupBy("regimen").agg(F.count(F.lit(1)).alias("lines")))
        regimens = regimen_labels_from_counts(counts, top_regimens=top_regimens)
        labels = F.broadcast(_to_spark(session, regimens.select(["regimen", "label"])))
        x = kept.join(labels, "regimen", "left").join(persons, "person_id", "left")
        for k in kinds:
            x = x.withColumn(k, F.coalesce(F.col(k), F.lit("unknown")))
        seq = (
            x.filter((F.col("line") <= max_lines) & F.col("label").isNotNull())
            .groupBy("person_id", *kinds)
            .agg(
                F.sort_array(F.collect_list(F.struct("line", "label"))).alias("s"),
                F.max("line").cast("int").alias("n_lines"),
            )
            .select(*kinds, F.transform("s", lambda e: e["label"]).alias("seq"), "n_lines")
            .groupBy(*kinds, "seq", "n_lines")
            .agg(F.count(F.lit(1)).alias("persons"))
        )
        sequences = _sorted(_collect(seq), [*kinds, "seq", "n_lines", "persons"])  # DuckDB: ORDER BY ALL
        conc = None
        calls = 0
        if judge is not None:
            tick("guideline concordance: distinct patient states (Spark)", 1, 3)
            x, conc, calls = _concordance(x, judge, session, step=tick, cached=cached)
        else:
            x = x.withColumn("category", F.lit(None).cast("string"))
        tick("durations (Spark)", 2, 3)
        epoch = F.lit(as_of.isoformat()).cast("date")
        tot = x.select(
            F.lit("tot").alias("endpoint"),
            "line",
            "label",
            "category",
            F.when(F.col("end_reason") == "ongoing", F.datediff(epoch, F.col("start_date")) + 1)
            .otherwise(F.col("time_on_treatment_days"))
            .cast("int")
            .alias("days"),
            (F.col("end_reason") != "ongoing").alias("event"),
        )
        ttnt = x.select(
            F.lit("ttnt").alias("endpoint"),
            "line",
            "label",
            "category",
            F.when(F.col("time_to_next_treatment_days").isNotNull(), F.col("time_to_next_treatment_days"))
            .otherwise(F.datediff(epoch, F.col("start_date")))
            .cast("int")
            .alias("days"),
            F.col("time_to_next_treatment_days").isNotNull().alias("event"),
        )
        durations = _collect(
            tot.unionByName(ttnt)
            .withColumn("line", F.least(F.col("line"), F.lit(max_lines + 1)).cast("int"))
            .groupBy("endpoint", "line", "label", "category", "days", "event")
            .agg(F.count(F.lit(1)).alias("n"))
        )
        durations = _sorted(durations, ["endpoint", "line", "label", "category", "days", "event"])
        if durations.num_rows == 0:
            durations = durations.cast(
                pa.schema(
                    [
                        ("endpoint", pa.string()),
                        ("line", pa.int32()),
                        ("label", pa.string()),
                        ("category", pa.string()),
                        ("days", pa.int32()),
                        ("event", pa.bool_()),
                        ("n", pa.int64()),
                    ]
                )
            )
    finally:
        for df in cached:
            df.unpersist()
    tick("aggregates ready", 3, 3)
    return CohortAggregates(
        regimens=regimens,
        sequences=sequences,
        durations=durations,
        concordance=conc,
        n_index=count_persons(index),
        persons_with_lines=int(totals["persons"] or 0),
        n_lines=int(totals["lines"] or 0),
        outside=(int(outside_row["persons"] or 0), int(outside_row["lines"] or 0)),
        states_judged=calls,
        her2=her2,
    )


def _concordance(x: Any, judge: Judge, session: Any, *, step: Step, cached: list[Any]) -> tuple[Any, pa.Table, int]:
    """Each line's state key in Spark, the distinct states judged on the driver, joined back: ``x`` with
    ``category``, the concordance counts (``line``, ``index_year``, ``category``, ``reason``, ``regimen``,
    ``lines``) and the
    distinct (canonical) states judged."""
    import pyarrow as pa
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from oncoline.analytics.concordance_tables import STATE_COLUMNS, count_distinct_states, judge_states

    before = Window.partitionBy("person_id").orderBy("line").rowsBetween(Window.unboundedPreceding, -1)
    drugs_key = F.concat_ws("|", F.sort_array(F.col("drugs")))
    stop = F.when(F.col("end_reason") == "toxicity", F.lit("toxicity")).otherwise(F.lit(""))
    dates = F.array(*[F.lit(d.isoformat()).cast("date") for d in judge.dates]) if judge.dates else None
    period = (F.size(F.filter(dates, lambda d: d <= F.col("start_date"))) - 1 if dates is not None else F.lit(-1)).cast(
        "int"
    )
    keyed = (
        x.withColumn("drugs_key", drugs_key)
        .withColumn("_item", F.concat(F.col("drugs_key"), F.lit("#"), stop))
        .withColumn("prior_key", F.concat_ws(";", F.sort_array(F.collect_list("_item").over(before))))
        .withColumn("period", period)
        .drop("_item")
    ).cache()
    cached.append(keyed)
    states = _collect(keyed.select(*STATE_COLUMNS).distinct())
    states = _sorted(states, list(STATE_COLUMNS))

    def progress(k: int, total: int) -> None:
        step(f"guideline concordance: {k:,}/{total:,} distinct states", 1 + k / max(total, 1), 3)

    judged = judge_states(judge, states, on_progress=progress)
    judged_df = F.broadcast(_to_spark(session, judged.select([*STATE_COLUMNS, "category", "reason"])))
    cond = [
        keyed["period"] == judged_df["period"],
        keyed["her2"].eqNullSafe(judged_df["her2"]),
        keyed["hr"].eqNullSafe(judged_df["hr"]),
        keyed["prior_key"] == judged_df["prior_key"],
        keyed["drugs_key"] == judged_df["drugs_key"],
    ]
    joined = keyed.join(judged_df, cond, "left").select(keyed["*"], judged_df["category"], judged_df["reason"])
    keys = ["line", "index_year", "category", "reason", "regimen"]
    counts = _collect(joined.groupBy(*keys).agg(F.count(F.lit(1)).alias("lines")))
    counts = _sorted(counts, keys).cast(
        pa.schema(
            [
                ("line", pa.int32()),
                ("index_year", pa.string()),
                ("category", pa.string()),
                ("reason", pa.string()),
                ("regimen", pa.string()),
                ("lines", pa.int64()),
            ]
        )
    )
    return joined.drop("reason"), counts, count_distinct_states(judge, states)


def _sorted(table: pa.Table, keys: list[str]) -> pa.Table:
    """Aggregates sorted like their DuckDB twins (``ORDER BY ALL``, nulls last), for stable output."""
    import pyarrow as pa
    import pyarrow.compute as pc

    present = [k for k in keys if k in table.column_names]
    if not table.num_rows or not present:
        return table
    # A list column (a person's regimen sequence) sorts as DuckDB sorts lists: element by element, a prefix
    # first - which is the order of its elements joined by NUL, the character below every other. Without it,
    # rows tied on the other keys came out in Spark's arbitrary order.
    keyed, order = table, []
    for i, k in enumerate(present):
        if _is_list(table, k):
            name = f"__sort_key_{i}"
            keyed = keyed.append_column(name, pc.binary_join(pc.cast(table.column(k), pa.list_(pa.string())), "\x00"))
            order.append((name, "ascending"))
        else:
            order.append((k, "ascending"))
    return table.take(pc.sort_indices(keyed, sort_keys=order))  # nulls last (the default), as DuckDB's


def _is_list(table: pa.Table, name: str) -> bool:
    import pyarrow as pa

    kind = table.schema.field(name).type
    return bool(pa.types.is_list(kind) or pa.types.is_large_list(kind))
