"""Reading level of patient texts: the known traps of the indices, and where the syllables come from."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from oncoline.knowledge.readability import as_sentences, measure, nltk_data_dir, syllable_source


def test_cmudict_written_once_in_nltk_layout_and_used_by_textstat() -> None:
    root = nltk_data_dir()
    corpus = root / "corpora" / "cmudict" / "cmudict"
    assert corpus.is_file()
    first = corpus.read_text(encoding="utf-8").splitlines()[:1000]
    assert all(len(line.split()) >= 3 and line.split()[1].isdigit() for line in first)
    assert syllable_source("cancer") == ("cmudict", 2)
    assert os.environ["NLTK_DATA"] == str(root)  # set before textstat (and nltk) were imported
    import nltk

    assert Path(nltk.data.find("corpora/cmudict")).resolve().is_relative_to(root.resolve())


def test_no_download_in_a_fresh_process_even_without_network(tmp_path: Path) -> None:
    """A fresh process with an empty cache writes the dictionary itself; nltk.download is never called."""
    code = (
        "import nltk\n"
        "def boom(*a, **k): raise SystemExit('nltk.download called')\n"
        "nltk.download = boom\n"
        "from oncoline.knowledge.readability import measure, syllable_source\n"
        "print(syllable_source('chemotherapy'), round(measure('The cat sat on the mat.').fk_grade, 2))\n"
    )
    env = {**os.environ, "ONCOLINE_CACHE_DIR": str(tmp_path), "NLTK_DATA": str(tmp_path / "nowhere")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "('cmudict', 5)" in out.stdout
    assert any(tmp_path.glob("nltk_data-cmudict-*/corpora/cmudict/cmudict"))


@pytest.mark.parametrize(
    ("word", "source", "syllables"),
    [
        ("chemotherapy", "cmudict", 5),  # in the CMU dictionary
        ("every", "cmudict", 3),  # CMU's first pronunciation: EH1 V ER0 IY0
        ("medicine", "cmudict", 3),
        ("trastuzumab", "pyphen", 2),  # not in CMU: pyphen hyphenation undercounts drug names (tras-tu-zu-mab)
        ("radiotherapy", "pyphen", 5),
        ("tucatinib", "pyphen", 3),
    ],
)
def test_syllable_source_is_pinned(word: str, source: str, syllables: int) -> None:
    assert syllable_source(word) == (source, syllables)


def test_a_list_without_full_stops_counts_as_one_sentence_unless_measured_as_items() -> None:
    items = [
        "new cough or breathlessness with this drug",
        "numbness or tingling in your hands and feet",
        "loose stools that do not stop after a day",
        "a fever or chills at any time of the day",
    ]
    joined = measure(" ".join(items))  # the trap: textstat sees one 36-word sentence
    assert joined.sentences == 1
    as_items = measure(items)
    assert as_items.sentences == 4
    assert as_items.fk_grade < joined.fk_grade - 5


def test_headings_get_a_full_stop_but_questions_keep_theirs() -> None:
    assert as_sentences(["What are my options?", "Option 1", "Hormone therapy", ""]) == (
        "What are my options? Option 1. Hormone therapy."
    )


def test_smog_on_one_short_sentence_is_an_extrapolation() -> None:
    """One word of three syllables in a one-sentence text already reads as SMOG 8.8: write two short sentences."""
    one = measure("Ask about a clinical trial.")
    two = measure("Ask about a clinical trial. It may help you.")
    assert one.smog > 8 > two.smog


def test_dictionary_is_written_again_when_the_shared_cache_was_cleared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONCOLINE_CACHE_DIR", str(tmp_path))
    first = nltk_data_dir() / "corpora" / "cmudict" / "cmudict"
    first.unlink()
    again = nltk_data_dir() / "corpora" / "cmudict" / "cmudict"
    assert again == first and again.is_file()
    monkeypatch.setenv("ONCOLINE_CACHE_DIR", "off")  # the knowledge cache's "off" is not a folder name
    assert nltk_data_dir().parent.name != "off"
