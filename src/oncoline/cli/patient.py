"""``oncoline patient FILE`` — show what oncoline understood from a patient file or a FHIR/mCODE bundle.

For a clinician to check the mapping: a readable summary (tumour biology, sites, metastatic diagnosis with
its precision, exposures with the resources they came from, safety facts), every problem found in the input
with what was done, and the patient file it maps to (YAML, or ``--json``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from oncoline.cli.common import document_or_example, examples_help, guarded, parse_as_of, print_json

if TYPE_CHECKING:
    from oncoline.io.fhir import IngestionReport
    from oncoline.model.patient import Patient

__all__ = ["load_with_report", "register", "summary_text"]


def load_with_report(
    path: Path, *, policy: str = "warn", as_of: dt.date | None = None
) -> tuple[Patient, IngestionReport | None]:
    """``(patient, FHIR report or None)`` from a document: kept for callers of the old name; use
    :func:`oncoline.app.read_patient`.

    Raises
    ------
    InputError
        As :func:`oncoline.app.read_patient`.
    """
    from oncoline.app.patient import read_patient

    reading = read_patient(path, policy=policy, as_of=as_of)
    return reading.patient, reading.report


def _her2_line(patient: Patient) -> str:
    her2 = patient.tumor.her2
    raw = her2.model_dump(exclude_defaults=True)
    shown = ", ".join(f"{k}={v}" for k, v in raw.items()) or "no result"
    try:
        from oncoline.engines.her2 import classify_her2

        result = classify_her2(her2)
        return f"{shown}  →  {result.category} ({result.status})"
    except ImportError:  # pragma: no cover - the HER2 engine is part of the package
        return shown


def summary_text(patient: Patient, report: IngestionReport | None) -> str:
    """A plain-text summary of ``patient`` and, for FHIR input, of the ingestion ``report``."""
    out: list[str] = []
    t = patient.tumor
    out.append(
        f"patient {patient.id}"
        + (f"  sex {patient.sex}" if patient.sex else "")
        + (f"  age {patient.age:g}" if patient.age is not None else "")
        + (f"  ECOG {patient.ecog}" if patient.ecog is not None else "")
    )
    if report is not None:
        out.append(
            f"source: {report.source}  (FHIR; resources read: "
            + ", ".join(f"{n} {k}" for k, n in report.resources.items())
            + ")"
        )
    out.append("")
    out.append("tumour")
    er = f"{t.er_percent:g} %" if t.er_percent is not None else (t.er_status or "unknown")
    pr = f"{t.pr_percent:g} %" if t.pr_percent is not None else (t.pr_status or "unknown")
    out.append(f"  ER {er}   PR {pr}   HR-positive: {_yn(t.hr_positive)}")
    out.append(f"  HER2 {_her2_line(patient)}")
    if t.her2.ihc is None and not t.her2.empty:
        out.append("  (no IHC score: HER2-low / ultralow / 0 cannot be told apart — ask for the IHC score)")
    if t.histology:
        out.append(f"  histology: {t.histology}")
    out.append("")
    out.append("metastatic disease")
    md = patient.metastatic_diagnosis.isoformat() if patient.metastatic_diagnosis else None
    if report is not None and report.metastatic_diagnosis is not None and md is None:
        md = f"{report.metastatic_diagnosis} (known to the {report.metastatic_diagnosis.precision} only; left unset)"
    out.append(f"  diagnosis: {md or 'unknown'}   presentation: {patient.presentation or 'unknown'}")
    sites = ", ".join(s.site.value for s in patient.sites) or "none recorded"
    out.append(f"  sites: {sites}")
    for s in patient.brain_sites():
        if s.site.value == "brain" and (s.status is None or s.symptomatic is None):
            unknown = " and ".join(k for k, v in (("status", s.status), ("symptoms", s.symptomatic)) if v is None)
            out.append(f"  brain: {unknown} unknown — the recommender will ask for brain_status")
    if report is not None:
        for f in report.metastatic_evidence:
            out.append(f"    - {f.what}: {f.date or 'undated'}  [{f.resource}]")
        for f in report.progression:
            out.append(f"  progression: {f.date or 'undated'}  [{f.resource}]")
    out.append("")
    out.append("exposures (lines are derived from these by `oncoline recommend` / `oncoline lines`)")
    if report is not None and report.exposures:
        for r in report.exposures:
            dates = f"{r.start or '?'}" + (f" → {r.end}" if r.end else "")
            flag = "" if r.used else "   NOT USED (no full start date)"
            stop = f"  stopped: {r.stopped}" if r.stopped else ""
            out.append(f"  {dates:<24} {r.drug:<28}{stop}  [{', '.join(r.resources)}]{flag}")
    elif patient.exposures:
        for e in patient.exposures:
            out.append(
                f"  {e.start} {e.drug}"
                + (f" → {e.end}" if e.end else "")
                + (f"  stopped: {e.stopped.value}" if e.stopped else "")
            )
    else:
        out.append("  none")
    if patient.history:
        out.append("history (as given)")
        for h in patient.history:
            out.append(
                f"  line {h.line}: {' + '.join(h.drugs)} {h.start or ''} → {h.end or ''}"
                + (f" ({h.stopped.value})" if h.stopped else "")
            )
    c = patient.conditions
    safety = [
        f"LVEF {c.lvef_percent:g} %" if c.lvef_percent is not None else None,
        f"LVEF baseline {c.lvef_baseline_percent:g} %" if c.lvef_baseline_percent is not None else None,
        f"pregnant: {_yn(c.pregnant)}" if c.pregnant is not None else None,
    ]
    shown = [s for s in safety if s]
    out.append("")
    out.append("safety: " + ("; ".join(shown) if shown else "nothing recorded (LVEF, pregnancy unknown)"))
    if report is not None:
        problems, notes = report.problems, report.notes
        out.append("")
        out.append(f"problems in the input: {len(problems)}  (policy {report.policy})")
        for p in problems:
            out.append(f"  ! {p.resource}: {p.message}")
        out.append(f"mapping notes: {len(notes)}")
        for n in notes:
            out.append(f"  - {n.resource}: {n.message}")
    return "\n".join(out)


def _yn(v: bool | None) -> str:
    return "unknown" if v is None else ("yes" if v else "no")


def _patient_dict(patient: Patient) -> dict[str, Any]:
    return patient.model_dump(mode="json", exclude_defaults=True)


def register(app: typer.Typer) -> None:
    """Add the ``patient`` command to ``app``."""

    @app.command("patient")
    @guarded
    def patient(
        file: Path | None = typer.Argument(
            None,
            metavar="FILE",
            help="A patient YAML/JSON file, a case file, or a FHIR R4/mCODE bundle (or give --example NAME).",
            show_default=False,
        ),
        example: str | None = typer.Option(
            None, "--example", metavar="NAME", help="Use a patient bundled with oncoline: " + examples_help()
        ),
        as_json: bool = typer.Option(False, "--json", help='Print {"patient": ..., "report": ...} as JSON.'),
        policy: str = typer.Option(
            "warn",
            "--policy",
            help="FHIR data-quality policy: ignore (report only) | warn (report, default) | raise (exit 1 on the "
            "first problem).",
        ),
        as_of: str | None = typer.Option(
            None, "--as-of", metavar="DATE", help="Compute the age at this date (YYYY-MM-DD). Default: today."
        ),
    ) -> None:
        """Show what oncoline understood from FILE, and the patient file it maps to, so the mapping can be
        checked."""
        file = document_or_example(file, example)
        patient_obj, report = load_with_report(
            file, policy=policy, as_of=parse_as_of(as_of) or dt.date.today()
        )  # the CLI owns the clock
        if as_json:
            print_json(
                {
                    "patient": _patient_dict(patient_obj),
                    "report": report.model_dump(mode="json") if report is not None else None,
                }
            )
            return
        import yaml

        typer.echo(summary_text(patient_obj, report))
        typer.echo("")
        typer.echo("patient file (YAML) this maps to:")
        typer.echo(yaml.safe_dump({"patient": _patient_dict(patient_obj)}, sort_keys=False, allow_unicode=True))
