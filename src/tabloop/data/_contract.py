"""The data contract: what a valid row looks like, and the one gatekeeper that checks it."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from collections.abc import Mapping, Sequence
from typing import Any, Generic, Literal, NamedTuple, TypeVar

import numpy as np
import pandas as pd

from tabloop.data._categories import UNKNOWN_CATEGORY, category_label
from tabloop.data._read import TEXT_SOURCE, first_data_line
from tabloop.data._rows import RAGGED_MESSAGE, ragged_keys
from tabloop.errors import ContractViolation, DataError, Violation
from tabloop.spec import CONTRACT_POLICIES, FAR_RANGE_FACTOR, ContractSpec
from tabloop.workspace import atomic_write_json

Kind = Literal["numeric", "categorical"]
#: 2: the contract holds its policies (version 1 contracts are read with the default ones)
CONTRACT_VERSION = 2
log = logging.getLogger("tabloop.data")
#: the policy of each rule when neither the spec nor the contract says otherwise (ContractSpec's defaults)
DEFAULT_POLICIES: dict[str, str] = ContractSpec().policies()


@dataclass
class ContractPolicy:
    """What the check does with each rule that has a policy (``CONTRACT_POLICIES``), per column.

    ``defaults`` holds one policy per rule; ``columns`` overrides some of them for a column;
    ``far_range_factor`` is the k of ``far_range`` (see ``far_bounds``).
    """

    defaults: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_POLICIES))
    columns: dict[str, dict[str, str]] = field(default_factory=dict)
    far_range_factor: float = FAR_RANGE_FACTOR

    def __post_init__(self) -> None:
        self.defaults = {**DEFAULT_POLICIES, **self.defaults}
        for rule, policy in self.defaults.items():
            _allowed(rule, policy, f"contract.{rule}")
        for column, rules in self.columns.items():
            for rule, policy in rules.items():
                _allowed(rule, policy, f"contract.columns.{column}.{rule}")
        factor = self.far_range_factor
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not factor > 0 or not math.isfinite(factor):
            raise DataError(f"contract.far_range_factor must be a positive number, got {factor!r}")

    @classmethod
    def from_spec(cls, spec: ContractSpec) -> ContractPolicy:
        return cls(defaults=spec.policies(), columns={c: dict(r) for c, r in spec.columns.items()},
                   far_range_factor=float(spec.far_range_factor))

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> ContractPolicy:
        return cls(defaults=dict(payload.get("defaults", {})),
                   columns={str(c): dict(r) for c, r in dict(payload.get("columns", {})).items()},
                   far_range_factor=payload.get("far_range_factor", FAR_RANGE_FACTOR))

    def of(self, column: str) -> dict[str, str]:
        """Rule -> policy for ``column``."""
        over = self.columns.get(column)
        return {**self.defaults, **over} if over else self.defaults


def _allowed(rule: str, policy: Any, where: str) -> None:
    if rule not in CONTRACT_POLICIES:
        raise DataError(f"{where}: unknown rule; rules with a policy: {', '.join(CONTRACT_POLICIES)}")
    if policy not in CONTRACT_POLICIES[rule]:
        raise DataError(f"{where}: {policy!r} is not a policy for {rule}; use one of {', '.join(CONTRACT_POLICIES[rule])}")


class Mark(NamedTuple):
    """A rule a row broke that its policy let through: the row was answered, and says so."""

    column: str
    rule: str
    policy: str

    def to_dict(self) -> dict[str, str]:
        return {"column": self.column, "rule": self.rule, "policy": self.policy}

    def __str__(self) -> str:
        return f"{self.column}:{self.rule}:{self.policy}"


#: row (its position, from 0) -> the marks of that row; rows within the contract are absent
Marks = dict[int, list[Mark]]
T = TypeVar("T")


@dataclass
class Screened(Generic[T]):
    """What the check passed: the values (cleaned: clipped, unknown categories mapped) and the marks per row."""

    values: T
    marks: Marks = field(default_factory=dict)


def _mark(marks: Marks, mask: np.ndarray, column: str, rule: str, policy: str) -> None:
    m = Mark(column, rule, policy)
    for i in np.flatnonzero(mask).tolist():
        marks.setdefault(i, []).append(m)


def far_bounds(col: ColumnContract, factor: float) -> tuple[float, float]:
    """Where ``far_range`` starts for a numeric column: k trained spans beyond [min, max].

    The span is max - min; a constant column has none, so there it is max(|min|, 1):
    a column always 5 is far from 5 at 0 and 10, a column always 0 at -1 and 1.
    """
    lo, hi = float(col.min), float(col.max)  # type: ignore[arg-type]
    span = hi - lo
    if not span > 0:
        span = max(abs(lo), 1.0)
    return lo - factor * span, hi + factor * span


@dataclass
class ColumnContract:
    name: str
    kind: Kind
    nullable: bool
    integer: bool = False
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = None

    def describe(self) -> str:
        if self.kind == "numeric":
            return f"number in [{self.min}, {self.max}] when trained"
        return f"one of {self.categories}"


@dataclass
class Contract:
    """Feature columns in order; ``ignored`` columns may be sent and are dropped."""

    columns: list[ColumnContract]
    target: str | None = None
    ignored: list[str] = field(default_factory=list)
    policy: ContractPolicy = field(default_factory=ContractPolicy)
    version: int = CONTRACT_VERSION

    @property
    def feature_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> ColumnContract:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def numeric(self) -> list[str]:
        return [c.name for c in self.columns if c.kind == "numeric"]

    @property
    def categorical(self) -> list[str]:
        return [c.name for c in self.columns if c.kind == "categorical"]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_policy(self, policy: ContractPolicy) -> Contract:
        """This contract acting by ``policy``; a column override must name a feature column."""
        unknown = sorted(set(policy.columns) - set(self.feature_names))
        if unknown:
            raise DataError(
                f"contract.columns names {unknown}, which are not feature columns of the contract "
                f"(features: {self.feature_names})",
                hint="fix the column names under contract.columns in tabloop.yaml",
            )
        return replace(self, policy=policy)

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> Contract:
        version = payload.get("version")
        if version not in (1, CONTRACT_VERSION):
            raise DataError(f"contract format version {version!r} is not supported")
        cols = [ColumnContract(**c) for c in payload["columns"]]
        # version 1 held no policies: such a contract acts by the default ones
        policy = ContractPolicy.from_dict(payload.get("policy") or {}) if version >= 2 else ContractPolicy()
        return cls(columns=cols, target=payload.get("target"), ignored=list(payload.get("ignored", [])), policy=policy)

    def save(self, path: str | Path) -> Path:
        return atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> Contract:
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except DataError as exc:
            raise DataError(f"{path}: {exc.message}") from exc
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{path}: not a readable contract: {exc}") from exc


def is_categorical_dtype(series: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype)


def infer_contract(
    df: pd.DataFrame,
    *,
    target: str | None = None,
    ignored: list[str] | tuple[str, ...] = (),
    types: Mapping[str, str] | None = None,
    semantic: Mapping[str, str] | None = None,
    levels: Mapping[str, tuple[np.ndarray, Any]] | None = None,
) -> Contract:
    """Learn the contract from training data: types, nullability, ranges, categories.

    Each column's semantic type (``tabloop.data.resolve_types``: ``types``, the spec's
    ``data.types``, where given, else inferred) decides its place: numeric columns become number
    columns, categorical ones category columns, boolean ones stay as stored (0/1 numbers, or
    true/false and yes/no categories); datetime, free-text and identifier columns are left out
    of the features, listed as ignored (they may still be sent), each said in a warning. ``semantic``:
    ``resolve_types(df, types)`` when the caller has it already (``tabloop profile`` resolves them once for the
    profile and the contract); ``levels``: ``tabloop.data._types.text_levels(df)``, likewise.
    """
    from tabloop.data._types import apply_types, excluded_by_type, resolve_types, type_findings

    missing = [c for c in [target, *ignored] if c is not None and c not in df.columns]
    if missing:
        raise DataError(f"columns {missing} named in the spec are not in the data (columns: {list(df.columns)})")
    resolved = dict(semantic) if semantic is not None else resolve_types(df, types)
    df = apply_types(df, resolved)
    empty = empty_columns(df, target=target, ignored=ignored)
    for name in empty:
        log.warning("%s", empty_column_warning(name, len(df)))
    by_type = [c for c in excluded_by_type(resolved, target=target, ignored=ignored) if c not in empty]
    for finding in type_findings(df, {c: resolved[c] for c in by_type}, overrides=types or {}):
        log.warning("%s", finding)
    cols: list[ColumnContract] = []
    for name in df.columns:
        if name == target or name in ignored or name in empty or name in by_type:
            continue
        s = df[name]
        if resolved[str(name)] == "categorical" or is_categorical_dtype(s):
            # one pass over the cells: the distinct values, gaps among them (finding the gaps of a million cells of
            # text, then dropping them, cost three times the unique)
            level = (levels or {}).get(str(name)) if s.dtype == object else None
            if level is not None:
                nullable, present = bool((level[0] < 0).any()), level[1]
            else:
                distinct = pd.Series(s.unique())
                gaps = distinct.isna().to_numpy()
                nullable, present = bool(gaps.any()), distinct[~gaps]
            cats = sorted({category_label(v) for v in present})  # labelled once per value, not per cell
            cols.append(ColumnContract(name=str(name), kind="categorical", nullable=nullable, categories=cats))
        else:
            nullable = bool(s.isna().any())
            values = s.dropna().to_numpy(dtype="float64")
            finite = values[np.isfinite(values)]
            lo = float(finite.min()) if finite.size else None
            hi = float(finite.max()) if finite.size else None
            integer = bool(pd.api.types.is_integer_dtype(s.dtype))
            cols.append(ColumnContract(name=str(name), kind="numeric", nullable=nullable, integer=integer, min=lo, max=hi))
    if not cols:
        raise DataError("no feature columns are left after removing the target and ignored columns"
                        + (f" and the columns without any value {empty}" if empty else "")
                        + (f" and the columns typed datetime, text or identifier {by_type}" if by_type else ""),
                        hint="set data.types in tabloop.yaml to keep a column as a feature" if by_type else None)
    # an empty column may still be sent (the next export of the same table has it) and is dropped
    return Contract(columns=cols, target=target, ignored=[c for c in ignored if c != target] + empty + by_type)


def empty_columns(
    df: pd.DataFrame, *, target: str | None = None, ignored: Sequence[str] = ()
) -> list[str]:
    """Feature columns with no value at all: nothing to learn from, so the contract leaves them out.

    scikit-learn's ``SimpleImputer`` drops such columns too; here it happens once, said
    aloud, and the contract does not require a column the model never used.
    """
    return [str(name) for name in df.columns
            if name != target and name not in ignored and len(df) and not _has_value(df[name])]


def _has_value(s: pd.Series) -> bool:
    # the first rows nearly always settle it: looking for a value in every cell of text costs a pass
    return bool(s.iloc[:1000].notna().any()) or bool(s.notna().any())


def empty_column_warning(name: str, rows: int) -> str:
    return (f"column {name!r} has no values (all {rows} cells are empty): it is left out of the features "
            "and the contract does not require it; fill it or drop it from the data")


def check_frame(
    df: pd.DataFrame,
    contract: Contract,
    *,
    source: str = "input",
    max_violations: int = 100,
    allow_target: bool = True,
    text: bool | None = None,
) -> pd.DataFrame:
    """The feature columns ``screen_frame`` passes, without the marks of the rows it let through."""
    return screen_frame(df, contract, source=source, max_violations=max_violations, allow_target=allow_target,
                        text=text).values


#: rules about a whole column: no row can be left out to satisfy them
COLUMN_RULES = frozenset({"missing_column", "unexpected_column", "empty"})


def rows_to_reject(exc: ContractViolation, source: str) -> list[int]:
    """The positions of the rows that broke the contract in ``exc`` (``screen_frame``'s), to leave out while
    the others go on; raises when a violation concerns a whole column, which leaving rows out cannot mend."""
    by_row = [v for v in exc.violations if v.row is not None]
    fatal = [v for v in exc.violations if v.row is None and (v.rule in COLUMN_RULES
             or not any(w.column == v.column for w in by_row))]
    if fatal:  # a summary line ("N values in all...") beside its own rows is not fatal: those rows are left out
        raise ContractViolation(fatal, source=source)
    return sorted({int(v.row) for v in by_row if v.row is not None})


def screen_frame(
    df: pd.DataFrame,
    contract: Contract,
    *,
    source: str = "input",
    max_violations: int = 100,
    allow_target: bool = True,
    text: bool | None = None,
) -> Screened[pd.DataFrame]:
    """The feature columns in contract order with canonical dtypes and the marks per row, or raise.

    Every violation found (up to ``max_violations``) is reported at once, each with
    its column, row and rule: ``empty``, ``missing_column``, ``unexpected_column``,
    ``type``, ``not_finite``, ``not_null``, ``range``, ``far_range``, ``unseen_category``.
    The last four act by the contract's policy (``ContractPolicy``): ``reject`` is a
    violation; ``warn``, ``clip`` and ``unknown`` let the row through, cleaned (a clipped
    number, ``UNKNOWN_CATEGORY``), and mark it (``Screened.marks``). A row is the position
    in ``df`` counted from 0 (the ``row`` of batch predictions and of feedback labels);
    for a table ``read_table`` read from a CSV file the message also gives the file line.

    ``text`` says the cells were text (a CSV): in a number column that pandas left as
    text because some cells are not numbers, each cell is parsed on its own and only
    the cells that are not numbers are reported. JSON values are not text: there a
    string where a number belongs is a ``type`` error. ``None``: as ``read_table``
    marked the frame.
    """
    meta = df.attrs.get(TEXT_SOURCE)
    if text is None:
        text = meta is not None
    found: list[Violation] = []
    marks: Marks = {}
    policy = contract.policy
    if len(df) == 0:
        raise ContractViolation([Violation(None, "empty", "no rows to check")], source=source)
    allowed = set(contract.feature_names) | set(contract.ignored)
    if allow_target and contract.target:
        allowed.add(contract.target)
    for name in df.columns:
        if name not in allowed:
            found.append(Violation(str(name), "unexpected_column", "column is not in the contract"))
    out: dict[str, Any] = {}
    for col in contract.columns:
        if col.name not in df.columns:
            found.append(Violation(col.name, "missing_column", f"column is required ({col.describe()})"))
            continue
        s = df[col.name]
        rules = policy.of(col.name)
        if col.kind == "numeric":
            values, errs = _check_numeric(s, col, rules, policy.far_range_factor, marks, text=text)
        else:
            values, errs = _check_categorical_objects(s.to_numpy(dtype=object), col, rules, marks)
        found.extend(errs)
        # object dtype, not pandas' string dtype, so encoders and ONNX see plain str/NaN
        out[col.name] = pd.Series(values, index=df.index, dtype=object if col.kind == "categorical" else "float64")
        if len(found) >= max_violations:
            break
    if found:
        raise ContractViolation(_with_file_lines(found[:max_violations], df, meta), source=source)
    return Screened(pd.DataFrame(out, index=df.index), _in_order(marks))


def _in_order(marks: Marks) -> Marks:
    """Rows in ascending order, each row's marks in contract order (as the columns were checked)."""
    return {i: marks[i] for i in sorted(marks)} if marks else marks


def _with_file_lines(found: list[Violation], df: pd.DataFrame, meta: Any) -> list[Violation]:
    """Add the CSV file's line to each row's message, while ``df`` still holds the rows as read."""
    index = df.index
    as_read = (isinstance(meta, dict) and "path" in meta and len(df) == meta.get("rows")
               and isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1)
    first = first_data_line(Path(meta["path"]), len(df), meta["suffix"]) if as_read else None
    if first is None:
        return found
    return [v if v.row is None else replace(v, message=f"{v.message} (line {v.row + first} of the file)")
            for v in found]


def check_records(
    rows: Sequence[Mapping[str, Any]],
    contract: Contract,
    *,
    source: str = "input",
    max_violations: int = 100,
    allow_target: bool = True,
    text: bool = False,
) -> dict[str, np.ndarray]:
    """The arrays ``screen_records`` passes, without the marks of the rows it let through."""
    return screen_records(rows, contract, source=source, max_violations=max_violations, allow_target=allow_target,
                          text=text).values


def screen_records(
    rows: Sequence[Mapping[str, Any]],
    contract: Contract,
    *,
    source: str = "input",
    max_violations: int = 100,
    allow_target: bool = True,
    text: bool = False,
) -> Screened[dict[str, np.ndarray]]:
    """Check row objects (as JSON gives them) without pandas; one array per feature, in contract order.

    Numeric columns come back as float64 (NaN for gaps), categorical ones as object arrays
    of canonical strings (NaN for gaps), the values ``check_frame`` would give. The rules,
    the violations and their messages are those of
    ``check_frame(pd.DataFrame.from_records(rows), contract)``, with one addition: a key
    that some rows send and others leave out is a ``missing_column`` on each row that
    leaves it out, where pandas would silently fill a gap. ``text``: the values were
    read from text (a CSV body), as in ``check_frame``.
    """
    n = len(rows)
    marks: Marks = {}
    policy = contract.policy
    names, ragged = ragged_keys(rows)
    if not names:  # pandas makes no rows out of rows without keys
        raise ContractViolation([Violation(None, "empty", "no rows to check")], source=source)
    found: list[Violation] = []
    gaps: set[tuple[str, int]] = set()
    features = set(contract.feature_names)
    for name in names:
        if name in features:
            for i in ragged.get(name, ()):
                found.append(Violation(name, "missing_column", RAGGED_MESSAGE, row=i))
                gaps.add((name, i))
    found = found[:max_violations]
    allowed = features | set(contract.ignored)
    if allow_target and contract.target:
        allowed.add(contract.target)
    present = set(names)
    checked: list[Violation] = []
    for name in names:
        if name not in allowed:
            checked.append(Violation(str(name), "unexpected_column", "column is not in the contract"))
    out: dict[str, np.ndarray] = {}
    for col in contract.columns:
        if col.name not in present:
            checked.append(Violation(col.name, "missing_column", f"column is required ({col.describe()})"))
            continue
        raw = np.empty(n, dtype=object)
        for i, r in enumerate(rows):
            raw[i] = r.get(col.name)
        rules = policy.of(col.name)
        if col.kind == "numeric":
            if all(isinstance(v, (bool, np.bool_)) for v in raw):  # pandas makes such a column bool
                values, errs = raw, [Violation(col.name, "type", "expected a number, got booleans")]
            else:
                values, errs = _check_numeric_objects(parse_text_numbers(raw) if text else raw, col, rules,
                                                      policy.far_range_factor, marks)
        else:
            values, errs = _check_categorical_objects(raw, col, rules, marks)
        checked.extend(errs)
        out[col.name] = values
        if len(checked) >= max_violations:
            break
    if gaps:
        checked = [v for v in checked if (v.column, v.row) not in gaps]
    found.extend(checked)
    if found:
        raise ContractViolation(found[:max_violations], source=source)
    return Screened(out, _in_order(marks))


def _positions(mask: np.ndarray) -> list[int]:
    return [int(i) for i in np.flatnonzero(mask)[:20]]


def _check_numeric(
    s: pd.Series, col: ColumnContract, rules: Mapping[str, str], factor: float, marks: Marks, *, text: bool = False
) -> tuple[np.ndarray, list[Violation]]:
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.to_numpy(), [Violation(col.name, "type", "expected a number, got booleans")]
    if pd.api.types.is_numeric_dtype(s.dtype):
        return _finish_numeric(s.to_numpy(dtype="float64", na_value=np.nan), col, [], rules, factor, marks)
    raw = s.to_numpy(dtype=object)
    return _check_numeric_objects(parse_text_numbers(raw) if text else raw, col, rules, factor, marks)


def parse_text_numbers(raw: np.ndarray) -> np.ndarray:
    """Text cells that read as numbers become floats; the others stay as they are, to be reported.

    The rule for a number column of a table read from text (a CSV file or body): each cell
    is parsed on its own, so one bad cell is reported alone, not the column.
    """
    is_text = np.fromiter((isinstance(v, str) for v in raw), dtype=bool, count=len(raw))
    if not is_text.any():
        return raw
    parsed = pd.to_numeric(pd.Series(raw[is_text], dtype=object).str.strip(), errors="coerce").to_numpy(dtype="float64")
    out = raw.copy()
    ok = ~np.isnan(parsed)
    out[np.flatnonzero(is_text)[ok]] = parsed[ok]
    return out


#: ``type`` violations spelled out per column; the count of the rest follows in one more
MAX_TYPE_ERRORS = 20


def _check_numeric_objects(
    raw: np.ndarray, col: ColumnContract, rules: Mapping[str, str], factor: float, marks: Marks
) -> tuple[np.ndarray, list[Violation]]:
    """Numbers from Python objects (JSON values): gaps become NaN, anything else is a ``type`` error."""
    errs: list[Violation] = []
    not_numbers: list[int] = []
    values = np.full(len(raw), np.nan)
    lo = -math.inf if col.min is None else col.min
    hi = math.inf if col.max is None else col.max
    inside = True  # every number within the trained range: the range rules have nothing to look at
    for i, v in enumerate(raw):
        if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
            continue
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
            not_numbers.append(i)
            if len(errs) < MAX_TYPE_ERRORS:
                errs.append(Violation(col.name, "type", f"expected a number, got {v!r}", row=i, value=v))
            continue
        try:
            x = values[i] = float(v)
        except OverflowError:  # an integer beyond float range, e.g. 10**400
            x = values[i] = math.inf if v > 0 else -math.inf
        if inside and not lo <= x <= hi:
            inside = False
    if len(not_numbers) > len(errs):
        errs.append(Violation(col.name, "type",
                              f"{len(not_numbers)} values in all are not numbers; the first {len(errs)} are listed"))
    return _finish_numeric(values, col, errs, rules, factor, marks, not_numbers, ranged=not inside)


def _finish_numeric(
    values: np.ndarray, col: ColumnContract, errs: list[Violation], rules: Mapping[str, str], factor: float,
    marks: Marks, not_numbers: Sequence[int] = (), *, ranged: bool = True,
) -> tuple[np.ndarray, list[Violation]]:
    """The rules on numbers; ``ranged`` False: the caller saw every number within the trained range."""
    nan = np.isnan(values)
    inf = np.isinf(values)
    for i in _positions(inf):
        errs.append(Violation(col.name, "not_finite", "infinite values are not allowed", row=i, value=values[i]))
    if not col.nullable:
        nan[list(not_numbers)] = False  # a value that is not a number is a type error, not also a gap
        if rules["not_null"] == "reject":
            for i in _positions(nan):
                errs.append(Violation(col.name, "not_null", "value is missing; this column had no gaps in training", row=i))
        elif nan.any():
            _mark(marks, nan, col.name, "not_null", rules["not_null"])
    if ranged and col.min is not None and col.max is not None:
        values = _range_rules(values, col, errs, rules, factor, marks)
    return values, errs


def _range_rules(
    values: np.ndarray, col: ColumnContract, errs: list[Violation], rules: Mapping[str, str], factor: float,
    marks: Marks,
) -> np.ndarray:
    """``range`` and ``far_range`` on the finite numbers (NaN and infinity have rules of their own)."""
    lo, hi = float(col.min), float(col.max)  # type: ignore[arg-type]
    outside = (values < lo) | (values > hi)  # NaN compares False; infinity is not_finite's, left out below
    if not outside.any():  # the common case, kept cheap: it runs per column on every request
        return values
    outside &= np.isfinite(values)
    if not outside.any():
        return values
    flo, fhi = far_bounds(col, factor)
    far = outside & ((values < flo) | (values > fhi))
    near = outside & ~far
    copied = False
    for rule, mask in (("range", near), ("far_range", far)):
        if not mask.any():
            continue
        policy = rules[rule]
        if policy == "reject":
            where = f"[{lo!r}, {hi!r}]" if rule == "range" else f"[{lo!r}, {hi!r}] (beyond [{flo:.6g}, {fhi:.6g}])"
            what = "outside" if rule == "range" else "far outside"
            for i in _positions(mask):
                v = float(values[i])
                errs.append(Violation(col.name, rule, f"{v!r} is {what} the trained range {where}", row=i, value=v))
            continue
        if policy == "clip":
            if not copied:  # the caller's own buffer (a DataFrame column's) is never written
                values, copied = values.copy(), True
            values[mask] = np.clip(values[mask], lo, hi)
        _mark(marks, mask, col.name, rule, policy)
    return values


def _check_categorical_objects(
    raw: np.ndarray, col: ColumnContract, rules: Mapping[str, str], marks: Marks
) -> tuple[np.ndarray, list[Violation]]:
    """Canonical category strings (NaN for gaps) from Python objects, with every broken rule."""
    errs: list[Violation] = []
    allowed = set(col.categories or [])
    values = np.empty(len(raw), dtype=object)
    gap, unseen = rules["not_null"], rules["unseen_category"]
    for i, v in enumerate(raw):
        if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
            values[i] = np.nan
            if col.nullable:
                continue
            if gap != "reject":
                marks.setdefault(i, []).append(Mark(col.name, "not_null", gap))
            elif len(errs) < 40:
                errs.append(Violation(col.name, "not_null", "value is missing; this column had no gaps in training", row=i))
            continue
        if isinstance(v, (dict, list, tuple, set)):
            values[i] = np.nan
            errs.append(Violation(col.name, "type", f"expected a category, got {type(v).__name__}", row=i))
            continue
        cat = category_label(v)
        values[i] = cat
        if cat in allowed:
            continue
        if unseen != "reject":
            marks.setdefault(i, []).append(Mark(col.name, "unseen_category", unseen))
            if unseen == "unknown":
                values[i] = UNKNOWN_CATEGORY
        elif len(errs) < 40:
            shown = sorted(allowed)[:10]
            errs.append(
                Violation(col.name, "unseen_category", f"{cat!r} was never seen in training (known: {shown})", row=i, value=cat)
            )
    return values, errs
