"""FHIR R4 / mCODE STU4 bundles → the oncoline :class:`~oncoline.model.patient.Patient` (issue #4; a package by
kind of fact since issue 7).

Reads a Bundle (or a single resource) leniently and honestly, one module per kind of fact:

- :mod:`~oncoline.io.fhir.patient` — **Patient** → id, sex, age (only with ``as_of`` and a full birth date).
- :mod:`~oncoline.io.fhir.markers` — **TumorMarkerTest** observations → HER2 raw results (IHC score, ISH ratio,
  HER2 copies, qualitative ISH; the lab's final call only when no raw value exists), ER and PR (percent or
  positive/negative); free text and units read only when unambiguous.
- :mod:`~oncoline.io.fhir.conditions` — **ECOG**, **LVEF**, **pregnancy status** → ``ecog``, ``conditions``; the
  LVEF baseline only from an LVEF marked as baseline or dated wholly before the current anti-HER2 therapy.
- :mod:`~oncoline.io.fhir.sites` — **Primary/SecondaryCancerCondition** and stage observations → metastatic sites,
  histology, the metastatic diagnosis date (kept with its precision) and the presentation (de novo / recurrent).
- :mod:`~oncoline.io.fhir.medications` — **MedicationAdministration / Statement / Request** → exposures, and
  **CancerDiseaseStatus** progression → ``stopped: progression`` on the exposures in force.
- :mod:`~oncoline.io.fhir.dates` — dates and their precision (a partial date never becomes 1 January).
- :mod:`~oncoline.io.fhir.report` — the one :class:`IngestionReport` every module appends its findings to.
- :mod:`~oncoline.io.fhir.bundle`, :mod:`~oncoline.io.fhir.observations`, :mod:`~oncoline.io.fhir.datatypes`,
  :mod:`~oncoline.io.fhir.codes`, :mod:`~oncoline.io.fhir.free_text` — entries, observation dispatch, FHIR data
  types, the code tables (``knowledge/data/fhir_codes.yaml``) and the free-text rules; :mod:`~oncoline.io.fhir.reader`
  holds the entry point :func:`patient_from_fhir`.

Every defect is a :class:`Finding` naming the resource and what was done; the validation ``policy`` decides whether
problems are only reported (``ignore``), also emitted as :class:`~oncoline.errors.DataQualityWarning` (``warn``,
default) or raised as :class:`~oncoline.errors.InputError` (``raise``). Nothing is invented: a partial date keeps
its precision and never becomes 1 January; an unknown or placeholder code is reported, not guessed.

``fhir.resources`` (R4B models, R4-compatible) is imported only when a FHIR document is read; it checks each
resource's structure, and a resource it rejects is still read field by field.
"""

from __future__ import annotations

from oncoline.io.document import not_a_patient_reason
from oncoline.io.fhir.bundle import resource_type_problem
from oncoline.io.fhir.reader import patient_from_fhir
from oncoline.io.fhir.report import DatedFact, ExposureRecord, Finding, IngestionReport, Policy

__all__ = [
    "DatedFact",
    "ExposureRecord",
    "Finding",
    "IngestionReport",
    "Policy",
    "not_a_patient_reason",
    "patient_from_fhir",
    "resource_type_problem",
]
