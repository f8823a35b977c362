"""Seeds and mutations for the fuzzing suite (issue 12 item 8).

Seeds are the shared reference cases (``shared/cases``: patients, real, her2, lines), the real FHIR inputs
(``shared/data/**.json``) and the repository's own test inputs (``tests/data``). A variant is a seed with one to
three mutations — keys deleted, types swapped, strings with Rich markup and unicode, absurd numbers and dates,
duplicated entries, HER2 results written ambiguously — written as a file, sometimes then truncated or given a
byte-order mark, invalid UTF-8 or a line written twice. Cohort variants are exposure and index tables (CSV or
Parquet) built from the line cases, with mutated rows, columns and files.

Everything is driven by one :class:`random.Random`, so a variant is reproduced from its seed number alone
(``make_variant(seeds, target, random.Random(n))``); the hypothesis tests hand in hypothesis' own ``randoms()``.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import json
import os
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("ONCOLINE_SHARED", ROOT.parent / "shared")).resolve()
"""The shared folder, found as tests/conftest.py finds it (for the benchmark, which runs outside pytest)."""

TARGETS = ("recommend", "patient", "her2", "lines", "cohort")
"""What a variant is run through: ``recommend``, ``patient``, ``her2``, one patient's ``lines``, cohort ``lines``."""

# ------------------------------------------------------------------------------------------------ value pools
MARKUP = ("[red]", "[/]", "[bold]x[/bold]", "[/red]", "[link=http://x]y[/link]", "[", "]", "[[", "[dim", "[red]3+[/]")
UNICODE = (
    "\u202e",  # right-to-left override
    "\u200f",  # right-to-left mark
    "\u200b",  # zero-width space
    "\u200d",  # zero-width joiner
    "\ufeff",  # byte-order mark inside text
    "😀",
    "👩‍⚕️",
    "\u0301",  # combining acute accent
    "\u00a0",  # no-break space
    "ﬁ",
    "Ⅲ",
    "３+",  # full-width digit
    "\u0663+",  # Arabic-Indic three
    "مرحبا",
)
ABSURD_NUMBERS: tuple[Any, ...] = (
    -1,
    0,
    -0.0,
    1e308,
    -1e308,
    1e-300,
    2**63,
    10**30,
    float("inf"),
    float("-inf"),
    float("nan"),
    101,
    3.5,
    True,
)
ABSURD_DATES: tuple[Any, ...] = (
    0,
    1718409600,
    -1,
    "0001-01-01",
    "9999-12-31",
    "2024-02-30",
    "2023-02-29",
    "1899-12-31",
    "1900-01-01",
    "01/05/2022",
    "2024-13-01",
    "2024",
    "2024-06",
    "2024-06-15T25:00:00Z",
    "2024-06-15T10:00:00+14:00",
    "",
    "tomorrow",
    dt.date(1, 1, 1),
    dt.date(9999, 12, 31),
    dt.date(2099, 1, 1),
)
OTHER_TYPES: tuple[Any, ...] = (None, True, False, 0, -3, 2.5, "", "text", [], {}, [1, "a"], {"a": 1}, [[]])
# HER2 results written so that only a careless reader would call them positive (issue 12 item 1)
HER2_AMBIGUOUS: tuple[Any, ...] = (
    "negative (3+ control)",
    "3+ control, tumour negative",
    "3 %",
    "3+/negative",
    "not 3+",
    "[red]3+[/]",
    "3+\u200b",
    "\u202e+3",
    "３+",
    "positive?",
    "equivocal",
    "2+",
    3,
    "3",
    30,
    -3,
    "",
)
DRUG_NAMES = (
    "trastuzumab",
    "Herceptin",
    "Phesgo",
    "kadcyla",
    "T-DXd",
    "tucatinib",
    "lapatinib",
    "capecitabine",
    "docetaxel",
    "letrozole",
    "denosumab",
    "ondansetron",
    "rxnorm:224905",
    "224905",
    "aspirin",
    "foo",
    "[red]trastuzumab[/]",
    "trastuzumab\u200b",
    "TRASTUZUMAB  ",
    "trastuzumab [bold]x",
)
_DATE_KEY = re.compile(
    r"(date|start|end|diagnos|birth|as_of|effective|onset|authored|issued|recorded|period|time)", re.IGNORECASE
)
_DATE_TEXT = re.compile(r"^\d{4}-\d{2}")
HER2_LOINC = ("85319-2", "18474-7", "72383-3", "85318-4", "31150-6", "49683-6", "74860-8", "48676-1")


