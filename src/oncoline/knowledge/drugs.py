"""The drug vocabulary: generic (INN) names canonical, brands, biosimilars and spellings as aliases.

The vocabulary is data (``knowledge/data/drugs.yaml``); this module loads and indexes it.

Rules (issue #2, item 3; shared/reference/her2-mbc.md §f):

- a name resolves case- and whitespace-insensitively, through aliases, to one or more canonical drugs — a
  fixed-dose product such as Phesgo resolves to ``("pertuzumab", "trastuzumab")``;
- trastuzumab emtansine (T-DM1) and trastuzumab deruxtecan (T-DXd) are distinct drugs, never "trastuzumab";
- an RxNorm code (ingredient or a clinical-drug code listed in ``rxnorm_other``) resolves like a name;
- an unknown name raises :class:`~oncoline.errors.UnknownDrugError` naming the closest known names.

Examples
--------
>>> vocab = load_vocabulary()
>>> vocab.resolve("Herceptin")
('trastuzumab',)
>>> vocab.resolve("Phesgo")
('pertuzumab', 'trastuzumab')
>>> vocab.resolve("Kadcyla")
('trastuzumab emtansine',)
>>> vocab.resolve("trastuzumab-dkst")
('trastuzumab',)
>>> vocab.drug("docetaxel").in_class("taxane")
True
"""

from __future__ import annotations

import difflib
import re
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from oncoline.errors import KnowledgeBaseError, UnknownDrugError

__all__ = ["Drug", "DrugRole", "DrugVocabulary", "Product", "load_vocabulary", "normalise_name"]


class DrugRole(StrEnum):
    """What a drug is for, as far as lines of therapy care."""

    ANTICANCER = "anticancer"
    SUPPORTIVE = "supportive"
    CONCOMITANT = "concomitant"


class Drug(BaseModel):
    """One canonical drug (an ingredient)."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    name: str = Field(description="Canonical lowercase generic (INN) name.")
    role: DrugRole = Field(description="anticancer drugs form lines; supportive and concomitant drugs never do.")
    classes: tuple[str, ...] = Field(default=(), description="Class codes from the vocabulary's `classes`.")
    rxnorm: str | None = Field(default=None, description="RxNorm ingredient code (RXCUI).")
    rxnorm_checked: bool = Field(default=True, description="False when the code awaits verification in RxNav.")
    rxnorm_other: tuple[str, ...] = Field(default=(), description="Further RxNorm codes resolving here.")
    aliases: tuple[str, ...] = Field(default=(), description="Brands, biosimilar names, spellings.")

    def in_class(self, code: str) -> bool:
        """True when the drug belongs to class ``code`` (e.g. ``"taxane"``, ``"her2_directed"``)."""
        return code in self.classes

    @property
    def her2_directed(self) -> bool:
        """True for HER2-directed antibodies, ADCs and TKIs."""
        return "her2_directed" in self.classes


class Product(BaseModel):
    """A fixed-dose product holding several canonical drugs (e.g. Phesgo)."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    name: str
    components: tuple[str, ...]
    rxnorm: str | None = None
    rxnorm_checked: bool = True
    aliases: tuple[str, ...] = ()


_SPACES = re.compile(r"\s+")
_SALT_SUFFIX = re.compile(r"\s+(hydrochloride|hcl|mesylate|ditosylate|maleate|citrate|acetate|sodium|disodium)$")


def normalise_name(name: str) -> str:
    """Lowercase, trim and collapse white space: ``" Trastuzumab  Deruxtecan "`` → ``"trastuzumab deruxtecan"``."""
    return _SPACES.sub(" ", str(name).strip().lower())


