"""Decision epochs: the dates on which the recommender's choice for one patient may change.

:func:`~oncoline.engines.recommend.engine.decide` (steps 1-6 of the recommender) reads the decision date
``as_of`` in two ways: through the patient's own dates (how long ago a line ended, whether a line starts after
``as_of``) and through the knowledge — which statements, safety rules, label prerequisites and questions are in
effect. The second changes only on the dates :func:`decision_dates` lists. Between two consecutive ones (an
*epoch*) every statement, rule, prerequisite and question is in effect on every day or on none, so a patient
described relative to the decision date (dates moved with it) gets the same options with the same categories, the
same exclusions with the same reason codes and the same missing facts on every day of the epoch. Citations and
wording may still differ (a source dated inside the epoch is cited from its date on); these dates are not for
them.

Which dates count, and the call that reads them (steps 1-6 only; site actions and monitoring, steps 7-8, are not
part of the choice):

- a statement's ``effective`` and ``expires``, and the date of every source it cites
  (:func:`~oncoline.engines.recommend.candidates.candidate_regimens`: ``Clock.all_in_effect``, ``Clock.citable``);
- the dates of the sources of each safety rule (``Checker``: ``Clock.any_in_effect`` decides which
  contraindications and cautions apply), each regimen's prerequisites (``Checker.option_blocks``,
  ``failed_prerequisite``, ``flags``) and each question asked (``safety.asks``, a missing fact);
- ``coverage_start`` (a warning before it).

Evidence, flag and note sources date only what an option cites and says, not whether it is offered, in which
category or why it is excluded.

A new date-gated step in 1-6 must add its dates here: ``tests/engines/test_recommend_epochs.py`` checks on random
patients that two dates of one epoch give the same choice, and ``tests/analytics/test_concordance_fast.py``
compares every state of a generated cohort judged per epoch and per knowledge date.

References
----------
House style S2, S10 (answers "as of" a date); issue 10 item 5 (judge each distinct patient state once).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable

from oncoline.knowledge.loader import KnowledgeBase

__all__ = ["EPOCH_BEFORE_ALL", "decision_dates", "epoch_start"]

EPOCH_BEFORE_ALL = dt.date(1900, 1, 1)
"""The first day of the epoch before every decision date (nothing of the knowledge in effect yet)."""


def decision_dates(kb: KnowledgeBase, /) -> list[dt.date]:
    """Every date on which :func:`~oncoline.engines.recommend.engine.decide` may choose differently, sorted, distinct.

    Parameters
    ----------
    kb
        :func:`~oncoline.knowledge.loader.load_knowledge`.

    Returns
    -------
    list[datetime.date]
        The statements' ``effective`` and ``expires`` dates, the dates of the sources cited by statements, safety
        rules, regimen prerequisites and safety questions, and ``coverage_start`` (see the module docstring).
    """
    sources = kb.sources

    def cited(ids: Iterable[str]) -> set[dt.date]:
        return {sources[i].date for i in ids}

    found: set[dt.date] = {kb.params.coverage_start}
    for stmt in kb.statements:
        found.add(stmt.effective)
        if stmt.expires is not None:
            found.add(stmt.expires)
        found |= cited(stmt.citations)
    for rule in kb.safety.rules:
        found |= cited(rule.citations)
    for ask in kb.safety.asks:
        found |= cited(ask.citations)
    for regimen in kb.regimens.values():
        for prq in regimen.prerequisites:
            found |= cited(prq.citations)
    return sorted(found)


def epoch_start(dates: list[dt.date], day: dt.date, /) -> dt.date:
    """The first day of the epoch holding ``day``: the latest of ``dates`` (sorted) on or before it, or
    :data:`EPOCH_BEFORE_ALL` when ``day`` precedes them all."""
    i = bisect.bisect_right(dates, day)
    return dates[i - 1] if i else EPOCH_BEFORE_ALL
