"""The feature store (layer 8, beside the bundle): the spec's ``features:`` section as a Feast repository.

``_repo`` renders the section into ``.tabloop/feast/`` (``feature_store.yaml`` and a registry
filled from Feast objects built in Python, no generated code), applies it, materializes the
online store and builds point-in-time training sets; ``_online`` looks served rows' features
up by their entity keys and says which entity was missing or which value had expired. Feast
is imported only here, and only when a store is opened: it costs seconds.
"""

from typing import TYPE_CHECKING

from tabloop._lazy import exports

if TYPE_CHECKING:
    from tabloop.features._online import FilledFrame, Lookup, OnlineRows, fill_frame, gaps_allowed
    from tabloop.features._repo import FeatureRepo, Joined, feast_quiet, redis_connection_string

__getattr__, __dir__ = exports(__name__, __file__)

__all__ = ["FeatureRepo", "FilledFrame", "Joined", "Lookup", "OnlineRows", "feast_quiet", "fill_frame", "gaps_allowed",
           "redis_connection_string"]
