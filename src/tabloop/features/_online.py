"""Served rows completed from the online store: the features a request did not send, looked up by its entity keys.

A row that sends every feature the store would give is used as sent (no lookup). For the others
the store's values fill the features the row lacks (a value the row sent wins: a request-time
override). Each row says what could not be filled: ``missing_entity`` (the store has nothing for
that entity) or ``expired`` (its newest value is older than the view's ttl, judged at lookup
time, since the online store keeps a value until it is overwritten).

Batch rows (``tabloop predict``) are completed from the offline store instead (``fill_frame``):
Feast's way to score in batch is ``get_historical_features``, the training join, as of each row's
``features.entity_timestamp`` when the input has that column, else as of the run's start. It needs
no materialize and gives what training would have seen; a row it finds nothing for (no value at or
before its time within the ttl: the join cannot tell an unknown entity from an expired value) is a
``no_value`` gap.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from datetime import datetime
from typing import TYPE_CHECKING

from tabloop.errors import DataError, FeatureStoreError, Violation
from tabloop.features._repo import FeatureRepo, feast_sqlite_codecs

if TYPE_CHECKING:
    import pandas as pd

    from tabloop.data import Contract

#: the two reasons a feature stays empty, as rules in contract marks and violations
MISSING_ENTITY = "missing_entity"
EXPIRED = "expired"
MISSING_KEY = "missing_column"
#: a batch row the point-in-time join found no value for (unknown entity or expired: the join does not say which)
NO_VALUE = "no_value"
#: the entity timestamp's column inside the batch join (the input's own names are left alone)
_AT = "__tabloop_at"


@dataclass(frozen=True)
class Gap:
    """One view's features a row could not get: which view, why, the entity (key=value) and the features."""

    view: str
    rule: str
    entity: str
    features: tuple[str, ...]
    age_s: float | None = None


@dataclass
class OnlineRows:
    """The rows with their features filled (as far as the store could), and what each row lacks."""

    rows: list[dict[str, Any]]
    gaps: dict[int, list[Gap]] = field(default_factory=dict)
    looked_up: int = 0

    def violations(self) -> list[Violation]:
        """The gaps as contract violations: column the join key, rule missing_entity or expired."""
        out = []
        for i, gaps in self.gaps.items():
            for g in gaps:
                key = g.entity.split("=", 1)[0]
                if g.rule == EXPIRED:
                    msg = (f"{g.entity}: the {g.view} values are {g.age_s:.0f} s old, older than the view's ttl "
                           f"(features {list(g.features)})")
                else:
                    msg = f"{g.entity}: the online store holds no {g.view} features for this entity"
                out.append(Violation(key, g.rule, msg, row=i))
        return out


class Lookup:
    """The online lookup of one feature repository, for the features a model uses (``wanted``)."""

    def __init__(self, repo: FeatureRepo, wanted: Sequence[str] | None = None) -> None:
        self.repo = repo
        used = repo.used()
        wanted_set = set(wanted) if wanted is not None else None
        #: view -> (its features the model uses, its join keys, its ttl in seconds)
        self.views: dict[str, tuple[list[str], list[str], float | None]] = {}
        for view, feats in used.items():
            keep = [f for f in feats if wanted_set is None or f in wanted_set]
            if keep:
                spec = repo.views[view]
                self.views[view] = (keep, repo.view_keys(spec), spec.ttl_seconds)
        self.features = [f for feats, _, _ in self.views.values() for f in feats]
        self.keys = sorted({k for _, keys, _ in self.views.values() for k in keys})
        self.key_types = {k: t for e in repo.spec.entities for k, t in e.join_keys.items() if k in self.keys}

    def __bool__(self) -> bool:
        return bool(self.views)

    def warm(self) -> None:
        """Open the store and read it once (registry, connection), so that a server's first requests do not,
        and an online store that cannot be reached is said at start-up."""
        probe = {k: {"string": "", "bool": False}.get(t, 0) for k, t in self.key_types.items()}
        self.fill([probe])

    def fill(self, rows: Sequence[dict[str, Any]], *, now: float | None = None,
             source: str = "request body") -> OnlineRows:
        """``rows`` with the features they lack taken from the online store (new dicts; ``rows`` is not changed).

        ``now`` (epoch seconds) is when a value's age is judged. A row that lacks features and a join
        key they need is refused as a ``ContractViolation`` naming the key (rule ``missing_column``).
        """
        now = time.time() if now is None else now
        out = [dict(r) for r in rows]
        need = [i for i, r in enumerate(out) if any(f not in r for f in self.features)]
        result = OnlineRows(out, looked_up=len(need))
        if not need:
            return result
        absent = [Violation(k, MISSING_KEY, "the join key is needed to look the row's features up", row=i)
                  for i in need for k in self.keys if out[i].get(k) is None]
        absent += [Violation(k, "type", f"{out[i][k]!r} is not a {self.key_types[k]} join key", row=i, value=out[i][k])
                   for i in need for k in self.keys
                   if out[i].get(k) is not None and not _fits(out[i][k], self.key_types[k])]
        if absent:
            from tabloop.errors import ContractViolation

            raise ContractViolation(absent, source=source)
        refs = [f"{view}:{f}" for view, (feats, _, _) in self.views.items() for f in feats]
        entity_rows = [{k: out[i][k] for k in self.keys} for i in need]
        try:
            feast_sqlite_codecs()  # pandas' SQLite path may have replaced them in this process
            response = self.repo.store.get_online_features(features=refs, entity_rows=entity_rows)
        except Exception as exc:
            raise FeatureStoreError(f"the online store {self.repo.online_name} could not be read: {exc}",
                                    hint="is it up, and materialized ('tabloop features materialize')?") from exc
        proto = response.proto
        names = list(proto.metadata.feature_names.val)
        values = response.to_dict()
        column = {name: j for j, name in enumerate(names)}
        for view, (feats, keys, ttl) in self.views.items():
            first = column[feats[0]]
            for pos, i in enumerate(need):
                row = out[i]
                status = proto.results[first].statuses[pos]
                seconds = proto.results[first].event_timestamps[pos].seconds
                entity = ",".join(f"{k}={row[k]!r}" for k in keys)
                # FieldStatus: 1 PRESENT, 2 NULL_VALUE, 3 NOT_FOUND, 4 OUTSIDE_MAX_AGE
                if status == 3 or (status != 4 and seconds == 0):
                    result.gaps.setdefault(i, []).append(Gap(view, MISSING_ENTITY, entity, tuple(feats)))
                    continue
                age = now - seconds
                if status == 4 or (ttl is not None and age > ttl):
                    result.gaps.setdefault(i, []).append(Gap(view, EXPIRED, entity, tuple(feats), age))
                    continue
                for f in feats:
                    if f not in row:
                        row[f] = values[f][pos]
        return result