# ------------------------------------------------------------------------------------------------ seeds
@dataclass(frozen=True)
class Seed:
    """One unmutated input: a parsed document, the syntax it is written in and the targets it feeds."""

    name: str
    data: Any
    syntax: str  # "yaml" | "json"
    targets: tuple[str, ...]


@dataclass
class Seeds:
    """All seeds, by target; ``persons`` are the line cases as cohort persons (id → events block)."""

    documents: list[Seed]
    persons: dict[str, dict[str, Any]]

    def for_target(self, target: str) -> list[Seed]:
        return [s for s in self.documents if target in s.targets]


def _yaml_docs(path: Path) -> list[Any]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


def load_seeds(shared: Path, repo: Path = ROOT) -> Seeds:
    """Read every seed: shared cases, shared real data, tests/data and the bundled examples.

    Raises
    ------
    FileNotFoundError
        When ``shared`` holds no cases (the suite must not pass on nothing).
    """
    docs: list[Seed] = []
    persons: dict[str, dict[str, Any]] = {}
    patient_targets = ("recommend", "patient", "her2")
    for folder in ("patients", "real"):
        for path in sorted((shared / "cases" / folder).glob("*.yaml")):
            for case in _yaml_docs(path):
                block = dict(case["patient"])
                if case.get("as_of") is not None:  # as check_cases.py does
                    block["as_of"] = case["as_of"]
                docs.append(Seed(f"cases/{folder}/{case.get('id', path.stem)}", block, "yaml", patient_targets))
    for path in sorted((shared / "cases" / "her2").glob("*.yaml")):
        for case in _yaml_docs(path):
            docs.append(Seed(f"cases/her2/{case['id']}", case["input"], "yaml", ("her2",)))
    for path in sorted((shared / "cases" / "lines").glob("*.yaml")):
        for case in _yaml_docs(path):
            events = dict(case["events"])
            if case.get("params"):
                events["params"] = case["params"]
            docs.append(Seed(f"cases/lines/{case['id']}", events, "yaml", ("lines",)))
            persons[case["id"]] = events
    for path in sorted((shared / "data").rglob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        docs.append(Seed(f"data/{path.relative_to(shared / 'data')}", data, "json", ("recommend", "patient")))
    for path in sorted((repo / "tests" / "data").glob("*")):
        if path.suffix == ".json":
            docs.append(Seed(f"tests/data/{path.name}", json.loads(path.read_text("utf-8")), "json", patient_targets))
        elif path.suffix == ".yaml" and "patient" in (data := yaml.safe_load(path.read_text("utf-8")) or {}):
            docs.append(Seed(f"tests/data/{path.name}", data, "yaml", patient_targets))
    if not docs or not persons:
        raise FileNotFoundError(f"no shared cases under {shared}")
    return Seeds(docs, persons)


# ------------------------------------------------------------------------------------------------ tree walking
Path_ = tuple[Any, ...]


def _paths(node: Any, prefix: Path_ = ()) -> Iterator[Path_]:
    """Every path into ``node`` (dict keys and list indices), parents before children."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield (*prefix, i)
            yield from _paths(v, (*prefix, i))


def _get(node: Any, path: Path_) -> Any:
    for step in path:
        node = node[step]
    return node


def _set(node: Any, path: Path_, value: Any) -> None:
    _get(node, path[:-1])[path[-1]] = value


def _describe(path: Path_) -> str:
    return "/".join(str(p) for p in path) or "(root)"


def _inject(rng: random.Random, text: str, pool: tuple[str, ...]) -> str:
    where = rng.randint(0, len(text))
    return text[:where] + rng.choice(pool) + text[where:]


# ------------------------------------------------------------------------------------------------ mutations
Mutation = Callable[[random.Random, Any], str | None]
"""Mutates the document in place; returns what it did, or None when it found nothing to act on."""


def m_delete(rng: random.Random, doc: Any) -> str | None:
    paths = list(_paths(doc))
    if not paths:
        return None
    path = rng.choice(paths)
    parent = _get(doc, path[:-1])
    del parent[path[-1]]
    return f"delete {_describe(path)}"


def m_swap_type(rng: random.Random, doc: Any) -> str | None:
    paths = list(_paths(doc))
    if not paths:
        return None
    path = rng.choice(paths)
    old = _get(doc, path)
    value = rng.choice([v for v in OTHER_TYPES if type(v) is not type(old)])
    _set(doc, path, copy.deepcopy(value))
    return f"type {_describe(path)} := {value!r}"


def _string_paths(doc: Any) -> list[Path_]:
    return [p for p in _paths(doc) if isinstance(_get(doc, p), str)]


def m_markup(rng: random.Random, doc: Any) -> str | None:
    paths = _string_paths(doc) or list(_paths(doc))
    if not paths:
        return None
    path = rng.choice(paths)
    old = _get(doc, path)
    new = _inject(rng, old, MARKUP) if isinstance(old, str) else rng.choice(MARKUP)
    _set(doc, path, new)
    return f"markup {_describe(path)} := {new!r}"


def m_unicode(rng: random.Random, doc: Any) -> str | None:
    paths = _string_paths(doc)
    if not paths:
        return None
    path = rng.choice(paths)
    new = _inject(rng, _get(doc, path), UNICODE)
    _set(doc, path, new)
    return f"unicode {_describe(path)} := {new!r}"


def m_number(rng: random.Random, doc: Any) -> str | None:
    paths = list(_paths(doc))
    numeric = [p for p in paths if isinstance(_get(doc, p), int | float) and not isinstance(_get(doc, p), bool)]
    pool = numeric or paths
    if not pool:
        return None
    path = rng.choice(pool)
    value = rng.choice(ABSURD_NUMBERS)
    _set(doc, path, value)
    return f"number {_describe(path)} := {value!r}"


def _is_date_path(doc: Any, path: Path_) -> bool:
    value = _get(doc, path)
    if isinstance(value, dt.date):
        return True
    if isinstance(value, str) and _DATE_TEXT.match(value):
        return True
    return isinstance(path[-1], str) and bool(_DATE_KEY.search(path[-1])) and not isinstance(value, dict | list)


def m_date(rng: random.Random, doc: Any) -> str | None:
    paths = [p for p in _paths(doc) if _is_date_path(doc, p)]
    if not paths:
        return None
    path = rng.choice(paths)
    value = rng.choice(ABSURD_DATES)
    _set(doc, path, value)
    return f"date {_describe(path)} := {value!r}"


def m_duplicate(rng: random.Random, doc: Any) -> str | None:
    lists = [p for p in _paths(doc) if isinstance(_get(doc, p), list) and _get(doc, p)]
    if isinstance(doc, list) and doc:
        lists.append(())
    if not lists:
        return None
    path = rng.choice(lists)
    items = _get(doc, path)
    i = rng.randrange(len(items))
    items.insert(rng.randint(0, len(items)), copy.deepcopy(items[i]))
    return f"duplicate {_describe((*path, i))}"


def m_rename_key(rng: random.Random, doc: Any) -> str | None:
    keyed = [p for p in _paths(doc) if isinstance(p[-1], str)]
    if not keyed:
        return None
    path = rng.choice(keyed)
    parent = _get(doc, path[:-1])
    new = rng.choice(
        [path[-1].upper(), path[-1] + " ", "\ufeff" + path[-1], path[-1][:-1] or "x", f"[red]{path[-1]}", "𝕜𝕖𝕪"]
    )
    parent[new] = parent.pop(path[-1])
    return f"rename {_describe(path)} -> {new!r}"


def _her2_targets(doc: Any) -> list[Path_]:
    """Paths to HER2 results: ``her2`` blocks' values and the values of HER2-coded FHIR Observations."""
    out: list[Path_] = []
    for p in _paths(doc):
        node = _get(doc, p)
        if p and p[-1] == "her2" and isinstance(node, dict):
            out.extend((*p, k) for k in node)
        if isinstance(node, dict) and node.get("resourceType") == "Observation" and _her2_coded(node):
            out.extend((*p, k) for k in node if k.startswith("value") or k in ("interpretation", "component"))
            out.append((*p, "valueString"))
    if isinstance(doc, dict) and any(k in doc for k in ("ihc", "ish_ratio", "her2_copies", "status", "ish_result")):
        out.extend((k,) for k in ("ihc", "ish_ratio", "her2_copies", "status", "ish_result"))
    return out


def _her2_coded(node: dict[str, Any]) -> bool:
    text = json.dumps(node.get("code", {}), default=str)
    return any(code in text for code in HER2_LOINC) or "her2" in text.lower() or "erbb2" in text.lower()


def m_her2(rng: random.Random, doc: Any) -> str | None:
    """A HER2 result written ambiguously or in the wrong form (a safety probe)."""
    paths = _her2_targets(doc)
    if not paths:
        return None
    path = rng.choice(paths)
    key = path[-1]
    if key in ("valueQuantity",) or (key == "valueString" and rng.random() < 0.3):
        value: Any = rng.choice(
            [
                {"value": 3, "unit": "%"},
                {"value": 3, "unit": "[red]"},
                {"value": 3},
                {"value": 2.5, "unit": "ratio"},
                {"value": "3+"},
                {"value": 1e308, "unit": "{ratio}"},
            ]
        )
        path = (*path[:-1], "valueQuantity")
    elif key == "valueCodeableConcept":
        value = {"text": rng.choice([v for v in HER2_AMBIGUOUS if isinstance(v, str)])}
    else:
        value = rng.choice(HER2_AMBIGUOUS)
    _set(doc, path, copy.deepcopy(value))
    return f"her2 {_describe(path)} := {value!r}"


def m_drug(rng: random.Random, doc: Any) -> str | None:
    """A drug name swapped for a brand, an unknown, or one carrying markup/unicode."""
    paths = [p for p in _paths(doc) if any(isinstance(s, str) and s in ("drug", "drugs", "medications") for s in p)]
    paths = [p for p in paths if isinstance(_get(doc, p), str)]
    if not paths:
        return None
    path = rng.choice(paths)
    value = rng.choice(DRUG_NAMES)
    _set(doc, path, value)
    return f"drug {_describe(path)} := {value!r}"


RESOURCE_TYPES = ("Foo", "observation", "Observation ", "\ufeffObservation", "GenomicStudy", "", "[red]Observation")


def m_resource_type(rng: random.Random, doc: Any) -> str | None:
    """A FHIR resource of an unknown, misspelt or other-version type (issue 12 item 5), or a stray R5 entry."""
    paths = [p for p in _paths(doc) if p[-1] == "resourceType" and len(p) > 1]
    if not paths:
        return None
    if rng.random() < 0.3 and isinstance(doc, dict) and isinstance(doc.get("entry"), list):
        doc["entry"].insert(
            rng.randint(0, len(doc["entry"])),
            {"resource": {"resourceType": "GenomicStudy", "id": "r5", "status": "available", "subject": {}}},
        )
        return "R5 GenomicStudy entry added"
    path = rng.choice(paths)
    value = rng.choice(RESOURCE_TYPES)
    _set(doc, path, value)
    return f"resourceType {_describe(path)} := {value!r}"


TREE_MUTATIONS: dict[str, Mutation] = {
    "delete": m_delete,
    "swap_type": m_swap_type,
    "markup": m_markup,
    "unicode": m_unicode,
    "number": m_number,
    "date": m_date,
    "duplicate": m_duplicate,
    "rename_key": m_rename_key,
    "her2": m_her2,
    "drug": m_drug,
    "resource_type": m_resource_type,
}


GENTLE = ("delete", "duplicate", "her2", "drug")
"""Mutations that often leave a valid document (a key left out, an entry twice, a HER2 result reworded, another
drug): the variants that reach the recommender, where the safety property bites."""


def mutate_tree(rng: random.Random, doc: Any, n: int, kinds: tuple[str, ...] | None = None) -> list[str]:
    """Apply ``n`` mutations (each a random kind, of ``kinds`` if given, that finds something to act on) to
    ``doc`` in place."""
    done: list[str] = []
    names = list(kinds or TREE_MUTATIONS)
    for _ in range(n):
        for _attempt in range(8):
            what = TREE_MUTATIONS[rng.choice(names)](rng, doc)
            if what is not None:
                done.append(what)
                break
    return done


# ------------------------------------------------------------------------------------------------ files
def _json_default(o: Any) -> Any:
    if isinstance(o, dt.date | dt.datetime):
        return o.isoformat()
    raise TypeError(type(o).__name__)


def dump(doc: Any, syntax: str, rng: random.Random) -> tuple[bytes, list[str]]:
    """Write ``doc`` as YAML or JSON; YAML sometimes with quoted dates unquoted (so the YAML date reader meets
    2024-02-30 itself)."""
    notes: list[str] = []
    if syntax == "json":
        text = json.dumps(doc, default=_json_default, ensure_ascii=rng.random() < 0.2, indent=1)
    else:
        text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=rng.random() < 0.8)
        if rng.random() < 0.5:
            text, count = re.subn(r"'(\d{4}-\d{2}-\d{2}[^']*)'", r"\1", text)
            if count:
                notes.append("dates unquoted")
    return text.encode("utf-8"), notes


