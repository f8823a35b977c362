"""OMOP concepts and codes oncoline reads and writes, loaded from ``knowledge/data/omop_concepts.yaml``.

The file is knowledge (house style S1): which conditions mean metastatic disease, which measurements hold
HER2/ER/PR, how results and stop reasons are worded, and the EPISODE concept ids oncoline writes. Each entry
says whether it was verified and against what (see the file's header).

>>> c = load_omop_concepts()
>>> c.episode.treatment_regimen.concept_id
32531
>>> c.ingredient_by_concept_id[1387104]
'trastuzumab'
>>> c.stop_reason("Disease progression")
'progression'
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from oncoline.errors import KnowledgeBaseError
from oncoline.knowledge.drugs import load_vocabulary, normalise_name

__all__ = [
    "BiomarkerCodes",
    "ConceptRef",
    "EpisodeConcepts",
    "MetastaticCodes",
    "OmopConcepts",
    "load_omop_concepts",
]

Verified = Literal[True, False, "secondary"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ConceptRef(_Frozen):
    """One OMOP concept id with its provenance."""

    concept_id: int = Field(ge=0, description="OMOP concept_id.")
    name: str = Field(description="concept_name as in Athena.")
    vocabulary: str = Field(description="vocabulary_id.")
    verified: Verified = Field(description="True, 'secondary' (cross-checked, not in Athena) or False.")
    checked_against: str | None = None
    source: tuple[str, ...]
    note: str | None = None


class EpisodeConcepts(_Frozen):
    """Concept ids of the EPISODE / EPISODE_EVENT rows oncoline writes."""

    treatment_regimen: ConceptRef
    episode_type: ConceptRef
    event_field_drug_exposure: ConceptRef
    no_matching_concept: ConceptRef


class CodeRef(_Frozen):
    """A code of a vocabulary (matched in CONCEPT by vocabulary_id and concept_code)."""

    vocabulary: str = "LOINC"
    code: str
    name: str
    verified: Verified
    checked_against: str | None = None
    source: tuple[str, ...]


class PrefixRef(_Frozen):
    """An ICD-10 code prefix (``C78`` matches ``C78.7`` and ``C787``)."""

    prefix: str = Field(pattern=r"^[A-Z][0-9]{2}$")
    name: str
    verified: Verified
    checked_against: str | None = None
    source: tuple[str, ...]


class IdRef(_Frozen):
    """A bare OMOP concept id with provenance."""

    concept_id: int = Field(ge=1)
    code: str | None = None
    name: str | None = None
    verified: Verified
    source: tuple[str, ...]


class MetastaticCodes(_Frozen):
    """Conditions meaning metastatic (secondary) malignancy."""

    codes: tuple[CodeRef, ...]
    icd10_prefixes: tuple[PrefixRef, ...]
    concept_ids: tuple[IdRef, ...] = ()


class BiomarkerCodes(_Frozen):
    """Measurements holding one biomarker (HER2, ER or PR)."""

    loinc: tuple[CodeRef, ...]
    concept_ids: tuple[IdRef, ...] = ()
    source_value_prefixes: tuple[str, ...] = Field(
        description="Lower-case words a measurement_source_value may start with (a whole word), e.g. 'her2'."
    )
    ihc_loinc: tuple[str, ...] = ()

    def matches_source_value(self, value: str | None) -> bool:
        """True when a measurement_source_value names this biomarker: one of its LOINC codes, or text
        starting with one of ``source_value_prefixes`` as a whole word (``"HER2 IHC"``, not ``"hero"``)."""
        if not value:
            return False
        text = normalise_name(value)
        if text in {c.code for c in self.loinc}:
            return True
        return any(re.match(re.escape(p) + r"(?![a-z0-9])", text) for p in self.source_value_prefixes)


class ResultWords(_Frozen):
    """How one result (positive / negative / equivocal) is coded."""

    concept_ids: tuple[IdRef, ...] = ()
    text: tuple[str, ...] = ()


class IhcScoreMap(_Frozen):
    """HER2 IHC score (0-3, value_as_number) → result."""

    source: tuple[str, ...]
    verified: Verified
    checked_against: str | None = None
    map: dict[int, Literal["positive", "negative", "equivocal"]]


class StopReasons(_Frozen):
    """drug_exposure.stop_reason words → ``progression`` / ``toxicity``."""

    source: tuple[str, ...]
    progression: tuple[str, ...]
    toxicity: tuple[str, ...]


class IngredientRef(_Frozen):
    """OMOP concept id of an RxNorm ingredient → canonical drug name."""

    concept_id: int = Field(ge=1)
    drug: str
    verified: Verified
    source: tuple[str, ...]


class OmopConcepts(_Frozen):
    """The content of ``omop_concepts.yaml``."""

    version: str
    effective: str
    sources: dict[str, str]
    episode: EpisodeConcepts
    metastatic: MetastaticCodes
    biomarkers: dict[Literal["her2", "er", "pr"], BiomarkerCodes]
    results: dict[Literal["positive", "negative", "equivocal"], ResultWords]
    her2_ihc_score: IhcScoreMap
    stop_reasons: StopReasons
    drug_ingredients: tuple[IngredientRef, ...]

    @property
    def ingredient_by_concept_id(self) -> dict[int, str]:
        """OMOP ingredient concept id → canonical drug name (fallback without a CONCEPT table)."""
        return {i.concept_id: i.drug for i in self.drug_ingredients}

    def result_for_concept(self, concept_id: int | None) -> str | None:
        """``positive`` / ``negative`` / ``equivocal`` for a value_as_concept_id, or None."""
        if concept_id is None:
            return None
        for result, words in self.results.items():
            if any(c.concept_id == concept_id for c in words.concept_ids):
                return result
        return None

    def result_for_text(self, text: str | None) -> str | None:
        """``positive`` / ``negative`` / ``equivocal`` for a value_source_value, or None when not stated."""
        if not text:
            return None
        key = normalise_name(text)
        for result, words in self.results.items():
            if key in words.text:
                return result
        return None

    def stop_reason(self, text: str | None) -> str | None:
        """``progression`` / ``toxicity`` for a drug_exposure.stop_reason, or None."""
        if not text:
            return None
        key = normalise_name(text)
        words = set(re.findall(r"[a-z0-9]+", key))
        for reason, terms in (("progression", self.stop_reasons.progression), ("toxicity", self.stop_reasons.toxicity)):
            # short terms ("pd", "ae") must be whole words; longer ones may appear inside the text
            if any((t in words) if len(t) <= 3 else (t in key) for t in terms):
                return reason
        return None


def _check(c: OmopConcepts) -> None:
    refs: list[tuple[str, tuple[str, ...]]] = []
    ep = c.episode
    for name in ("treatment_regimen", "episode_type", "event_field_drug_exposure", "no_matching_concept"):
        refs.append((f"episode.{name}", getattr(ep, name).source))
    refs += [(f"metastatic.codes.{r.code}", r.source) for r in c.metastatic.codes]
    refs += [(f"metastatic.icd10_prefixes.{r.prefix}", r.source) for r in c.metastatic.icd10_prefixes]
    for marker, b in c.biomarkers.items():
        refs += [(f"biomarkers.{marker}.loinc.{r.code}", r.source) for r in b.loinc]
        refs += [(f"biomarkers.{marker}.concept_ids.{r.concept_id}", r.source) for r in b.concept_ids]
    refs += [("her2_ihc_score", c.her2_ihc_score.source), ("stop_reasons", c.stop_reasons.source)]
    refs += [(f"drug_ingredients.{i.concept_id}", i.source) for i in c.drug_ingredients]
    for where, source in refs:
        missing = [s for s in source if s not in c.sources]
        if missing or not source:
            raise KnowledgeBaseError(f"omop_concepts.yaml: {where} cites unknown or no source {missing}")
    vocab = load_vocabulary()
    for i in c.drug_ingredients:
        if vocab.lookup(i.drug) != (i.drug,):
            raise KnowledgeBaseError(
                f"omop_concepts.yaml: drug_ingredients.{i.concept_id} names {i.drug!r}, which is not a "
                "canonical drug of drugs.yaml"
            )
    ids = [i.concept_id for i in c.drug_ingredients]
    if len(ids) != len(set(ids)):
        raise KnowledgeBaseError("omop_concepts.yaml: a drug_ingredients concept_id is listed twice")


@cache
def load_omop_concepts() -> OmopConcepts:
    """The packaged OMOP concept knowledge (loaded and checked once per process).

    Returns
    -------
    OmopConcepts
        Validated content of ``knowledge/data/omop_concepts.yaml``.

    Raises
    ------
    KnowledgeBaseError
        When the file fails its schema, cites a source it does not define, or maps an ingredient to a drug
        the drug vocabulary does not know.
    """
    text = resources.files("oncoline.knowledge").joinpath("data/omop_concepts.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    if isinstance(raw, dict) and "effective" in raw:
        raw["effective"] = str(raw["effective"])
    try:
        concepts = OmopConcepts.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise KnowledgeBaseError(f"omop_concepts.yaml: {where}: {first['msg']}") from None
    _check(concepts)
    return concepts
