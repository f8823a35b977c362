"""Engines: pure functions of input + knowledge + ``as_of`` (no I/O, no clock — house style S10)."""