def mutate_bytes(rng: random.Random, data: bytes) -> tuple[str, bytes] | None:
    """One file-level mutation (what was done, the new bytes), or None (most variants stay whole files)."""
    roll = rng.random()
    if roll < 0.06 and data:
        cut = rng.randrange(len(data))
        del_what = f"truncate at byte {cut} of {len(data)}"
        data_out = data[:cut]
    elif roll < 0.09:
        del_what, data_out = "BOM prefix", b"\xef\xbb\xbf" + data
    elif roll < 0.11 and data:
        at = rng.randrange(len(data))
        del_what, data_out = f"invalid UTF-8 at byte {at}", data[:at] + b"\xff\xfe" + data[at:]
    elif roll < 0.14:
        lines = data.split(b"\n")
        i = rng.randrange(len(lines))
        lines.insert(i, lines[i])
        del_what, data_out = f"line {i + 1} written twice", b"\n".join(lines)
    elif roll < 0.15:
        del_what, data_out = "empty file", b""
    elif roll < 0.16 and data:
        at = rng.randrange(len(data))
        del_what, data_out = f"NUL at byte {at}", data[:at] + b"\x00" + data[at:]
    else:
        return None
    return del_what, data_out


# ------------------------------------------------------------------------------------------------ variants
@dataclass
class Variant:
    """One mutated input: the files to write, the command to run (``{name}`` placeholders are file paths in the
    run's directory), and what was done to the seed."""

    target: str
    seed: str
    mutations: list[str]
    files: dict[str, bytes]
    argv: list[str]
    meta: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        return f"{self.target} {self.seed}: " + ("; ".join(self.mutations) or "unmutated")


