"""``oncoline schema`` — JSON Schema of the input and output models, for integrators."""

from __future__ import annotations

from enum import StrEnum

import typer

from oncoline.cli.common import guarded, print_json


class SchemaName(StrEnum):
    """Models whose JSON Schema can be printed."""

    PATIENT = "patient"
    HER2 = "her2"
    RECOMMENDATION = "recommendation"


def register(app: typer.Typer) -> None:
    """Add the ``schema`` command to ``app``."""

    @app.command("schema")
    @guarded
    def schema(
        name: SchemaName = typer.Argument(
            SchemaName.PATIENT, metavar="MODEL", help="Which model: patient, her2 or recommendation."
        ),
    ) -> None:
        """Print the JSON Schema of a model (patient input, HER2 result, recommendation output)."""
        if name is SchemaName.PATIENT:
            from oncoline.model import Patient

            print_json(Patient.model_json_schema())
        elif name is SchemaName.HER2:
            from oncoline.engines.her2 import Her2Classification

            print_json(Her2Classification.model_json_schema())
        else:
            from oncoline.model.recommendation import Recommendation

            print_json(Recommendation.model_json_schema())
