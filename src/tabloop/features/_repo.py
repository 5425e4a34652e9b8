"""The spec's ``features:`` section as a Feast repository under ``.tabloop/feast/``.

The repository is written as ``feature_store.yaml`` (so Feast's own CLI can open it) and
filled from Feast objects built here (``store.apply``), never from generated code. When every
view's source is a table or query of one PostgreSQL database, that database is Feast's offline
store (``PostgreSQLSource``): the point-in-time join and materialize run there, and nothing is
copied. Otherwise sources are Parquet files, and a database source (another server, SQLite, or
PostgreSQL beside Parquet files: Feast joins within one offline store) is read with
``tabloop.data.read_table`` into ``sources/<view>.parquet`` first. The point-in-time join is
Feast's ``get_historical_features``; tabloop keeps every entity row (Feast's file store drops a
row whose only values fell outside the ttl) and says how many rows got no value.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pandas as pd

from tabloop.data import is_database_url, read_table, redact_url
from tabloop.errors import DataError, FeatureStoreError
from tabloop.spec import FeaturesSpec, FeatureViewSpec
from tabloop.workspace import atomic_write_bytes, atomic_write_text

if TYPE_CHECKING:
    from feast import FeatureStore

log = logging.getLogger("tabloop.features")

#: the column the entity table's rows are numbered by on their way through Feast (it reorders and drops rows)
ROW = "__tabloop_row"
#: the entity timestamp's name inside Feast's join (Feast finds it by this name)
EVENT_TS = "event_timestamp"
#: the URL schemes (before any +driver) of a PostgreSQL source Feast's own offline store can read
_POSTGRES = ("postgresql", "postgres")
#: the environment variables feature_store.yaml names for the passwords it does not hold
PASSWORD_VARS = {"postgres": "TABLOOP_FEAST_POSTGRES_PASSWORD", "redis": "TABLOOP_FEAST_REDIS_PASSWORD"}
#: materialized.json's key for the entity each view's last run loaded, per online store
PROBES = "probes"


@contextlib.contextmanager
def feast_quiet() -> Iterator[None]:
    """Feast prints progress on stdout; a command's stdout holds exactly one JSON document, so it goes to stderr."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def feast_sqlite_codecs() -> None:
    """Put back Feast's sqlite3 adapters and converters for datetimes (epoch seconds), which are process-wide.

    Feast's SQLite online store registers them on import; pandas' SQLite path (``to_sql`` or
    ``read_sql`` on a sqlite3 connection) registers its own ISO-text ones over them. A
    materialize after that wrote text timestamps into the online store, which every later reader
    (Feast's own converter: ``int(value)``) failed on ("invalid literal for int()"): found in
    the test suite, where one test's SQLite sink ran before another's materialize.
    """
    import sqlite3
    from datetime import datetime as _datetime

    from feast.infra.online_stores import sqlite as feast_sqlite

    sqlite3.register_adapter(_datetime, feast_sqlite.adapt_datetime_epoch)
    sqlite3.register_converter("timestamp", feast_sqlite.convert_timestamp)


#: seconds a Redis connect / a Redis reply may take before the lookup gives up (the URL's query may change them)
REDIS_TIMEOUTS = {"socket_connect_timeout": 1.0, "socket_timeout": 2.0}