@dataclass
class FilledFrame:
    """A batch chunk with the features it lacked joined from the offline store, and what each row got none of."""

    frame: pd.DataFrame
    gaps: dict[int, list[Gap]] = field(default_factory=dict)


def fill_frame(lookup: Lookup, frame: pd.DataFrame, *, at: datetime, timestamp: str | None = None,
               source: str = "input", refresh: bool = True) -> FilledFrame:
    """``frame`` with the features ``lookup`` gives and ``frame`` lacks, joined point in time from the offline store.

    Each row is joined as of its ``timestamp`` column when ``frame`` has one (a backfill scores as training saw
    the data), else as of ``at``. A column ``frame`` sends is used as sent. Join keys read from text (a CSV
    chunk) are converted to the entity's type; a key that is not one is refused naming column and row.
    The frame's ``attrs`` (row numbers, text source) are kept. ``refresh``: as ``FeatureRepo.historical``'s.
    """
    import pandas as pd

    need = [f for f in lookup.features if f not in frame.columns]
    if not need:
        return FilledFrame(frame)
    missing = [k for k in lookup.keys if k not in frame.columns]
    if missing:
        raise DataError(f"{source}: column(s) {missing} are missing; rows without the features {need} need their "
                        f"join keys {lookup.keys} to be completed from the feature store")
    entity = pd.DataFrame(index=range(len(frame)))
    for k in lookup.keys:
        values = frame[k].reset_index(drop=True)
        if lookup.key_types[k] in ("int64", "int32", "float64", "float32"):
            number = pd.to_numeric(values, errors="coerce")
            bad = number.isna() & values.notna()
            if bad.any():
                row = int(bad.to_numpy().nonzero()[0][0])
                raise DataError(f"{source}: join key {k!r} in row {row} is {values.iloc[row]!r}, not a "
                                f"{lookup.key_types[k]}")
            values = number.astype("int64") if lookup.key_types[k].startswith("int") and not number.isna().any() \
                else number
        entity[k] = values
    if timestamp is not None and timestamp in frame.columns:
        entity[_AT] = frame[timestamp].reset_index(drop=True)
    else:
        entity[_AT] = pd.Timestamp(at).tz_convert("UTC") if pd.Timestamp(at).tzinfo else pd.Timestamp(at, tz="UTC")
    joined = lookup.repo.historical(entity, _AT, source=source, refresh=refresh).frame
    out = frame.copy()
    for name in need:
        out[name] = joined[name].to_numpy()
    result = FilledFrame(out)
    for view, (feats, keys, _) in lookup.views.items():
        cols = [f for f in feats if f in need]
        if not cols:
            continue
        for i in joined[cols].isna().all(axis=1).to_numpy().nonzero()[0]:
            entity_text = ",".join(f"{k}={_scalar(entity[k].iloc[i])!r}" for k in keys)
            result.gaps.setdefault(int(i), []).append(Gap(view, NO_VALUE, entity_text, tuple(cols)))
    return result


def _scalar(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def gaps_allowed(contract: Contract, features: Sequence[str]) -> Contract:
    """``contract`` whose policy lets a gap through (marked ``not_null``/``warn``) in ``features``: what
    ``features.on_missing: impute`` scores with, the model imputing as it was trained to."""
    from tabloop.data import ContractPolicy

    policy = contract.policy
    names = set(contract.feature_names)
    columns: dict[str, dict[str, Any]] = {c: dict(r) for c, r in policy.columns.items()}
    for name in features:
        if name in names:
            columns.setdefault(name, {})["not_null"] = "warn"
    relaxed = ContractPolicy(defaults=dict(policy.defaults), columns=columns, far_range_factor=policy.far_range_factor)
    return contract.with_policy(relaxed)


def _fits(value: Any, kind: str) -> bool:
    """Whether a JSON value is a join key of ``kind`` as sent (no coercion: "7" is not the integer 7)."""
    if isinstance(value, bool):
        return kind == "bool"
    if kind in ("int64", "int32"):
        return isinstance(value, int)
    if kind in ("float64", "float32"):
        return isinstance(value, (int, float))
    if kind == "string":
        return isinstance(value, str)
    return False
