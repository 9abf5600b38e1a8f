"""Hidden check: None cells print as missingval in every column type (numbers included), and
the other cells keep their formatting."""

import os
from pathlib import Path

import tabulate as tabulate_module
from tabulate import tabulate


def test_the_checkout_is_under_test() -> None:
    assert (
        Path(tabulate_module.__file__)
        .resolve()
        .is_relative_to(Path(os.environ["REPO_ROOT"]).resolve())
    )


def test_none_in_a_float_column() -> None:
    rows = [["lambda", 12.5], ["s3", None], ["dynamodb", 3.25]]
    table = tabulate(rows, headers=["service", "cost"], floatfmt=".2f", missingval="n/a")
    lines = table.splitlines()
    assert lines[2].split() == ["lambda", "12.50"]
    assert lines[3].split() == ["s3", "n/a"]
    assert lines[4].split() == ["dynamodb", "3.25"]


def test_none_in_an_int_column_is_missing_not_the_word_none() -> None:
    table = tabulate([["a", 1], ["b", None]], missingval="-")
    assert "None" not in table
    assert table.splitlines()[2].split() == ["b", "-"]


def test_default_missingval_is_empty() -> None:
    table = tabulate([[1.5, None], [None, 2.0]], floatfmt=".1f", tablefmt="plain")
    assert [line.split() for line in table.splitlines()] == [["1.5"], ["2.0"]]


def test_none_in_a_text_column() -> None:
    assert tabulate([["x", None]], missingval="?", tablefmt="plain").split() == ["x", "?"]
