"""Data (layer 2): reading tables, the contract and its one gatekeeper, profiles, splits."""

from typing import TYPE_CHECKING

from tabloop._lazy import exports

# imported on first use (see tabloop._lazy): a command pays only for the libraries it needs
if TYPE_CHECKING:
    from tabloop.data._contract import (
        ColumnContract,
        Contract,
        check_frame,
        check_records,
        infer_contract,
        is_categorical_dtype,
        parse_text_numbers,
    )
    from tabloop.data._profile import profile_frame, profile_report
    from tabloop.data._read import frame_fingerprint, is_database_url, read_table
    from tabloop.data._split import describe_validation, make_folds, split_train_test, validation_scheme
    from tabloop.data._target import class_labels, encode_target, infer_task

__getattr__, __dir__ = exports(__name__, __file__)

__all__ = [
    "ColumnContract",
    "Contract",
    "check_frame",
    "check_records",
    "class_labels",
    "describe_validation",
    "encode_target",
    "frame_fingerprint",
    "infer_contract",
    "infer_task",
    "is_categorical_dtype",
    "is_database_url",
    "make_folds",
    "parse_text_numbers",
    "profile_frame",
    "profile_report",
    "read_table",
    "split_train_test",
    "validation_scheme",
]
