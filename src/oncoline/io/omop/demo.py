"""A small synthetic OMOP CDM for demos and tests: HER2-positive metastatic breast cancer, with defects.

``oncoline omop init URL --demo`` loads it; the OMOP tests load it into DuckDB and PostgreSQL and check that
both give the same cohort and lines. Everything here is invented (no real person); dates and sequences
follow the usual HER2+ MBC course (shared/reference/her2-mbc.md): THP then HP maintenance, T-DXd, then
tucatinib + trastuzumab + capecitabine.

Persons
-------
1001  de novo HER2+ ER- MBC (bone metastasis, SNOMED concept with a CONCEPT_ANCESTOR link): line 1
      docetaxel (clinical-drug concept) + trastuzumab (clinical-drug concept) + pertuzumab, docetaxel stopped
      after 6 cycles (HP maintenance); line 2 T-DXd after documented progression (stop_reason); line 3
      tucatinib + trastuzumab + capecitabine after progression again, ongoing at the cut-off. Supportive
      ondansetron and denosumab on the way.
1002  HER2+ ER+ relapse: adjuvant trastuzumab (early setting); metastatic by ICD-10 source value ``C78.7``
      only (condition_concept_id 0); Phesgo + paclitaxel, letrozole added as maintenance; then T-DM1.
      Defects: one T-DM1 row ending before it starts, one duplicated Phesgo row (another id), one unmapped
      drug (concept 0, source value ``XYZ-123 investigational``).
1003  HER2+ primary breast cancer, no metastatic condition: trastuzumab rows without an index date.

Concept ids: RxNorm ingredients use the OMOP ids of ``omop_concepts.yaml`` where it has one; the rest of
the vocabulary uses ids above 2,000,000,000 (the OMOP range for local concepts), with the real RxNorm,
SNOMED and LOINC codes in ``concept_code``.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from oncoline.io.omop.db import OmopDatabase

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["DEMO_AS_OF", "demo_tables", "load_demo"]

DEMO_AS_OF = dt.date(2024, 6, 30)
"""The data cut-off of the demo CDM."""

_LOCAL = 2_000_000_000
_D = dt.date
_EPOCH = _D(1970, 1, 1)
_FAR = _D(2099, 12, 31)

# concept_id, name, domain, vocabulary, class, standard, code
_CONCEPTS: list[tuple[int, str, str, str, str, str | None, str]] = [
    (1387104, "trastuzumab", "Drug", "RxNorm", "Ingredient", "S", "224905"),
    (42801287, "pertuzumab", "Drug", "RxNorm", "Ingredient", "S", "1298944"),
    (1315942, "docetaxel", "Drug", "RxNorm", "Ingredient", "S", "72962"),
    (1378382, "paclitaxel", "Drug", "RxNorm", "Ingredient", "S", "56946"),
    (43525787, "ado-trastuzumab emtansine", "Drug", "RxNorm", "Ingredient", "S", "1371041"),
    (1337620, "capecitabine", "Drug", "RxNorm", "Ingredient", "S", "194000"),
    (1315946, "letrozole", "Drug", "RxNorm", "Ingredient", "S", "72965"),
    (40222444, "denosumab", "Drug", "RxNorm", "Ingredient", "S", "993449"),
    (1000560, "ondansetron", "Drug", "RxNorm", "Ingredient", "S", "26225"),
    (_LOCAL + 1, "fam-trastuzumab deruxtecan", "Drug", "RxNorm", "Ingredient", "S", "2267582"),
    (_LOCAL + 2, "tucatinib", "Drug", "RxNorm", "Ingredient", "S", "2361286"),
    (_LOCAL + 3, "hyaluronidase-zzxf", "Drug", "RxNorm", "Ingredient", "S", "2001000005"),
    (1594432, "trastuzumab 150 MG Injection", "Drug", "RxNorm", "Clinical Drug", "S", "2001000001"),
    (1718787, "docetaxel 10 MG/ML Injection", "Drug", "RxNorm", "Clinical Drug", "S", "2001000002"),
    (
        _LOCAL + 10,
        "hyaluronidase-zzxf / pertuzumab / trastuzumab Injectable Solution [Phesgo]",
        "Drug",
        "RxNorm",
        "Branded Drug",
        "S",
        "2001000003",
    ),
    (_LOCAL + 11, "tucatinib 150 MG Oral Tablet", "Drug", "RxNorm", "Clinical Drug", "S", "2001000004"),
    (_LOCAL + 20, "Malignant tumor of breast", "Condition", "SNOMED", "Clinical Finding", "S", "254837009"),
    (
        _LOCAL + 21,
        "Secondary malignant neoplastic disease",
        "Condition",
        "SNOMED",
        "Clinical Finding",
        "S",
        "128462008",
    ),
    (_LOCAL + 22, "Secondary malignant neoplasm of bone", "Condition", "SNOMED", "Clinical Finding", "S", "94222008"),
    (
        _LOCAL + 23,
        "Secondary malignant neoplasm of liver",
        "Condition",
        "ICD10CM",
        "4-char billing code",
        None,
        "C78.7",
    ),
    (3019066, "HER2 Ag [Presence] in Tissue by Immune stain", "Measurement", "LOINC", "Lab Test", "S", "18474-7"),
    (
        _LOCAL + 30,
        "Estrogen receptor Ag [Presence] in Breast cancer specimen by Immune stain",
        "Measurement",
        "LOINC",
        "Lab Test",
        "S",
        "85337-4",
    ),
    (9191, "Positive", "Meas Value", "SNOMED", "Qualifier Value", "S", "10828004"),
    (9189, "Negative", "Meas Value", "SNOMED", "Qualifier Value", "S", "260385009"),
]

# ancestor, descendant (self links are added for every standard concept)
_ANCESTRY: list[tuple[int, int]] = [
    (1387104, 1594432),
    (1315942, 1718787),
    (42801287, _LOCAL + 10),
    (1387104, _LOCAL + 10),
    (_LOCAL + 3, _LOCAL + 10),
    (_LOCAL + 2, _LOCAL + 11),
    (_LOCAL + 21, _LOCAL + 22),
]


def _every(start: _D, days: int, n: int) -> list[_D]:
    return [start + dt.timedelta(days=days * i) for i in range(n)]


def _exposures() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def add(person: int, concept: int, source: str | None, start: _D, days: int = 1, stop: str | None = None) -> None:
        rows.append(
            {
                "person_id": person,
                "drug_concept_id": concept,
                "drug_source_value": source,
                "drug_exposure_start_date": start,
                "drug_exposure_end_date": start + dt.timedelta(days=days - 1),
                "stop_reason": stop,
            }
        )

    # person 1001: THP x6 then HP to progression; T-DXd; tucatinib + trastuzumab + capecitabine
    hp = _every(_D(2021, 3, 15), 21, 18)
    for i, d in enumerate(hp):
        add(1001, 1594432, "Herceptin 150mg", d)
        add(1001, 42801287, "Perjeta", d, stop="disease progression" if i == len(hp) - 1 else None)
        if i < 6:
            add(1001, 1718787, "Docetaxel 20mg/ml", d)
        if i % 2 == 0:
            add(1001, 1000560, "Zofran 8mg", d)
    for d in _every(_D(2021, 4, 1), 84, 6):
        add(1001, 40222444, "Xgeva", d)
    tdxd = _every(hp[-1] + dt.timedelta(days=28), 21, 14)
    for i, d in enumerate(tdxd):
        add(1001, _LOCAL + 1, "Enhertu", d, stop="Progression" if i == len(tdxd) - 1 else None)
    for d in _every(tdxd[-1] + dt.timedelta(days=35), 21, 22):
        add(1001, 1387104, "trastuzumab", d)
        add(1001, _LOCAL + 11, "Tukysa 150 mg", d, days=21)
        add(1001, 1337620, "Xeloda 500 mg", d, days=14)

    # person 1002: adjuvant trastuzumab (early), Phesgo + paclitaxel, letrozole maintenance, then T-DM1
    for d in _every(_D(2017, 2, 1), 21, 17):
        add(1002, 1387104, "Herceptin", d)
    phesgo = _every(_D(2021, 6, 7), 21, 14)
    for i, d in enumerate(phesgo):
        add(1002, _LOCAL + 10, "Phesgo", d)
        if i < 12:
            add(1002, 1378382, "paclitaxel weekly", d, days=15)
    add(1002, _LOCAL + 10, "Phesgo", phesgo[3])  # DEFECT: duplicated drug_exposure under another id
    add(1002, 0, "XYZ-123 investigational", phesgo[5])  # DEFECT: unmapped drug (concept 0)
    for d in _every(phesgo[12], 28, 4):
        add(1002, 1315946, "Femara 2.5mg", d, days=28)
    tdm1 = _every(_D(2022, 9, 5), 21, 8)
    for i, d in enumerate(tdm1):
        add(1002, 43525787, "Kadcyla", d)
        if i == 4:  # DEFECT: end before start
            rows[-1]["drug_exposure_end_date"] = d - dt.timedelta(days=3)

    # person 1003: no metastatic condition
    for d in _every(_D(2022, 1, 10), 21, 6):
        add(1003, 1387104, "trastuzumab", d)

    for i, r in enumerate(rows, start=1):
        r["drug_exposure_id"] = 50_000 + i
        r["drug_type_concept_id"] = 32818  # EHR administration record (not checked: unused by oncoline)
    return rows


def demo_tables() -> dict[str, pa.Table]:
    """The demo CDM: table name → Arrow rows (columns a subset of the OMOP CDM v5.4 table's)."""
    import pyarrow as pa

    def rows_to_table(rows: list[dict[str, Any]]) -> pa.Table:
        names = list(dict.fromkeys(k for r in rows for k in r))  # every row's columns, not only the first's
        return pa.Table.from_pylist([{k: r.get(k) for k in names} for r in rows])

    concept = [
        {
            "concept_id": c[0],
            "concept_name": c[1],
            "domain_id": c[2],
            "vocabulary_id": c[3],
            "concept_class_id": c[4],
            "standard_concept": c[5],
            "concept_code": c[6],
            "valid_start_date": _EPOCH,
            "valid_end_date": _FAR,
            "invalid_reason": None,
        }
        for c in _CONCEPTS
    ]
    standard = [c[0] for c in _CONCEPTS if c[5] == "S"]
    ancestry = [(a, a, 0) for a in standard] + [(a, d, 1) for a, d in _ANCESTRY]
    concept_ancestor = [
        {
            "ancestor_concept_id": a,
            "descendant_concept_id": d,
            "min_levels_of_separation": n,
            "max_levels_of_separation": n,
        }
        for a, d, n in ancestry
    ]
    person = [
        {"person_id": p, "gender_concept_id": 8532, "year_of_birth": y, "race_concept_id": 0, "ethnicity_concept_id": 0}
        for p, y in ((1001, 1968), (1002, 1975), (1003, 1959))
    ]
    observation_period = [
        {
            "observation_period_id": i,
            "person_id": p,
            "observation_period_start_date": _D(2015, 1, 1),
            "observation_period_end_date": DEMO_AS_OF,
            "period_type_concept_id": 32817,
        }
        for i, p in enumerate((1001, 1002, 1003), start=1)
    ]

    def cond(i: int, p: int, concept_id: int, start: _D, source: str, source_concept: int = 0) -> dict[str, Any]:
        return {
            "condition_occurrence_id": i,
            "person_id": p,
            "condition_concept_id": concept_id,
            "condition_start_date": start,
            "condition_type_concept_id": 32817,
            "condition_source_value": source,
            "condition_source_concept_id": source_concept,
        }

    condition_occurrence = [
        cond(1, 1001, _LOCAL + 20, _D(2021, 2, 20), "C50.911"),
        cond(2, 1001, _LOCAL + 22, _D(2021, 3, 1), "C79.51"),
        cond(3, 1002, _LOCAL + 20, _D(2016, 11, 2), "C50.412"),
        cond(4, 1002, 0, _D(2021, 5, 28), "C78.7"),
        cond(5, 1003, _LOCAL + 20, _D(2021, 12, 1), "C50.811"),
    ]

    def meas(i: int, p: int, concept_id: int, day: _D, value_concept: int | None, source: str) -> dict[str, Any]:
        return {
            "measurement_id": i,
            "person_id": p,
            "measurement_concept_id": concept_id,
            "measurement_date": day,
            "measurement_type_concept_id": 32817,
            "value_as_concept_id": value_concept,
            "measurement_source_value": source,
        }

    measurement = [
        meas(1, 1001, 3019066, _D(2021, 2, 25), 9191, "HER2 IHC"),
        meas(2, 1001, _LOCAL + 30, _D(2021, 2, 25), 9189, "ER IHC"),
        meas(3, 1002, 3019066, _D(2016, 11, 10), 9191, "HER2 IHC"),
        meas(4, 1002, _LOCAL + 30, _D(2016, 11, 10), 9191, "ER IHC"),
        meas(5, 1003, 0, _D(2021, 12, 5), None, "HER2 IHC 3+"),
    ]
    measurement[-1]["value_as_number"] = 3.0
    measurement[-1]["value_source_value"] = "3+"
    return {
        "concept": rows_to_table(concept),
        "concept_ancestor": rows_to_table(concept_ancestor),
        "person": rows_to_table(person),
        "observation_period": rows_to_table(observation_period),
        "condition_occurrence": rows_to_table(condition_occurrence),
        "measurement": rows_to_table(measurement),
        "drug_exposure": rows_to_table(_exposures()),
    }


def load_demo(db: OmopDatabase, /, *, vocabulary: bool = True) -> dict[str, int]:
    """Insert the demo CDM into the (already created) tables of ``db``.

    Parameters
    ----------
    db
        An open database whose CDM tables exist (:func:`oncoline.io.omop.init_cdm`).
    vocabulary
        Also load CONCEPT and CONCEPT_ANCESTOR; False gives a CDM without vocabulary tables' rows, to test
        the source-value fallbacks.

    Returns
    -------
    dict
        Table name → rows inserted.

    Raises
    ------
    BackendError
        When the database refuses the rows.
    """
    counts: dict[str, int] = {}
    with db.transaction():
        for name, table in demo_tables().items():
            if not vocabulary and name in ("concept", "concept_ancestor"):
                continue
            db.insert(name, table)
            counts[name] = table.num_rows
    return counts