def redis_connection_string(url: str) -> str:
    """Feast's ``host:port,db=N,password=...`` from a ``redis://[:password@]host:port/N[?socket_timeout=S]`` URL.

    A served row waits on this Redis, so it gets timeouts and no retries: redis-py's defaults are no
    timeout (a Redis that hangs held every request forever) and three retries with backoff (a Redis
    that is down made every request wait 4 s before it was answered per features.on_missing). Found by
    stopping a private Redis under a running server (tests/integration/test_features_outage.py).
    ``socket_timeout`` and ``socket_connect_timeout`` in the URL's query replace the defaults.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise FeatureStoreError(f"features.online_store: {redact_url(url)!r} is not a redis:// URL")
    out = f"{parts.hostname or 'localhost'}:{parts.port or 6379}"
    db = parts.path.strip("/")
    if db:
        if not db.isdigit():
            raise FeatureStoreError(f"features.online_store: the database in {redact_url(url)!r} must be a number")
        out += f",db={db}"
    if parts.password:
        out += f",password={unquote(parts.password)}"
    if parts.scheme == "rediss":
        out += ",ssl=true"
    timeouts = dict(REDIS_TIMEOUTS)
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name not in timeouts:
            raise FeatureStoreError(f"features.online_store: {redact_url(url)!r} sets {name!r}, which tabloop does "
                                    "not pass on", hint=f"the query may set {sorted(timeouts)} (seconds)")
        try:
            timeouts[name] = float(value)
        except ValueError:
            timeouts[name] = -1.0
        if not timeouts[name] > 0:
            raise FeatureStoreError(f"features.online_store: {name}={value!r} in {redact_url(url)!r} is not a "
                                    "number of seconds above 0")
    out += "".join(f",{name}={seconds:g}" for name, seconds in timeouts.items())
    # Feast reads each value as JSON: null is redis-py's retry=None, which means no retry
    return out + ",retry=null"


@dataclass
class Joined:
    """The entity table with the features joined point in time; ``missing`` rows got no value for some feature."""

    frame: pd.DataFrame
    features: list[str]
    missing: int


@dataclass
class FeatureRepo:
    """One project's feature store: the spec's section, where the repository lives, the online store's address.

    ``base`` is the folder relative source paths are read from (the project's); ``root`` is
    ``.tabloop/feast``; ``online_store`` is a ``redis://`` URL or a SQLite path (None: ``root/online.db``).
    """

    spec: FeaturesSpec
    project: str
    base: Path
    root: Path
    online_store: str | None = None
    _store: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # -- the repository ---------------------------------------------------------------------------
    @property
    def online_name(self) -> str:
        """The online store as results and messages name it (no password)."""
        target = self.online_store
        if target and target.startswith(("redis://", "rediss://")):
            return redact_url(target)
        return str(self._sqlite_path())

    def _sqlite_path(self) -> Path:
        target = self.online_store
        if not target:
            return self.root / "online.db"
        path = Path(target).expanduser()
        return path if path.is_absolute() else self.base / path

    def config_dict(self) -> dict[str, Any]:
        """The content of ``feature_store.yaml``."""
        target = self.online_store
        online: dict[str, Any]
        if target and target.startswith(("redis://", "rediss://")):
            online = {"type": "redis", "connection_string": redis_connection_string(target)}
        else:
            online = {"type": "sqlite", "path": str(self._sqlite_path())}
        return {
            "project": self.project,
            "registry": str(self.root / "registry.db"),
            "provider": "local",
            "online_store": online,
            "offline_store": self._postgres_offline() or {"type": "file"},
            "entity_key_serialization_version": 3,
        }

    @property
    def store(self) -> FeatureStore:
        """The Feast store (built once; importing Feast costs seconds)."""
        # a server's first requests arrive together, each in its own thread: one of them builds it
        with self._lock:
            if self._store is None:
                from feast import FeatureStore, RepoConfig

                try:
                    self._store = FeatureStore(config=RepoConfig(repo_path=self.root, **self.config_dict()))
                except Exception as exc:
                    raise FeatureStoreError(f"the feature store in {self.root} cannot be opened: {exc}") from exc
        return self._store

    def write_config(self) -> Path:
        """``feature_store.yaml`` for Feast's own CLI, with each password as an environment variable Feast expands
        when it reads the file (tabloop itself builds its config in memory, from the spec's URLs)."""
        import yaml

        config = self.config_dict()
        said = []
        offline = config["offline_store"]
        if offline.get("password"):
            offline["password"] = "${" + PASSWORD_VARS["postgres"] + "}"
            said.append(PASSWORD_VARS["postgres"])
        online = config["online_store"]
        if "password=" in online.get("connection_string", ""):
            online["connection_string"] = ",".join(
                "password=${" + PASSWORD_VARS["redis"] + "}" if part.startswith("password=") else part
                for part in online["connection_string"].split(","))
            said.append(PASSWORD_VARS["redis"])
        head = f"# written by tabloop from tabloop.yaml's features:; Feast's CLI reads {', '.join(said)} from the " \
               "environment\n" if said else ""
        self.root.mkdir(parents=True, exist_ok=True)
        return atomic_write_text(self.root / "feature_store.yaml", head + yaml.safe_dump(config, sort_keys=False))

    @cached_property
    def views(self) -> dict[str, FeatureViewSpec]:
        return {v.name: v for v in self.spec.views}

    def used(self) -> dict[str, list[str]]:
        """view -> the features of it the model uses, in the spec's order."""
        out: dict[str, list[str]] = {}
        for ref in self.spec.feature_refs():
            view, _, feature = ref.partition(":")
            out.setdefault(view, []).append(feature)
        return out

    def feature_names(self) -> list[str]:
        return [ref.partition(":")[2] for ref in self.spec.feature_refs()]

    def view_keys(self, view: FeatureViewSpec) -> list[str]:
        entities = {e.name: e for e in self.spec.entities}
        return [k for name in view.entities for k in entities[name].join_keys]

    # -- sources ------------------------------------------------------------------------------------
    @cached_property
    def postgres(self) -> str | None:
        """The PostgreSQL URL Feast's offline store reads, when every view's source is a table or query of that
        one database (None: the views are read from Parquet files, database sources snapshotted into them)."""
        urls = {v.source for v in self.spec.views}
        if not urls or not all(is_database_url(u) and u.split("://", 1)[0].split("+", 1)[0] in _POSTGRES
                               for u in urls):
            return None
        from sqlalchemy.engine import make_url

        places = {(u.host, u.port, u.database, u.username, u.password, u.query.get("sslmode"))
                  for u in map(make_url, urls)}
        return next(iter(urls)) if len(places) == 1 else None

    def _postgres_offline(self) -> dict[str, Any] | None:
        """``offline_store:`` of ``feature_store.yaml`` for ``self.postgres`` (Feast's PostgreSQL offline store)."""
        if self.postgres is None:
            return None
        from sqlalchemy.engine import make_url

        url = make_url(self.postgres)
        sslmode = url.query.get("sslmode")
        return {"type": "postgres", "host": url.host or "localhost", "port": url.port or 5432,
                "database": url.database or "postgres", "user": url.username or "postgres",
                "password": url.password or "", "db_schema": "public",
                # psycopg's own default; Feast's ("require") refuses a server without TLS on loopback
                "sslmode": sslmode if isinstance(sslmode, str) else "prefer"}

    def _relation(self, view: FeatureViewSpec) -> str:
        """``view``'s source as SQL after FROM: its table as named, or its query in parentheses."""
        if view.query is not None:
            return f"({view.query}) AS {view.name}_source"
        assert view.table is not None
        return view.table

    def source_path(self, view: FeatureViewSpec) -> Path:
        """Where Feast reads ``view``'s history: its Parquet file, or the snapshot of its database table."""
        if is_database_url(view.source):
            return self.root / "sources" / f"{view.name}.parquet"
        return _resolve(self.base, view.source)

    def refresh_sources(self) -> dict[str, int]:
        """Check every view's source (columns, timestamps) and snapshot database ones unless Feast reads them in
        place (``self.postgres``); rows per view."""
        rows: dict[str, int] = {}
        for view in self.spec.views:
            if is_database_url(view.source):
                url = view.source
                if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
                    url = "sqlite:///" + str(_resolve(self.base, url[len("sqlite:///"):]))
                if view.table is None and view.query is None:
                    raise FeatureStoreError(f"features.views.{view.name}: a database source needs 'table' or 'query'")
                name = redact_url(view.source)
                if self.postgres is not None:
                    # read where it lies: a row to check the columns by, and the count
                    sample = read_table(url, query=f"SELECT * FROM {self._relation(view)} LIMIT 1")
                    _check_source(sample, view, self.view_keys(view), name)
                    count = read_table(url, query=f"SELECT count(*) AS n FROM {self._relation(view)}")
                    rows[view.name] = int(count["n"].iloc[0])
                    continue
                df = read_table(url, table=view.table, query=view.query)
            else:
                path = self.source_path(view)
                if view.table is not None or view.query is not None:
                    raise FeatureStoreError(f"features.views.{view.name}: 'table' and 'query' are for database URLs, "
                                            f"and {view.source!r} is a file")
                if path.suffix.lower() not in (".parquet", ".pq"):
                    raise FeatureStoreError(f"features.views.{view.name}: {path} is not a Parquet file",
                                            hint="write the feature history as Parquet, or name a database table")
                df = read_table(path)
                name = str(path)
            _check_source(df, view, self.view_keys(view), name)
            if is_database_url(view.source):
                df = df.copy()
                df[view.timestamp_field] = pd.to_datetime(df[view.timestamp_field], utc=True)
                target = self.source_path(view)
                target.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_bytes(target, _parquet_bytes(df))
            rows[view.name] = len(df)
        return rows

    def _earliest(self, view: FeatureViewSpec) -> datetime:
        """One second before ``view``'s oldest value (Feast's window is (start, end]); now when it has none."""
        if self.postgres is not None:
            ts = f'"{view.timestamp_field}"'
            col = read_table(self.postgres, query=f"SELECT min({ts}) AS t FROM {self._relation(view)}")["t"]
        else:
            import pyarrow.parquet as pq

            col = pq.read_table(self.source_path(view), columns=[view.timestamp_field]).column(0).to_pandas()
        col = pd.to_datetime(col, utc=True)
        if col.empty or col.isna().all():
            return datetime.now(timezone.utc)
        return col.min().to_pydatetime() - timedelta(seconds=1)

    # -- apply, materialize -------------------------------------------------------------------------
    def objects(self) -> list[Any]:
        """The Feast entities and feature views of the spec."""
        from feast import Entity, FeatureView, Field, FileSource

        entities = {}
        for e in self.spec.entities:
            entities[e.name] = Entity(name=e.name, join_keys=list(e.join_keys),
                                      value_type=_value_type(next(iter(e.join_keys.values()))))
        key_types = {k: t for e in self.spec.entities for k, t in e.join_keys.items()}
        out: list[Any] = list(entities.values())
        for v in self.spec.views:
            schema = [Field(name=k, dtype=_feast_type(key_types[k])) for k in self.view_keys(v)]
            schema += [Field(name=f, dtype=_feast_type(t)) for f, t in v.features.items()]
            source: Any
            if self.postgres is not None:
                from feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source import (
                    PostgreSQLSource,
                )

                source = PostgreSQLSource(name=f"{v.name}_source", table=v.table, query=v.query,
                                          timestamp_field=v.timestamp_field)
            else:
                source = FileSource(name=f"{v.name}_source", path=str(self.source_path(v)),
                                    timestamp_field=v.timestamp_field)
            ttl = timedelta(seconds=v.ttl_seconds) if v.ttl_seconds else timedelta(0)
            out.append(FeatureView(name=v.name, entities=[entities[n] for n in v.entities], ttl=ttl, schema=schema,
                                   source=source, online=True))
        return out

    def apply(self) -> dict[str, int]:
        """Write ``feature_store.yaml`` and register the spec's entities and views; rows per view's source."""
        if not self.spec.views:
            raise FeatureStoreError("the spec has no features.views to apply",
                                    hint="add features.entities and features.views to tabloop.yaml")
        rows = self.refresh_sources()
        self.write_config()
        objects = self.objects()
        names = {o.name for o in objects}
        with feast_quiet():
            try:
                store = self.store
                # views and entities the spec no longer names leave the registry too
                stale: list[Any] = [fv for fv in store.list_feature_views() if fv.name not in names]
                stale += [e for e in store.list_entities() if e.name not in names]
                store.apply(objects, objects_to_delete=stale, partial=False)
            except FeatureStoreError:
                raise
            except Exception as exc:
                raise FeatureStoreError(f"Feast could not apply the features in {self.root}: {exc}") from exc
        return rows

    def _registered(self) -> None:
        try:
            known = {fv.name for fv in self.store.list_feature_views()}
        except Exception as exc:
            raise FeatureStoreError(f"the feature store in {self.root} cannot be read: {exc}",
                                    hint="run 'tabloop features apply'") from exc
        missing = sorted(set(self.views) - known)
        if missing:
            raise FeatureStoreError(f"the feature views {missing} are not applied in {self.root}",
                                    hint="run 'tabloop features apply' after changing features: in tabloop.yaml")

    def materialize(self, end: datetime | None = None) -> dict[str, dict[str, str]]:
        """Load the online store with each view's newest values up to ``end`` (default now), from where the last
        run into this online store stopped (first run: ``end - ttl``, or the view's whole history without a ttl).
        The spec is applied first, so a changed spec or a new online store needs no separate ``apply``.

        Where each run stopped is kept per online store in ``materialized.json``, not taken from Feast's
        registry: the registry has one end per view, and a project that moves from SQLite to Redis would
        otherwise load nothing older than its last SQLite run into Redis. Beside it, one entity each run
        loaded (its probe): when the store no longer holds it (a Redis restarted without persistence, flushed,
        or another server at the same URL), the view is loaded again as on a first run, where it would
        otherwise have been "up to date" with nothing in the store.
        """
        end = _utc(end or datetime.now(timezone.utc))
        # applied first (it is idempotent): the spec may have changed, and a new online store needs its tables
        self.apply()
        state_path = self.root / "materialized.json"
        state = json.loads(state_path.read_text()) if state_path.exists() else {}
        ends: dict[str, str] = state.setdefault(self.online_name, {})
        probes: dict[str, dict[str, Any]] = state.setdefault(PROBES, {}).setdefault(self.online_name, {})
        done: dict[str, dict[str, str]] = {}
        with feast_quiet():
            for view in self.spec.views:
                lost = view.name in ends and view.name in probes and not self._holds(view, probes[view.name])
                if lost:
                    log.warning("the online store %s no longer holds the %s values materialized up to %s (emptied "
                                "or replaced): loading them again", self.online_name, view.name, ends[view.name])
                if view.name in ends and not lost:
                    start = datetime.fromisoformat(ends[view.name])
                elif view.ttl_seconds:
                    start = end - timedelta(seconds=view.ttl_seconds)
                else:
                    start = self._earliest(view)
                start = _utc(start)
                if start >= end:
                    done[view.name] = {"start": start.isoformat(), "end": end.isoformat(), "skipped": "up to date"}
                    continue
                try:
                    feast_sqlite_codecs()
                    self.store.materialize(start_date=start, end_date=end, feature_views=[view.name])
                except Exception as exc:
                    raise FeatureStoreError(f"materializing {view.name} into {self.online_name} failed: {exc}") from exc
                ends[view.name] = end.isoformat()
                probe = self._newest_entity(view, start, end)
                if probe is not None:
                    probes[view.name] = probe
                atomic_write_text(state_path, json.dumps(state, indent=2, default=str) + "\n")
                done[view.name] = {"start": start.isoformat(), "end": end.isoformat()}
                if lost:
                    done[view.name]["reloaded"] = "the online store had lost the values materialized before"
        return done

    def _newest_entity(self, view: FeatureViewSpec, start: datetime, end: datetime) -> dict[str, Any] | None:
        """The join keys of the newest row in ``(start, end]`` of ``view``'s source (one entity just loaded)."""
        keys = self.view_keys(view)
        ts = view.timestamp_field
        if self.postgres is not None:
            cols = ", ".join(f'"{k}"' for k in keys)
            frame = read_table(self.postgres, query=f'SELECT {cols} FROM {self._relation(view)} WHERE "{ts}" > '
                                                    f"'{start.isoformat()}' AND \"{ts}\" <= '{end.isoformat()}' "
                                                    f'ORDER BY "{ts}" DESC LIMIT 1')
        else:
            import pyarrow.parquet as pq

            frame = pq.read_table(self.source_path(view), columns=[*keys, ts]).to_pandas()
            when = pd.to_datetime(frame[ts], utc=True)
            frame = frame[(when > start) & (when <= end)]
            frame = frame.loc[[pd.to_datetime(frame[ts], utc=True).idxmax()]] if len(frame) else frame
        if not len(frame):
            return None
        row = frame.iloc[0]
        return {k: row[k].item() if hasattr(row[k], "item") else row[k] for k in keys}

    def _holds(self, view: FeatureViewSpec, entity: dict[str, Any]) -> bool:
        """Whether the online store holds a value of ``view`` for ``entity`` (the probe of its last run)."""
        feature = next(iter(view.features))
        try:
            feast_sqlite_codecs()
            response = self.store.get_online_features(features=[f"{view.name}:{feature}"], entity_rows=[entity])
        except Exception as exc:
            raise FeatureStoreError(f"the online store {self.online_name} could not be read: {exc}",
                                    hint="is it up? 'tabloop features materialize' loads it") from exc
        result = response.proto.results[list(response.proto.metadata.feature_names.val).index(feature)]
        # FieldStatus 3 NOT_FOUND, or no timestamp: nothing stored for this entity
        return bool(result.statuses[0] != 3 and result.event_timestamps[0].seconds != 0)

    # -- reading --------------------------------------------------------------------------------------
    def historical(self, entity_df: pd.DataFrame, timestamp: str, *, source: str = "the entity table",
                   refresh: bool = True) -> Joined:
        """``entity_df`` with each used feature joined point in time: for a row at time t, the newest value at or
        before t (and within the view's ttl), never a later one. Rows keep their order; none is dropped.
        ``refresh=False`` skips checking (and snapshotting) the sources and the registry first: for the second
        and later chunks of one batch run, which would otherwise read every source again per chunk."""
        keys = sorted({k for v in self.used() for k in self.view_keys(self.views[v])})
        missing = [c for c in [*keys, timestamp] if c not in entity_df.columns]
        if missing:
            raise DataError(f"{source}: column(s) {missing} are missing; the entity table needs the join keys "
                            f"{keys} and the timestamp {timestamp!r} (features.entity_timestamp)")
        features = self.feature_names()
        clash = sorted(set(features) & set(entity_df.columns))
        if clash:
            raise DataError(f"{source}: column(s) {clash} are also features of the feature store",
                            hint="drop them from the entity table, or from features.use")
        try:
            when = pd.to_datetime(entity_df[timestamp], utc=True)
        except (ValueError, TypeError) as exc:
            raise DataError(f"{source}: column {timestamp!r} (features.entity_timestamp) is not a timestamp: {exc}") from exc
        if when.isna().any():
            row = int(when.isna().to_numpy().nonzero()[0][0])
            raise DataError(f"{source}: column {timestamp!r} is empty in row {row}; every label needs its time")
        for k in keys:
            if entity_df[k].isna().any():
                row = int(entity_df[k].isna().to_numpy().nonzero()[0][0])
                raise DataError(f"{source}: join key {k!r} is empty in row {row}")
        query = entity_df[keys].reset_index(drop=True).copy()
        query[EVENT_TS] = when.reset_index(drop=True)
        query[ROW] = range(len(query))
        if refresh:
            self.refresh_sources()
            self._registered()
        with feast_quiet():
            try:
                out = self.store.get_historical_features(entity_df=query, features=self.spec.feature_refs()).to_df()
            except Exception as exc:
                raise FeatureStoreError(f"the point-in-time join of {source} failed: {exc}") from exc
        out = out.set_index(ROW).reindex(range(len(query)))
        frame = entity_df.reset_index(drop=True).copy()
        for name in features:
            frame[name] = out[name].to_numpy()
        return Joined(frame, features, int(frame[features].isna().any(axis=1).sum()))


def _resolve(base: Path, path: str) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else base / p


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)


def _parquet_bytes(df: pd.DataFrame) -> bytes:
    import io

    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def _check_source(df: pd.DataFrame, view: FeatureViewSpec, keys: list[str], name: str) -> None:
    where = f"features.views.{view.name} ({name})"
    missing = [c for c in [*keys, view.timestamp_field, *view.features] if c not in df.columns]
    if missing:
        raise FeatureStoreError(f"{where}: column(s) {missing} are missing (columns: {list(df.columns)})",
                                hint="name the source's columns in features.views, or add them to the source")
    ts = df[view.timestamp_field]
    if not pd.api.types.is_datetime64_any_dtype(ts):
        try:
            pd.to_datetime(ts, utc=True)
        except (ValueError, TypeError) as exc:
            raise FeatureStoreError(f"{where}: column {view.timestamp_field!r} is not a timestamp: {exc}") from exc


_TYPES = {"float64": "Float64", "float32": "Float32", "int64": "Int64", "int32": "Int32", "string": "String",
          "bool": "Bool"}


def _feast_type(name: str) -> Any:
    import feast.types

    return getattr(feast.types, _TYPES[name])


def _value_type(name: str) -> Any:
    from feast.value_type import ValueType

    return getattr(ValueType, {"float64": "DOUBLE", "float32": "FLOAT", "int64": "INT64", "int32": "INT32",
                               "string": "STRING", "bool": "BOOL"}[name])
