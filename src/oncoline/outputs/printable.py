"""Text from input files made safe for a terminal: control characters shown, never obeyed.

A patient file may carry a control character in any text (a YAML ``"\\e"`` escape, a JSON or FHIR ``\\u001b``):
printed as it is, an escape sequence can retitle the terminal, move the cursor or clear the screen — and wipe a
recommendation from view. Rich removes only a few control codes (bell, backspace, carriage return, vertical tab,
form feed) and passes ESC through, so every text the terminal views print goes through :func:`printable`. The
JSON output keeps the text as it was given (JSON escapes it).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text

__all__ = ["SafeText", "printable"]

# C0 controls except tab and newline, DEL, and the C1 controls (U+0080-U+009F: 8-bit CSI, OSC ...): each shown
# as its Python escape (ESC as "\x1b"), so the character is visible and obeys nothing
_VISIBLE = {code: f"\\x{code:02x}" for code in (*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0))}


def printable(text: object) -> str:
    """``text`` as a string with every control character but tab and newline written as its escape (``\\x1b``)."""
    return str(text).translate(_VISIBLE)


class SafeText(Text):
    """A Rich :class:`~rich.text.Text` whose text (at creation and on :meth:`append`) goes through :func:`printable`."""

    def __init__(self, text: str = "", *args: Any, **kwargs: Any) -> None:
        super().__init__(printable(text), *args, **kwargs)

    def append(self, text: str | Text, style: Any = None) -> Text:
        """Append ``text`` (a string is made printable; a Text is taken as built)."""
        return super().append(printable(text) if isinstance(text, str) else text, style)
