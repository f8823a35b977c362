"""OMOP CDM in, OMOP oncology episodes out (issue #4): a package, one module per concept.

Reading (:func:`read_cohort`, :func:`read_biomarkers`) turns PERSON, CONDITION_OCCURRENCE, DRUG_EXPOSURE and
MEASUREMENT (with CONCEPT / CONCEPT_ANCESTOR when present) into the two Arrow tables the cohort
line-of-therapy engines take. Writing (:func:`write_episodes`) stores derived lines as oncology-extension
EPISODE rows (Treatment Regimen, ``episode_number`` = line) with one EPISODE_EVENT row per DRUG_EXPOSURE of
the line, so OHDSI tools can use them; :func:`read_episodes` reads them back.

The database only answers plain SELECTs (:mod:`oncoline.io.omop.db`); every mapping decision is made in this
package, so DuckDB and PostgreSQL holding the same CDM give identical tables.

Drug mapping (first that succeeds, per distinct ``drug_concept_id`` / ``drug_source_value``):

1. ``concept_code``: the drug concept is itself an RxNorm code the drug vocabulary knows (an ingredient,
   or a product such as Phesgo, or a clinical drug listed in ``rxnorm_other``);
2. ``ingredient``: its RxNorm ingredient ancestors (CONCEPT_ANCESTOR), by RxNorm code then by name;
3. ``concept_name``: the concept's name (whole, then the words before the first digit);
4. ``ingredient_concept_id``: the OMOP ingredient ids of ``omop_concepts.yaml`` (no vocabulary tables);
5. ``source_value``: ``drug_source_value`` as a name, brand or RxNorm code (whole, then before a digit);
6. ``unmapped``: the engine gets the source value (or ``omop:<concept id>``) and counts it as unknown.

A supportive ingredient that comes with anticancer ones (hyaluronidase in subcutaneous trastuzumab) is an
excipient and dropped. Several anticancer drugs in one exposure become the vocabulary product holding
exactly them (Phesgo) when there is one, else one row each with ``exposure_id`` ``"<id>:<drug>"``.

Modules: :mod:`~oncoline.io.omop.db` (connections, one interface over DuckDB / PostgreSQL / SQLAlchemy),
:mod:`~oncoline.io.omop.tables` (CDM DDL, :func:`init_cdm`), :mod:`~oncoline.io.omop.concepts` (the concept map
``omop_concepts.yaml``), :mod:`~oncoline.io.omop.drugs` (drug mapping), :mod:`~oncoline.io.omop.biomarkers`
(HER2/ER/PR), :mod:`~oncoline.io.omop.cohort` (:func:`read_cohort`), :mod:`~oncoline.io.omop.episodes`
(EPISODE / EPISODE_EVENT), :mod:`~oncoline.io.omop.demo` (a small synthetic CDM).
"""

from __future__ import annotations

from oncoline.io.omop.biomarkers import read_biomarkers
from oncoline.io.omop.cohort import OmopReadReport, read_cohort
from oncoline.io.omop.episodes import (
    EpisodeWriteReport,
    LinesLike,
    episodes_from_lines,
    exposure_event_id,
    read_episodes,
    write_episodes,
)
from oncoline.io.omop.tables import init_cdm

__all__ = [
    "EpisodeWriteReport",
    "LinesLike",
    "OmopReadReport",
    "episodes_from_lines",
    "exposure_event_id",
    "init_cdm",
    "read_biomarkers",
    "read_cohort",
    "read_episodes",
    "write_episodes",
]