def make_variant(
    seeds: Seeds, target: str, rng: random.Random, *, max_mutations: int = 3, bad_index_dates: bool = True
) -> Variant:
    """A random variant for ``target`` (one of :data:`TARGETS`); ``bad_index_dates`` see
    :func:`make_cohort_variant`."""
    if target == "cohort":
        return make_cohort_variant(seeds, rng, max_mutations=max_mutations, bad_index_dates=bad_index_dates)
    seed = rng.choice(seeds.for_target(target))
    doc = copy.deepcopy(seed.data)
    kinds = GENTLE if target == "recommend" and rng.random() < 0.4 else None
    mutations = mutate_tree(rng, doc, rng.randint(0 if rng.random() < 0.05 else 1, max_mutations), kinds)
    if target == "recommend" and rng.random() < 0.3:  # safety probes: a HER2 result written ambiguously
        probe = m_her2(rng, doc)
        if probe is not None:
            mutations.append(probe)
    syntax = seed.syntax if rng.random() < 0.9 else ("json" if seed.syntax == "yaml" else "yaml")
    data, notes = dump(doc, syntax, rng)
    mutations += notes
    byte_op = mutate_bytes(rng, data)
    if byte_op is not None:
        mutations.append(byte_op[0])
        data = byte_op[1]
    name = f"input.{'fhir.json' if syntax == 'json' and 'resourceType' in json.dumps(doc, default=str) else syntax}"
    argv = [target, "{" + name + "}"]
    if rng.random() < 0.7:  # else the readable view (markup, unicode and widths meet Rich)
        argv.append("--json")
    return Variant(target, seed.name, mutations, {name: data}, argv, {"document": doc})


