"""Hidden check: divide(n, items) returns n parts holding every item once, in order, the first
len(items) % n parts one item longer."""

import os
from pathlib import Path

import more_itertools
import pytest
from more_itertools import divide


def test_the_checkout_is_under_test() -> None:
    assert (
        Path(more_itertools.__file__)
        .resolve()
        .is_relative_to(Path(os.environ["REPO_ROOT"]).resolve())
    )


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7])
@pytest.mark.parametrize("size", [0, 1, 5, 1000, 1021, 1022, 1023])
def test_every_item_once_in_order(n: int, size: int) -> None:
    items = list(range(size))
    parts = [list(p) for p in divide(n, items)]
    assert len(parts) == n
    assert [x for p in parts for x in p] == items
    q, r = divmod(size, n)
    assert [len(p) for p in parts] == [q + 1] * r + [q] * (n - r)


def test_iterators_and_strings() -> None:
    assert [list(p) for p in divide(3, iter(range(7)))] == [[0, 1, 2], [3, 4], [5, 6]]
    assert ["".join(p) for p in divide(2, "abcde")] == ["abc", "de"]


def test_n_must_be_positive() -> None:
    with pytest.raises(ValueError):
        divide(0, [1, 2, 3])
