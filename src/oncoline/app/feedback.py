"""CDS Hooks feedback: an append-only local store of what clinicians did with the cards, and its summary.

One SQLite file; rows are only ever inserted (triggers refuse UPDATE and DELETE). No patient data is stored: the
card's uuid, the service, the card kind (e.g. ``withheld:tdxd``), the outcome, the override reason (a coding)
and the clinician's free-text comment, as the EHR sent them.

References
----------
HL7 CDS Hooks 2.0, Feedback: https://cds-hooks.hl7.org/2.0/#feedback
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oncoline.errors import BackendError, InputError

__all__ = ["FeedbackRecord", "FeedbackStore", "summarise_feedback"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  received_at TEXT NOT NULL,
  service TEXT NOT NULL,
  card TEXT NOT NULL,
  card_kind TEXT,
  outcome TEXT NOT NULL CHECK (outcome IN ('accepted', 'overridden')),
  override_system TEXT,
  override_code TEXT,
  override_display TEXT,
  user_comment TEXT,
  accepted_suggestions INTEGER NOT NULL DEFAULT 0,
  outcome_timestamp TEXT
);
CREATE TRIGGER IF NOT EXISTS feedback_no_update BEFORE UPDATE ON feedback
  BEGIN SELECT RAISE(ABORT, 'feedback is append-only'); END;
CREATE TRIGGER IF NOT EXISTS feedback_no_delete BEFORE DELETE ON feedback
  BEGIN SELECT RAISE(ABORT, 'feedback is append-only'); END;
"""


@dataclass(frozen=True)
class FeedbackRecord:
    """One feedback item as stored.

    Attributes
    ----------
    service
        The CDS service id the card came from.
    card
        The card's uuid.
    outcome
        ``accepted`` or ``overridden``.
    card_kind
        What the card was about (``next-line``, ``missing:her2_status``, ``withheld:<regimen>`` …), when known.
    override_system, override_code, override_display
        The override reason's coding (overridden cards).
    user_comment
        The clinician's comment, as sent.
    accepted_suggestions
        Number of suggestions accepted.
    outcome_timestamp
        When the clinician acted (ISO 8601, as sent).
    """

    service: str
    card: str
    outcome: str
    card_kind: str | None = None
    override_system: str | None = None
    override_code: str | None = None
    override_display: str | None = None
    user_comment: str | None = None
    accepted_suggestions: int = 0
    outcome_timestamp: str | None = None


class FeedbackStore:
    """Append-only feedback file (SQLite), safe to share between threads.

    Parameters
    ----------
    path
        The SQLite file (created with its table on first use).

    Raises
    ------
    BackendError
        The file cannot be opened or is not an oncoline feedback store.
    """

    def __init__(self, path: Path, /) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise BackendError(f"{self.path}: cannot open the feedback store ({exc})") from exc

    def append(self, records: Iterable[FeedbackRecord], /, *, received_at: dt.datetime) -> int:
        """Insert records in one transaction; returns how many were stored.

        Raises
        ------
        InputError
            An outcome other than accepted / overridden.
        BackendError
            The write failed.
        """
        rows = []
        for r in records:
            if r.outcome not in ("accepted", "overridden"):
                raise InputError(f"outcome {r.outcome!r}: use accepted or overridden", field="feedback.outcome")
            rows.append(
                (
                    received_at.isoformat(timespec="seconds"),
                    r.service,
                    r.card,
                    r.card_kind,
                    r.outcome,
                    r.override_system,
                    r.override_code,
                    r.override_display,
                    r.user_comment,
                    r.accepted_suggestions,
                    r.outcome_timestamp,
                )
            )
        with self._lock:
            try:
                self._db.execute("BEGIN")
                self._db.executemany(
                    "INSERT INTO feedback (received_at, service, card, card_kind, outcome, override_system, "
                    "override_code, override_display, user_comment, accepted_suggestions, outcome_timestamp) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._db.execute("ROLLBACK")
                raise BackendError(f"{self.path}: cannot store feedback ({exc})") from exc
        return len(rows)

    def close(self) -> None:
        """Close the file."""
        self._db.close()


def summarise_feedback(path: Path, /) -> dict[str, Any]:
    """Counts of a feedback store: by service and outcome, by card kind, by override reason.

    Parameters
    ----------
    path
        The SQLite file written by :class:`FeedbackStore`.

    Returns
    -------
    dict
        ``{"file", "total", "first", "last", "by_service": {service: {outcome: n}},
        "by_card_kind": {kind: {outcome: n}}, "override_reasons": [{"code", "display", "n"}]}`` (JSON-ready).

    Raises
    ------
    InputError
        The file does not exist (field ``--db``: give the store written by ``oncoline serve``).
    BackendError
        It is not a feedback store.
    """
    if not Path(path).is_file():
        raise InputError(
            f"{path} does not exist; give the feedback_db file of `oncoline serve` (see its --config)", field="--db"
        )
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        total, first, last = db.execute("SELECT count(*), min(received_at), max(received_at) FROM feedback").fetchone()
        by_service: dict[str, dict[str, int]] = {}
        for service, outcome, n in db.execute(
            "SELECT service, outcome, count(*) FROM feedback GROUP BY 1, 2 ORDER BY 1, 2"
        ):
            by_service.setdefault(service, {})[outcome] = n
        by_kind: dict[str, dict[str, int]] = {}
        for kind, outcome, n in db.execute(
            "SELECT coalesce(card_kind, 'unknown'), outcome, count(*) FROM feedback GROUP BY 1, 2 ORDER BY 1, 2"
        ):
            by_kind.setdefault(kind, {})[outcome] = n
        reasons = [
            {"code": code, "display": display, "n": n}
            for code, display, n in db.execute(
                "SELECT coalesce(override_code, '(none given)'), coalesce(max(override_display), ''), count(*) "
                "FROM feedback WHERE outcome = 'overridden' GROUP BY 1 ORDER BY 3 DESC, 1"
            )
        ]
        db.close()
    except sqlite3.Error as exc:
        raise BackendError(f"{path}: not an oncoline feedback store ({exc})") from exc
    return {
        "file": str(path),
        "total": total,
        "first": first,
        "last": last,
        "by_service": by_service,
        "by_card_kind": by_kind,
        "override_reasons": reasons,
    }