# ------------------------------------------------------------------------------------------------ cohorts
EXPOSURE_COLUMNS = ("person_id", "exposure_id", "drug", "start_date", "end_date", "stopped")
INDEX_COLUMNS = ("person_id", "metastatic_diagnosis")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def cohort_rows(
    persons: dict[str, dict[str, Any]], chosen: list[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Exposure and index rows (all values text or None) for the chosen line-case persons."""
    exposures: list[dict[str, Any]] = []
    index: list[dict[str, Any]] = []
    for pid in chosen:
        events = persons[pid]
        index.append({"person_id": pid, "metastatic_diagnosis": _text(events.get("metastatic_diagnosis"))})
        for row in events.get("exposures", []):
            exposures.append(
                {
                    "person_id": pid,
                    "exposure_id": str(len(exposures) + 1),
                    "drug": _text(row.get("drug")),
                    "start_date": _text(row.get("start")),
                    "end_date": _text(row.get("end")),
                    "stopped": _text(row.get("stopped")),
                }
            )
    return exposures, index


def _mutate_rows(
    rng: random.Random, rows: list[dict[str, Any]], columns: tuple[str, ...], *, keep: tuple[str, ...] = ()
) -> str | None:
    if not rows:
        return None
    i = rng.randrange(len(rows))
    row = rows[i]
    col = rng.choice(columns)
    kinds = ["null", "date", "markup", "unicode", "drug", "stopped", "dup", "delete", "swap", "number"]
    kind = rng.choice(["dup", "delete"] if keep else kinds)  # kept values: rows only duplicated or removed
    if kind == "null":
        row[col] = rng.choice([None, ""])
    elif kind == "date":
        col = rng.choice([c for c in columns if "date" in c or "diagnosis" in c] or list(columns))
        row[col] = _text(rng.choice(ABSURD_DATES))
    elif kind == "markup":
        row[col] = _inject(rng, row.get(col) or "", MARKUP)
    elif kind == "unicode":
        row[col] = _inject(rng, row.get(col) or "", UNICODE)
    elif kind == "drug" and "drug" in row:
        col = "drug"
        row[col] = rng.choice(DRUG_NAMES)
    elif kind == "stopped" and "stopped" in row:
        col = "stopped"
        row[col] = rng.choice(["progression", "toxicity", "completed", "ongoing", "banana", "PROGRESSION ", ""])
    elif kind == "dup":
        rows.insert(rng.randint(0, len(rows)), dict(row))
        return f"row {i + 1} duplicated"
    elif kind == "delete":
        del rows[i]
        return f"row {i + 1} deleted"
    elif kind == "swap" and "end_date" in row:
        row["start_date"], row["end_date"] = row.get("end_date"), row.get("start_date")
        return f"row {i + 1} start/end swapped"
    else:
        row[col] = _text(rng.choice(ABSURD_NUMBERS))
    return f"row {i + 1} {col} := {row.get(col)!r}"


def _write_csv(rows: list[dict[str, Any]], columns: list[str], rng: random.Random) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n" if rng.random() < 0.1 else "\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
    return buf.getvalue().encode("utf-8")


def _write_parquet(rows: list[dict[str, Any]], columns: list[str], rng: random.Random) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = {}
    for c in columns:
        values = [row.get(c) for row in rows]
        typed: Any = None
        if ("date" in c or "diagnosis" in c) and rng.random() < 0.6:
            try:  # a real date column when every value is a date (as analysts' Parquet files usually are)
                typed = pa.array([None if v in (None, "") else dt.date.fromisoformat(v) for v in values], pa.date32())
            except (ValueError, TypeError):
                typed = None
        elif c == "exposure_id" and rng.random() < 0.5:
            try:
                typed = pa.array([None if v in (None, "") else int(v) for v in values], pa.int64())
            except (ValueError, TypeError, OverflowError):
                typed = None
        arrays[c] = typed if typed is not None else pa.array(values, pa.string())
    buf = io.BytesIO()
    pq.write_table(pa.table(arrays), buf)
    return buf.getvalue()


def make_cohort_variant(
    seeds: Seeds, rng: random.Random, *, max_mutations: int = 3, bad_index_dates: bool = True
) -> Variant:
    """Exposure and index tables for 1–6 line-case persons, with mutated rows, columns or files.

    ``bad_index_dates=False`` leaves the index values alone (rows may still be duplicated or removed): for a
    branch where a finding about them is known and routed (tests/fuzz/test_fuzz_findings.py decides)."""
    ids = sorted(seeds.persons)
    chosen = rng.sample(ids, rng.randint(1, min(6, len(ids))))
    exposures, index = cohort_rows(seeds.persons, chosen)
    mutations: list[str] = []
    exp_cols = list(EXPOSURE_COLUMNS)
    idx_cols = list(INDEX_COLUMNS)
    if rng.random() < 0.3:
        exp_cols.remove("exposure_id")
        mutations.append("no exposure_id column")
    for _ in range(rng.randint(1, max_mutations)):
        roll = rng.random()
        if roll < 0.6:
            what = _mutate_rows(rng, exposures, tuple(c for c in exp_cols if c != "exposure_id" or rng.random() < 0.2))
            what = what and f"exposures {what}"
        elif roll < 0.8:
            keep = () if bad_index_dates else ("metastatic_diagnosis", "person_id")
            what = _mutate_rows(rng, index, tuple(idx_cols), keep=keep)
            what = what and f"index {what}"
        elif roll < 0.85:
            index.append({"person_id": "P-extra", "metastatic_diagnosis": "2024-01-01"})
            what = "index person without exposures"
        elif roll < 0.9 and index:
            index.pop(rng.randrange(len(index)))
            what = "index person removed"
        elif roll < 0.95:
            gone = rng.choice(exp_cols)
            exp_cols.remove(gone)
            what = f"exposures column {gone} removed"
        else:
            exp_cols.append("[red]extra[/]")
            what = "extra column"
        if what:
            mutations.append(what)
    fmt = "parquet" if rng.random() < 0.35 else "csv"
    files: dict[str, bytes] = {}
    if fmt == "csv":
        exp_bytes = _write_csv(exposures, exp_cols, rng)
        if rng.random() < 0.08 and exp_bytes:
            cut = rng.randrange(len(exp_bytes))
            mutations.append(f"exposures truncated at byte {cut} of {len(exp_bytes)}")
            exp_bytes = exp_bytes[:cut]
        elif rng.random() < 0.05:
            mutations.append("exposures BOM prefix")
            exp_bytes = b"\xef\xbb\xbf" + exp_bytes
        files["exposures.csv"] = exp_bytes
        files["index.csv"] = _write_csv(index, idx_cols, rng)
    else:
        files["exposures.parquet"] = _write_parquet(exposures, exp_cols, rng)
        files["index.parquet"] = _write_parquet(index, idx_cols, rng)
        if rng.random() < 0.04:
            data = files["exposures.parquet"]
            cut = rng.randrange(len(data))
            mutations.append(f"exposures parquet truncated at byte {cut} of {len(data)}")
            files["exposures.parquet"] = data[:cut]
    exp_name, idx_name = (f"exposures.{fmt}", f"index.{fmt}")
    argv = ["lines", "{" + exp_name + "}", "--index", "{" + idx_name + "}", "--json"]
    meta = {"format": fmt, "text_view": rng.random() < 0.4}  # also run the readable summary once
    return Variant("cohort", "cases/lines:" + ",".join(chosen), mutations, files, argv, meta)
