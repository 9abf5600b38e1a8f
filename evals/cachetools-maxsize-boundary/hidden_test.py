"""Hidden check: a cache holds exactly maxsize items (maxsize=1 included) and evicts only when
an insert would go over it."""

import os
from pathlib import Path

import cachetools
import pytest


def test_the_checkout_is_under_test() -> None:
    assert (
        Path(cachetools.__file__).resolve().is_relative_to(Path(os.environ["REPO_ROOT"]).resolve())
    )


@pytest.mark.parametrize(
    "make",
    [
        cachetools.Cache,
        cachetools.LRUCache,
        cachetools.FIFOCache,
        cachetools.LFUCache,
        lambda n: cachetools.TTLCache(n, ttl=300),
    ],
)
@pytest.mark.parametrize("maxsize", [1, 2, 25])
def test_holds_exactly_maxsize(make, maxsize: int) -> None:
    cache = make(maxsize)
    for i in range(maxsize):
        cache[i] = str(i)
    assert len(cache) == maxsize
    assert cache.currsize == maxsize
    cache[maxsize] = "new"
    assert len(cache) == maxsize
    assert maxsize in cache


def test_cached_function_with_a_single_slot() -> None:
    calls: list[str] = []

    @cachetools.cached(cachetools.TTLCache(maxsize=1, ttl=3000))
    def token(partner: str) -> str:
        calls.append(partner)
        return f"token-{partner}"

    assert token("acme") == "token-acme"
    assert token("acme") == "token-acme"
    assert calls == ["acme"]


def test_sized_items_fill_up_to_maxsize() -> None:
    cache = cachetools.LRUCache(maxsize=10, getsizeof=len)
    cache["a"] = "x" * 4
    cache["b"] = "x" * 6
    assert cache.currsize == 10 and len(cache) == 2
    cache["c"] = "x" * 1
    assert "a" not in cache and "b" in cache and "c" in cache
    with pytest.raises(ValueError):
        cache["big"] = "x" * 11
