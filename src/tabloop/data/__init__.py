"""Data (layer 7): reading tables, the contract and its one gatekeeper, profiles, splits."""

from typing import TYPE_CHECKING

from tabloop._lazy import exports

# imported on first use (see tabloop._lazy): a command pays only for the libraries it needs
if TYPE_CHECKING:
    from tabloop.data._categories import MISSING_LABEL, MISSING_SENTINEL, UNKNOWN_CATEGORY, category_label, is_missing
    from tabloop.data._contract import (
        ColumnContract,
        Contract,
        ContractPolicy,
        Mark,
        Marks,
        Screened,
        check_frame,
        check_records,
        far_bounds,
        infer_contract,
        is_categorical_dtype,
        parse_text_numbers,
        rows_to_reject,
        screen_frame,
        screen_records,
    )
    from tabloop.data._findings import Finding, rank_findings
    from tabloop.data._leakage import leakage_findings, shift_findings
    from tabloop.data._profile import profile_findings, profile_frame, profile_report
    from tabloop.data._read import (
        CHUNK_BYTES,
        CHUNK_ROWS,
        CSV_NULLS,
        DATAFRAME_SOURCE,
        MALFORMED_ATTR,
        ROWS_ATTR,
        TEXT_SOURCE,
        csv_header,
        frame_fingerprint,
        is_database_url,
        read_chunks,
        read_table,
        redact_url,
        source_name,
        table_suffix,
        text_frame,
    )
    from tabloop.data._rows import RAGGED_MESSAGE, frame_from_records, ragged_keys, same_keys
    from tabloop.data._split import describe_validation, make_folds, split_train_test, validation_scheme
    from tabloop.data._target import class_labels, encode_target, infer_task
    from tabloop.data._types import (
        SEMANTIC_TYPES,
        apply_types,
        check_overrides,
        infer_semantic_types,
        resolve_types,
        text_levels,
        type_findings,
    )

__getattr__, __dir__ = exports(__name__, __file__)

__all__ = [
    "CHUNK_BYTES",
    "CHUNK_ROWS",
    "CSV_NULLS",
    "DATAFRAME_SOURCE",
    "TEXT_SOURCE",
    "MALFORMED_ATTR",
    "ROWS_ATTR",
    "MISSING_LABEL",
    "MISSING_SENTINEL",
    "RAGGED_MESSAGE",
    "SEMANTIC_TYPES",
    "UNKNOWN_CATEGORY",
    "ColumnContract",
    "Finding",
    "Contract",
    "ContractPolicy",
    "Mark",
    "Marks",
    "Screened",
    "check_frame",
    "check_records",
    "apply_types",
    "category_label",
    "check_overrides",
    "class_labels",
    "describe_validation",
    "encode_target",
    "far_bounds",
    "frame_fingerprint",
    "text_frame",
    "table_suffix",
    "read_chunks",
    "csv_header",
    "infer_contract",
    "infer_semantic_types",
    "infer_task",
    "is_categorical_dtype",
    "is_database_url",
    "is_missing",
    "leakage_findings",
    "make_folds",
    "parse_text_numbers",
    "profile_findings",
    "profile_frame",
    "profile_report",
    "frame_from_records",
    "ragged_keys",
    "rank_findings",
    "read_table",
    "redact_url",
    "resolve_types",
    "same_keys",
    "rows_to_reject",
    "screen_frame",
    "screen_records",
    "shift_findings",
    "source_name",
    "split_train_test",
    "text_levels",
    "type_findings",
    "validation_scheme",
]
