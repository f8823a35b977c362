"""`oncoline lines` — placeholder until its owner lands it (do not ship as is)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the `lines` command to `app`."""
