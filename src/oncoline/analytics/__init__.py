"""Cohort analytics on Arrow tables: attrition, treatment pathways, small-cell suppression, Kaplan–Meier time on
treatment and time to next treatment, guideline concordance and sensitivity to the line rules.

Pure computations (no files, no clock): tables in, tables out. A lines table is first reduced to counts
(:mod:`oncoline.analytics.aggregates`: in memory with DuckDB, or in Spark by
:mod:`oncoline.analytics.spark_aggregates`), and every table of the report is computed from those counts. The
cohort report (:mod:`oncoline.app.cohort_report`) puts them together; each module documents its tables.
"""
