"""Hidden check: build metadata with hyphens ("+git-3f9c2e1", as SemVer 2.0.0 allows) parses
again, and invalid build metadata is still refused."""

import os
from pathlib import Path

import pytest
import semver
from semver import Version


def test_the_checkout_is_under_test() -> None:
    assert Path(semver.__file__).resolve().is_relative_to(Path(os.environ["REPO_ROOT"]).resolve())


@pytest.mark.parametrize(
    ("text", "prerelease", "build"),
    [
        ("2.7.3+git-9b1d04e", None, "git-9b1d04e"),
        ("2.8.0-rc.1+git-3f9c2e1", "rc.1", "git-3f9c2e1"),
        ("1.0.0+exp.sha-5114f85", None, "exp.sha-5114f85"),
        ("1.0.0+-", None, "-"),
        ("1.0.0-alpha+001", "alpha", "001"),
    ],
)
def test_build_metadata_with_hyphens(text: str, prerelease: str | None, build: str) -> None:
    version = Version.parse(text)
    assert (version.prerelease, version.build) == (prerelease, build)
    assert str(version) == text


def test_build_metadata_with_hyphens_in_the_short_form() -> None:
    version = Version.parse("2.8+git-3f9c2e1", optional_minor_and_patch=True)
    assert (version.minor, version.patch, version.build) == (8, 0, "git-3f9c2e1")


def test_comparisons_ignore_build_metadata() -> None:
    assert Version.parse("2.8.0+git-3f9c2e1") > Version.parse("2.7.3+git-9b1d04e")
    assert Version.parse("1.0.0+git-a").compare("1.0.0+git-b") == 0


@pytest.mark.parametrize("text", ["1.0.0+", "1.0.0+a..b", "1.0.0+a_b", "1.0.0+git-3f9c2e1+x"])
def test_invalid_build_metadata_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not valid SemVer string"):
        Version.parse(text)
