"""Hidden check: get_in returns the default for a missing key (and raises it only with
no_default=True), for dicts and nested paths, as its docstring says."""

import os
from pathlib import Path

import pytest
import toolz
from toolz import get_in
from toolz.curried import get_in as curried_get_in


def test_the_checkout_is_under_test() -> None:
    assert Path(toolz.__file__).resolve().is_relative_to(Path(os.environ["REPO_ROOT"]).resolve())


EVENT = {"detail": {"eventName": "ConsoleLogin", "userIdentity": {"type": "IAMUser"}}}


def test_missing_key_gives_the_default() -> None:
    assert get_in(["detail", "requestParameters", "bucketName"], EVENT) is None
    assert get_in(["detail", "requestParameters", "bucketName"], EVENT, "-") == "-"
    assert get_in(["nope"], {}) is None


def test_present_keys_and_indexes() -> None:
    assert get_in(["detail", "userIdentity", "type"], EVENT) == "IAMUser"
    assert get_in(["a", 1], {"a": [10, 20]}) == 20
    assert get_in(["a", 5], {"a": [10, 20]}, 0) == 0
    assert get_in(["a", "b"], {"a": None}, "d") == "d"


def test_no_default_raises_key_error() -> None:
    with pytest.raises(KeyError):
        get_in(["detail", "requestParameters"], EVENT, no_default=True)


def test_curried() -> None:
    assert curried_get_in(["x", "y"])({"x": {}}) is None
