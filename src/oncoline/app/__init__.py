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

from typing import TYPE_CHECKING

from oncoline._lazy import lazy_exports

if TYPE_CHECKING:  # imported on first use: a door pays only for the use cases it calls
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
        write_omop_episodes,
    )
    from oncoline.app.patient import PatientReading, read_patient
    from oncoline.app.recommend import RecommendOutcome, recommend_document

_LAZY: dict[str, str] = {
    "CohortRun": "oncoline.app.lines",
    "CutOff": "oncoline.app.cutoff",
    "DocumentSource": "oncoline.app.documents",
    "ENGINES": "oncoline.app.lines",
    "KnowledgeEntry": "oncoline.app.knowledge",
    "MEDIA_TYPES": "oncoline.app.documents",
    "OmopCohort": "oncoline.app.omop",
    "OmopEpisodes": "oncoline.app.omop",
    "OmopLinesRun": "oncoline.app.omop",
    "ParsedDocument": "oncoline.app.documents",
    "PatientLines": "oncoline.app.lines",
    "PatientReading": "oncoline.app.patient",
    "RecommendOutcome": "oncoline.app.recommend",
    "available_engines": "oncoline.app.lines",
    "classify_her2_document": "oncoline.app.her2",
    "classify_her2_mapping": "oncoline.app.her2",
    "cohort_cut_off": "oncoline.app.cutoff",
    "derive_cohort_lines": "oncoline.app.lines",
    "derive_omop_lines": "oncoline.app.omop",
    "derive_patient_lines": "oncoline.app.lines",
    "init_omop": "oncoline.app.omop",
    "knowledge_entry": "oncoline.app.knowledge",
    "knowledge_summary": "oncoline.app.knowledge",
    "lint_knowledge_base": "oncoline.app.knowledge",
    "omop_cut_off": "oncoline.app.cutoff",
    "parse_as_of": "oncoline.app.dates",
    "parse_params": "oncoline.app.lines",
    "read_document": "oncoline.app.documents",
    "read_omop_cohort": "oncoline.app.omop",
    "read_omop_episodes": "oncoline.app.omop",
    "read_patient": "oncoline.app.patient",
    "recommend_document": "oncoline.app.recommend",
    "resolve_today": "oncoline.app.dates",
    "write_omop_episodes": "oncoline.app.omop",
}


__getattr__, __dir__ = lazy_exports("oncoline.app", globals(), _LAZY)


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
    "write_omop_episodes",
]
