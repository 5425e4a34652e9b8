"""Preparation (layer 9): the preprocessing pipeline shared by training and serving."""

from tabloop.preparation._pipeline import make_preprocessor

__all__ = ["make_preprocessor"]
