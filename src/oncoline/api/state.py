"""What one running service holds between requests: its configuration, token checker, recent views and cards."""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

from oncoline.api.config import ServiceConfig
from oncoline.api.security import TokenVerifier

if TYPE_CHECKING:
    from oncoline.app.feedback import FeedbackStore
    from oncoline.app.recommend import RecommendOutcome

__all__ = ["OutcomeCache", "ServiceState", "ViewCache"]


class ViewCache:
    """Recent recommendations behind unguessable tokens, so a CDS card can link to the page for its patient.

    Kept in memory only, at most ``size`` entries and ``ttl_seconds`` each; nothing is written to disk.
    """

    def __init__(self, *, size: int = 256, ttl_seconds: float = 1800.0) -> None:
        self.size = size
        self.ttl_seconds = ttl_seconds
        self._items: OrderedDict[str, tuple[float, RecommendOutcome]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, outcome: RecommendOutcome, /) -> str:
        """Store an outcome; returns its token (URL-safe, 128 bits)."""
        token = secrets.token_urlsafe(16)
        with self._lock:
            self._items[token] = (time.monotonic(), outcome)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return token

    def get(self, token: str, /) -> RecommendOutcome | None:
        """The outcome behind a token, or None when unknown or expired."""
        with self._lock:
            item = self._items.get(token)
            if item is None or time.monotonic() - item[0] > self.ttl_seconds:
                self._items.pop(token, None)
                return None
            return item[1]


class OutcomeCache:
    """Recent recommendations by the exact bytes of the record they were computed from (and the day).

    The recommendation is a pure function of the record, the knowledge and the date, so the same chart sent
    again (``order-select`` fires on every selection, ``patient-view`` on every opening) gets the same answer
    without recomputing it. In memory only: at most ``size`` entries, ``ttl_seconds`` each.
    """

    def __init__(self, *, size: int = 128, ttl_seconds: float = 300.0) -> None:
        self.size = size
        self.ttl_seconds = ttl_seconds
        self._items: OrderedDict[str, tuple[float, RecommendOutcome]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, /) -> RecommendOutcome | None:
        """The outcome stored under ``key``, or None (unknown or expired)."""
        with self._lock:
            item = self._items.get(key)
            if item is None or time.monotonic() - item[0] > self.ttl_seconds:
                self._items.pop(key, None)
                return None
            self._items.move_to_end(key)
            return item[1]

    def put(self, key: str, outcome: RecommendOutcome, /) -> None:
        """Store an outcome under ``key`` (the oldest entry leaves when full)."""
        with self._lock:
            self._items[key] = (time.monotonic(), outcome)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


class ServiceState:
    """Per-application state (``app.state.oncoline``)."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.verifier = TokenVerifier(config)
        self.views = ViewCache()
        self.outcomes = OutcomeCache()
        self._cards: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()
        self._feedback: FeedbackStore | None = None

    def remember_card(self, card: str, service: str, kind: str) -> None:
        """Keep what a card was about (no patient data) so its feedback can say so; the last 10 000 cards."""
        with self._lock:
            self._cards[card] = kind
            while len(self._cards) > 10_000:
                self._cards.popitem(last=False)

    def card_kind(self, card: str) -> str | None:
        """What a recent card was about, or None."""
        with self._lock:
            return self._cards.get(card)

    def feedback(self) -> FeedbackStore:
        """The feedback store (opened on first use)."""
        from oncoline.app.feedback import FeedbackStore

        with self._lock:
            if self._feedback is None:
                self._feedback = FeedbackStore(self.config.feedback_db)
            return self._feedback
