"""fixloop.local.patches: the version pin, and install() applying everything or nothing."""

from __future__ import annotations

import pytest

from fixloop.local import patches
from tests.integration.patches.harness import Moto


def test_moto_version_is_the_pinned_one(monkeypatch: pytest.MonkeyPatch) -> None:
    import moto as moto_package

    patches.assert_moto_version()
    monkeypatch.setattr(moto_package, "__version__", "5.2.6")
    with pytest.raises(RuntimeError, match=r"moto==5\.2\.5"):
        patches.assert_moto_version()


def test_install_is_idempotent_and_fails_loudly(
    moto: Moto, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service,
    )

    patched = LambdaSimpleBackend.invoke
    dispatch = moto.dispatch
    patches.install(dispatch)
    patches.install(dispatch)
    assert LambdaSimpleBackend.invoke is patched  # not wrapped twice

    patches.uninstall()
    try:
        original = LambdaSimpleBackend.invoke
        assert original is not patched
        monkeypatch.delattr(state_task_service.StateTaskService, "_to_boto_request")
        with pytest.raises(RuntimeError, match=r"StateTaskService\._to_boto_request is missing"):
            patches.install(dispatch)
        # nothing was patched: the failure came before any change
        assert LambdaSimpleBackend.invoke is original
        monkeypatch.undo()
    finally:
        patches.install(dispatch)
    assert LambdaSimpleBackend.invoke is patched
