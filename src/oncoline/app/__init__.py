"""The application layer: the use cases every door calls (command line, HTTP service, report, page).

Each use case takes paths or content in memory (``bytes`` + media type), an injected ``today`` (the engines
never read the clock), returns a typed result, prints nothing and raises the :mod:`oncoline.errors` tree:

=============================  ===========================================================================
:func:`recommend_document`     a patient document (YAML/JSON or FHIR bundle) → recommendation + findings
:func:`read_patient`           a patient document → the patient and, for FHIR, the ingestion report
:func:`classify_her2_document` HER2 results → ASCO/CAP status, ISH group, category
:func:`derive_patient_lines`   one patient's events → lines, with the data cut-off rule
:func:`derive_cohort_lines`    exposure + index tables (files, Arrow tables) or an OMOP CDM → lines + summary
:func:`derive_omop_lines`      an OMOP CDM → lines, optionally written back as EPISODE rows
:func:`init_omop`, :func:`read_omop_cohort`, :func:`read_omop_episodes`, :func:`omop_cut_off`
:func:`lint_knowledge_base`, :func:`knowledge_summary`, :func:`knowledge_entry`
=============================  ===========================================================================
"""

from __future__ import annotations

from oncoline.app.cutoff import CutOff, cohort_cut_off, omop_cut_off
from oncoline.app.dates import parse_as_of, resolve_today
from oncoline.app.documents import MEDIA_TYPES, DocumentSource, ParsedDocument, read_document
from oncoline.app.her2 import classify_her2_document, classify_her2_mapping
from oncoline.app.knowledge import KnowledgeEntry, knowledge_entry, knowledge_summary, lint_knowledge_base
from oncoline.app.lines import (
    ENGINES,
    CohortRun,
    PatientLines,
    available_engines,
    derive_cohort_lines,
    derive_patient_lines,
    parse_params,
)
from oncoline.app.omop import (
    OmopCohort,
    OmopEpisodes,
    OmopLinesRun,
    derive_omop_lines,
    init_omop,
    read_omop_cohort,
    read_omop_episodes,
)
from oncoline.app.patient import PatientReading, read_patient
from oncoline.app.recommend import RecommendOutcome, recommend_document

__all__ = [
    "ENGINES",
    "MEDIA_TYPES",
    "CohortRun",
    "CutOff",
    "DocumentSource",
    "KnowledgeEntry",
    "OmopCohort",
    "OmopEpisodes",
    "OmopLinesRun",
    "ParsedDocument",
    "PatientLines",
    "PatientReading",
    "RecommendOutcome",
    "available_engines",
    "classify_her2_document",
    "classify_her2_mapping",
    "cohort_cut_off",
    "derive_cohort_lines",
    "derive_omop_lines",
    "derive_patient_lines",
    "init_omop",
    "knowledge_entry",
    "knowledge_summary",
    "lint_knowledge_base",
    "omop_cut_off",
    "parse_as_of",
    "parse_params",
    "read_document",
    "read_omop_cohort",
    "read_omop_episodes",
    "read_patient",
    "recommend_document",
    "resolve_today",
]
