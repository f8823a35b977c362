"""The recommender engine: patient + knowledge + ``as_of`` → :class:`~oncoline.model.recommendation.Recommendation`.

Pure (house style S10): no I/O, no clock. See :mod:`oncoline.engines.recommend.engine`.
"""

from oncoline.engines.recommend.engine import recommend

__all__ = ["recommend"]
