"""The fuzzing suite (issue 12 item 8): mutations, properties, the seeded tests and the finding regressions."""
