"""Preparation (layer 9): the preprocessing pipeline shared by training and serving, and its own steps."""

from tabloop.preparation._pipeline import check_preparation, make_preprocessor, rare_threshold
from tabloop.preparation._steps import ColumnDropper, OutlierClipper, OutlierFlagger, SignedLog1p

__all__ = [
    "ColumnDropper",
    "OutlierClipper",
    "OutlierFlagger",
    "SignedLog1p",
    "check_preparation",
    "make_preprocessor",
    "rare_threshold",
]
