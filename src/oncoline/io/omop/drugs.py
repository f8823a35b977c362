"""Drug mapping: DRUG_EXPOSURE concepts and source values → canonical (INN) drug names (see the package
docstring for the order of the rules)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from oncoline.io.omop._sql import _RXNORM_VOCABS, _strs
from oncoline.io.omop.concepts import OmopConcepts
from oncoline.io.omop.db import OmopDatabase
from oncoline.knowledge.drugs import DrugRole, DrugVocabulary

if TYPE_CHECKING:
    pass


_BEFORE_DIGIT = re.compile(r"^([^0-9]+?)\s*[0-9]")


def _lookup_text(vocab: DrugVocabulary, text: str | None) -> tuple[str, ...] | None:
    if not text or not text.strip():
        return None
    found = vocab.lookup(text)
    if found is None:
        m = _BEFORE_DIGIT.match(text.strip())
        if m:
            found = vocab.lookup(m.group(1))
    return found


def _finish(vocab: DrugVocabulary, names: list[str]) -> tuple[str, ...]:
    """Drop supportive excipients next to anticancer drugs, dedupe, prefer the product holding them all."""
    unique = list(dict.fromkeys(names))
    anticancer = [n for n in unique if vocab.drug(n).role == DrugRole.ANTICANCER]
    if anticancer and len(anticancer) < len(unique):
        unique = anticancer
    if len(unique) > 1:
        for p in vocab.products:
            if set(p.components) == set(unique):
                return (p.name,)
    return tuple(sorted(unique))


def _map_drug(
    concept_id: int | None,
    source_value: str | None,
    *,
    vocab: DrugVocabulary,
    kb: OmopConcepts,
    concepts: dict[int, tuple[str, str, str]],
    ingredients: dict[int, list[tuple[str, str]]],
) -> tuple[tuple[str, ...], str]:
    """(drug names for the engine, mapping step) for one drug concept / source value pair."""
    if concept_id is not None and concept_id in concepts:
        code, name, vocabulary = concepts[concept_id]
        if vocabulary in _RXNORM_VOCABS:
            found = vocab.lookup(f"rxnorm:{code}")
            if found:
                return _finish(vocab, list(found)), "concept_code"
        ingr = ingredients.get(concept_id, [])
        names: list[str] = []
        for icode, iname in ingr:
            hit = vocab.lookup(f"rxnorm:{icode}") or vocab.lookup(iname)
            if hit:
                names.extend(hit)
        if names:
            return _finish(vocab, names), "ingredient"
        found = _lookup_text(vocab, name)
        if found:
            return _finish(vocab, list(found)), "concept_name"
    if concept_id is not None and concept_id in kb.ingredient_by_concept_id:
        return (kb.ingredient_by_concept_id[concept_id],), "ingredient_concept_id"
    found = _lookup_text(vocab, source_value)
    if found:
        return _finish(vocab, list(found)), "source_value"
    label = source_value.strip() if source_value and source_value.strip() else f"omop:{concept_id}"
    return (label,), "unmapped"


def _drug_vocabulary_rows(
    db: OmopDatabase, vocab_mode: str
) -> tuple[dict[int, tuple[str, str, str]], dict[int, list[tuple[str, str]]]]:
    if vocab_mode == "none":
        return {}, {}
    c, de = db.table("concept"), db.table("drug_exposure")
    used = f"SELECT DISTINCT drug_concept_id FROM {de}"
    rows = db.query(
        f"SELECT concept_id, concept_code, concept_name, vocabulary_id FROM {c} WHERE concept_id IN ({used})"
    ).to_pylist()
    concepts = {
        int(r["concept_id"]): (str(r["concept_code"]), str(r["concept_name"]), str(r["vocabulary_id"])) for r in rows
    }
    ingredients: dict[int, list[tuple[str, str]]] = {}
    if vocab_mode == "concept_ancestor":
        ca = db.table("concept_ancestor")
        rows = db.query(
            f"SELECT ca.descendant_concept_id, c.concept_code, c.concept_name FROM {ca} ca "
            f"JOIN {c} c ON c.concept_id = ca.ancestor_concept_id "
            f"WHERE c.concept_class_id = 'Ingredient' AND c.vocabulary_id IN ({_strs(list(_RXNORM_VOCABS))}) "
            f"AND ca.descendant_concept_id IN ({used})"
        ).to_pylist()
        for r in sorted(rows, key=lambda r: (r["descendant_concept_id"], str(r["concept_code"]))):
            ingredients.setdefault(int(r["descendant_concept_id"]), []).append(
                (str(r["concept_code"]), str(r["concept_name"]))
            )
    return concepts, ingredients
