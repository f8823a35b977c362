"""Free text that may hold a HER2 IHC score, read only when it is unambiguous (issue 12 item 1).

The rules are data (``her2_ihc_text`` in ``knowledge/data/fhir_codes.yaml``); this module compiles and applies them:
gene and antibody-clone names are set aside, then the text must hold exactly one score, every result word in it must
agree with that score, and it must hold no control / reference / uncertainty wording, percentage, range or other
number. Otherwise the reading says why it is unreadable — the score is never guessed.

>>> from oncoline.io.fhir.codes import load_fhir_codes
>>> load_fhir_codes().ihc_text("negative (3+ control)").unreadable
'control or reference wording ("control")'
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

from oncoline.errors import KnowledgeBaseError

__all__ = ["Her2IhcText", "IhcTextReading", "IhcTextRules", "norm_text"]

_SPACES = re.compile(r"\s+")


def norm_text(text: object) -> str:
    """Lowercase, trim and collapse white space."""
    return _SPACES.sub(" ", str(text).strip().lower())


class Her2IhcText(BaseModel):
    """How an IHC score is read from free text (``her2_ihc_text`` in fhir_codes.yaml): only when unambiguous."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ignore_patterns: list[str] = Field(description="Regexes removed first (gene and antibody-clone names).")
    score_patterns: list[str] = Field(description="Regexes each capturing the digit 0-3 of one score.")
    ultralow_words: list[str]
    score_results: dict[str, str] = Field(description="Score (0, ultralow, 1+, 2+, 3+) → the result it means.")
    result_words: dict[str, list[str]] = Field(description="Result → words that say it (negating words included).")
    unsafe_words: list[str] = Field(description="Control / reference / uncertainty wording: never read a score.")
    unsafe_patterns: list[str] = Field(description="Regexes that make a score unsafe (a percentage, a range, ?).")


class IhcTextReading(BaseModel):
    """What a free-text HER2 IHC value says: a ``score``, or why it cannot be read (``unreadable``), or neither
    (no score in the text at all)."""

    model_config = ConfigDict(frozen=True)

    score: str | None = None
    unreadable: str | None = Field(default=None, description="Why the text is ambiguous; the score is not used.")


def _word_regex(word: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![a-z0-9]){re.escape(norm_text(word))}(?![a-z0-9])")


class IhcTextRules:
    """The compiled ``her2_ihc_text`` rules (see :meth:`FhirCodes.ihc_text`)."""

    def __init__(self, rules: Her2IhcText) -> None:
        try:
            self.ignore = [re.compile(p) for p in rules.ignore_patterns]
            self.scores = [re.compile(p) for p in rules.score_patterns]
            self.unsafe_patterns = [re.compile(p) for p in rules.unsafe_patterns]
        except re.error as exc:
            raise KnowledgeBaseError(f"fhir_codes.yaml: her2_ihc_text holds a bad pattern: {exc}") from exc
        self.ultralow = [_word_regex(w) for w in rules.ultralow_words]
        self.unsafe_words = [(w, _word_regex(w)) for w in rules.unsafe_words]
        words = [(w, result) for result, ws in rules.result_words.items() for w in ws]
        self.result_words = [(_word_regex(w), result) for w, result in sorted(words, key=lambda x: -len(x[0]))]
        self.score_results = rules.score_results
        for score in ("0", "ultralow", "1+", "2+", "3+"):
            if score not in rules.score_results or rules.score_results[score] not in rules.result_words:
                raise KnowledgeBaseError(
                    f"fhir_codes.yaml: her2_ihc_text.score_results lacks a known result for {score}"
                )

    def read(self, text: str) -> IhcTextReading:
        t = norm_text(text)
        for pattern in self.ignore:
            t = pattern.sub(" ", t)
        found: dict[int, str] = {}
        spans: list[tuple[int, int]] = []
        for pattern in self.scores:
            for m in pattern.finditer(t):
                digit = next(g for g in m.groups() if g is not None)
                found[m.start(m.lastindex or 1)] = "0" if digit == "0" else f"{digit}+"
                spans.append(m.span())
        for pattern in self.ultralow:
            for m in pattern.finditer(t):
                found[m.start()] = "ultralow"
                spans.append(m.span())
        if not found:
            return IhcTextReading()
        if len(found) > 1:
            shown = ", ".join(found[k] for k in sorted(found))
            return IhcTextReading(unreadable=f"{len(found)} scores in one text ({shown})")
        score = next(iter(found.values()))
        for word, pattern in self.unsafe_words:
            if pattern.search(t):
                return IhcTextReading(unreadable=f'control or reference wording ("{word}")')
        for pattern in self.unsafe_patterns:
            if unsafe := pattern.search(t):
                return IhcTextReading(unreadable=f'ambiguous wording ("{unsafe.group(0).strip()}")')
        rest = t
        for start, end in sorted(spans, reverse=True):
            rest = rest[:start] + " " * (end - start) + rest[end:]
        if number := re.search(r"\d+", rest):
            return IhcTextReading(unreadable=f'another number besides the score ("{number.group(0)}")')
        expected = self.score_results[score]
        for pattern, result in self.result_words:
            hit = pattern.search(rest)
            if hit is None:
                continue
            if result != expected:
                return IhcTextReading(
                    unreadable=f'"{hit.group(0)}" ({result}) contradicts the score {score} ({expected})'
                )
            rest = pattern.sub(" ", rest)
        return IhcTextReading(score=score)
