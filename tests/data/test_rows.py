"""Row objects' keys (tabloop.data._rows): the one ragged-rows check every row path uses."""

from __future__ import annotations

from tabloop.data import RAGGED_MESSAGE, ragged_keys, same_keys


def test_same_keys_ignores_order_within_a_row() -> None:
    assert same_keys([])
    assert same_keys([{"a": 1, "b": 2}, {"b": 3, "a": 4}])
    assert not same_keys([{"a": 1}, {"a": 1, "b": 2}])


def test_ragged_keys_names_the_rows_that_leave_a_key_out() -> None:
    assert ragged_keys([{"a": 1, "b": 2}, {"b": 3, "a": 4}]) == (["a", "b"], {})
    names, ragged = ragged_keys([{"a": 1}, {"b": 2, "a": 3}, {"c": 4}])
    assert names == ["a", "b", "c"]
    assert ragged == {"a": [2], "b": [0, 2], "c": [0, 1]}
    assert ragged_keys([]) == ([], {})


def test_the_message_says_what_to_send() -> None:
    assert "send null if unknown" in RAGGED_MESSAGE
