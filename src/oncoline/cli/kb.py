"""``oncoline kb lint|show`` — check and browse the knowledge base."""

from __future__ import annotations

from pathlib import Path

import typer

from oncoline.cli.common import EXIT_KB, esc, guarded, output_console, print_json

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``kb`` command group to ``app``."""
    kb_app = typer.Typer(help="Knowledge base: lint the files, show versions and entries.", no_args_is_help=True)
    app.add_typer(kb_app, name="kb")

    @kb_app.command("lint")
    @guarded
    def lint_cmd(
        data_dir: Path | None = typer.Option(
            None, "--data-dir", help="Lint these knowledge files instead of the packaged ones."
        ),
        strict: bool = typer.Option(False, "--strict", help="Warnings fail too."),
    ) -> None:
        """Check schemas, citations, drugs, regimens and contradicting rule pairs (exit 3 on problems)."""
        from oncoline.app.knowledge import lint_knowledge_base

        console = output_console()
        problems = lint_knowledge_base(data_dir)
        errors = [p for p in problems if p.severity == "error"]
        for p in problems:
            style = "bold red" if p.severity == "error" else "yellow"
            console.print(f"[{style}]{p.severity}[/]: {esc(p.message)}", highlight=False)
        failed = bool(errors) or (strict and bool(problems))
        where = data_dir or "packaged knowledge"
        console.print(
            f"{esc(where)}: {len(errors)} error(s), {len(problems) - len(errors)} warning(s)"
            + (" — FAILED" if failed else " — ok"),
            highlight=False,
        )
        if failed:
            raise typer.Exit(EXIT_KB)

    @kb_app.command("show")
    @guarded
    def show_cmd(
        entry: str | None = typer.Argument(
            None, metavar="ID", help="Id of a source, regimen, statement, rule or action."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Show the knowledge version and file summary, or one entry by id."""
        from oncoline.app.knowledge import knowledge_entry, knowledge_summary

        if entry is None:
            summary = knowledge_summary()
            if as_json:
                print_json(summary)
                return
            from rich.table import Table
            from rich.text import Text

            table = Table(title=f"oncoline knowledge {summary['version']} (effective {summary['effective']})")
            for col in ("file", "schema", "version", "effective"):
                table.add_column(col)
            for stem, h in summary["files"].items():
                table.add_row(Text(f"{stem}.yaml"), Text(h["schema"]), Text(h["version"]), Text(h["effective"]))
            console = output_console()
            console.print(table)
            console.print(esc(", ".join(f"{n} {kind}(s)" for kind, n in summary["counts"].items())))
            return
        found = knowledge_entry(entry)
        if as_json:
            print_json({"kind": found.kind, **found.data})
        else:
            import yaml

            typer.echo(f"# {found.kind} {entry} (knowledge {found.version})")
            typer.echo(yaml.safe_dump(found.data, sort_keys=False, allow_unicode=True, width=110).rstrip())