class DrugVocabulary:
    """Index of canonical drugs, products and aliases.

    Parameters
    ----------
    drugs, products
        The vocabulary's entries; names and aliases must be unique across both.
    classes
        Class code → description.
    version
        The vocabulary file's version string.

    Raises
    ------
    KnowledgeBaseError
        When a name or alias is claimed twice, a product names an unknown component, or a drug names an
        unknown class.
    """

    def __init__(
        self,
        drugs: list[Drug],
        products: list[Product],
        classes: dict[str, str],
        version: str,
    ) -> None:
        self.version = version
        self.classes = dict(classes)
        self._drugs = {d.name: d for d in drugs}
        self._index: dict[str, tuple[str, ...]] = {}
        for d in drugs:
            unknown = [c for c in d.classes if c not in self.classes]
            if unknown:
                raise KnowledgeBaseError(f"drugs.yaml: drug {d.name!r} has unknown classes {unknown}")
            for key in (d.name, *d.aliases):
                self._claim(normalise_name(key), (d.name,), d.name)
            for code in (d.rxnorm, *d.rxnorm_other):
                if code:
                    self._claim(f"rxnorm:{code}", (d.name,), d.name)
        for p in products:
            missing = [c for c in p.components if c not in self._drugs]
            if missing:
                raise KnowledgeBaseError(f"drugs.yaml: product {p.name!r} names unknown components {missing}")
            for key in (p.name, *p.aliases):
                self._claim(normalise_name(key), p.components, p.name)
            if p.rxnorm:
                self._claim(f"rxnorm:{p.rxnorm}", p.components, p.name)
        self._products = {p.name: p for p in products}

    def _claim(self, key: str, value: tuple[str, ...], owner: str) -> None:
        if key in self._index and self._index[key] != value:
            raise KnowledgeBaseError(f"drugs.yaml: {key!r} is claimed by {self._index[key]} and by {owner!r}")
        self._index[key] = value

    # ------------------------------------------------------------------ look-ups
    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.lookup(name) is not None

    @property
    def drugs(self) -> tuple[Drug, ...]:
        """All canonical drugs, in file order."""
        return tuple(self._drugs.values())

    @property
    def products(self) -> tuple[Product, ...]:
        """All fixed-dose products."""
        return tuple(self._products.values())

    def drug(self, name: str) -> Drug:
        """The canonical drug called ``name`` (canonical name or alias resolving to exactly one drug).

        Raises
        ------
        UnknownDrugError
            When ``name`` is unknown or names a multi-drug product.
        """
        names = self.resolve(name)
        if len(names) != 1:
            raise UnknownDrugError(name, list(names))
        return self._drugs[names[0]]

    def lookup(self, name: str) -> tuple[str, ...] | None:
        """Canonical drug names for ``name`` (a name, alias, ``rxnorm:CODE`` or a bare all-digit RxNorm code),
        or ``None`` when unknown."""
        key = normalise_name(name)
        if key.isdigit():
            key = f"rxnorm:{key}"
        found = self._index.get(key)
        if found is None and not key.startswith("rxnorm:"):
            found = self._index.get(_SALT_SUFFIX.sub("", key))
        return found

    def resolve(self, name: str, *, source: str | None = None, field: str | None = None) -> tuple[str, ...]:
        """Canonical drug names for ``name``; see :meth:`lookup`.

        Raises
        ------
        UnknownDrugError
            When the name is unknown; the error lists up to three closest known names.
        """
        found = self.lookup(name)
        if found is None:
            raise UnknownDrugError(name, self.suggest(name), source=source, field=field)
        return found

    def suggest(self, name: str, n: int = 3) -> list[str]:
        """Up to ``n`` known names closest to ``name`` (canonical names where the match is an alias)."""
        keys = [k for k in self._index if not k.startswith("rxnorm:")]
        close = difflib.get_close_matches(normalise_name(name), keys, n=n * 2, cutoff=0.6)
        out: list[str] = []
        for k in close:
            label = k if k in self._drugs else f"{k} ({' + '.join(self._index[k])})"
            if label not in out:
                out.append(label)
        return out[:n]

    def in_class(self, name: str, code: str) -> bool:
        """True when canonical drug ``name`` belongs to class ``code``; class names are also accepted as
        ``code`` aliases for the check_cases vocabulary (``endocrine_therapy`` …)."""
        d = self._drugs.get(name)
        return d is not None and code in d.classes

    def members(self, code: str) -> tuple[str, ...]:
        """Canonical drugs of class ``code``, in file order."""
        return tuple(d.name for d in self._drugs.values() if code in d.classes)

    def rxnorm(self, name: str) -> str | None:
        """The RxNorm ingredient code of canonical drug ``name`` (None when not coded)."""
        d = self._drugs.get(name)
        return d.rxnorm if d else None


def _parse(raw: dict[str, Any]) -> DrugVocabulary:
    try:
        drugs = [Drug.model_validate(d) for d in raw.get("drugs") or []]
        products = [Product.model_validate(p) for p in raw.get("products") or []]
    except ValueError as exc:
        raise KnowledgeBaseError(f"drugs.yaml: {exc}") from exc
    return DrugVocabulary(drugs, products, raw.get("classes") or {}, str(raw.get("version", "")))


@cache
def load_vocabulary() -> DrugVocabulary:
    """The packaged drug vocabulary (loaded once per process).

    Raises
    ------
    KnowledgeBaseError
        When ``drugs.yaml`` fails its schema (see :class:`DrugVocabulary`).
    """
    from oncoline.knowledge.cache import cache_dir, cached, packaged_inputs

    def build() -> DrugVocabulary:
        text = resources.files("oncoline.knowledge").joinpath("data/drugs.yaml").read_text(encoding="utf-8")
        return _parse(yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))  # safe; C when built

    return cached("drugs", build, inputs=packaged_inputs(), directory=cache_dir())
