"""Outputs: human views, reports, cards — what people and systems read."""
