"""Downscaling models behind one interface (:class:`~smprod.models.base.Downscaler`).

Kinds: ``rf`` (random forest, Mao et al. 2022), ``xgb`` (XGBoost), ``stack`` (XGBoost + random
forest + histogram gradient boosting with a ridge meta-learner, after Xu et al. 2024).
"""

from smprod.models.base import Downscaler, load_model, make_model

__all__ = ["Downscaler", "load_model", "make_model"]
