"""Clinical knowledge as versioned data: drug vocabulary, sources, regimens, guideline statements, safety rules
and line-of-therapy parameters. Python here only loads, validates and indexes the files under ``data/``."""
