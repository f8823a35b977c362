"""Inputs and outputs: patient files (YAML/JSON), FHIR mCODE bundles, OMOP CDM databases, exposure tables."""
