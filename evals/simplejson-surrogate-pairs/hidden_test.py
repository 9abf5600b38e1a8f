"""Hidden check: the pure-Python decoder joins an escaped surrogate pair (\\ud83d\\ude00) into
one character, so the text encodes to UTF-8; lone surrogates still pass through."""

import os
from pathlib import Path

import simplejson
from simplejson import decoder


def test_the_checkout_is_under_test() -> None:
    assert (
        Path(simplejson.__file__).resolve().is_relative_to(Path(os.environ["REPO_ROOT"]).resolve())
    )


def test_py_scanstring_joins_pairs() -> None:
    source = '"Great job \\ud83d\\ude00!"'
    text, end = decoder.py_scanstring(source, 1)
    assert text == "Great job \U0001f600!"
    assert end == len(source)


def test_loads_with_the_pure_python_scanner() -> None:
    dec = simplejson.JSONDecoder()
    dec.parse_string = decoder.py_scanstring
    dec.scan_once = simplejson.scanner.py_make_scanner(dec)
    doc = dec.decode('{"text": "ship it \\ud83d\\ude80 \\u00e9t\\u00e9", "n": 1}')
    assert doc == {"text": "ship it \U0001f680 \u00e9t\u00e9", "n": 1}
    assert simplejson.dumps(doc, ensure_ascii=False).encode("utf-8")


def test_loads_round_trip() -> None:
    original = {"text": "\U0001f600 \U0001f44d \u2603"}
    assert simplejson.loads(simplejson.dumps(original)) == original


def test_lone_surrogates_pass_through() -> None:
    assert decoder.py_scanstring('"\\ud83d x"', 1)[0] == "\ud83d x"
    assert decoder.py_scanstring('"\\ude00"', 1)[0] == "\ude00"
