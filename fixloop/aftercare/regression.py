"""Possible regressions: a new, different error in the files a fix changed, right after the
fix was deployed.

While a fix is in its verification window it is registered with the files it changed
(:func:`remember_fix`, in the Fingerprints table). A new problem (a fingerprint that starts
an investigation) whose application frames are in one of those files is flagged
(:func:`flag_regressions`): the new investigation is told, before its first turn, which fix
it may be a regression of and that it may propose reverting it; the fix's investigation
records it, and its people hear of it.
"""

from __future__ import annotations

from datetime import timedelta

from fixloop.aftercare.rounds import note, tell
from fixloop.config import get_settings
from fixloop.conversation import Announcer, post_message
from fixloop.domain import Investigation, Signal
from fixloop.store import stores
from fixloop.store.fingerprints import DeployedFix
from fixloop.triage import application_frames

__all__ = ["flag_regressions", "forget_fix", "remember_fix", "suspected_fixes"]


def remember_fix(inv: Investigation) -> None:
    """Register the deployed fix of ``inv`` for its verification window."""
    ac = inv.aftercare
    if ac is None or ac.deployed_at is None or not ac.files:
        return
    window = timedelta(seconds=get_settings().verify_window_seconds)
    stores().fingerprints.register_fix(
        DeployedFix(
            investigation_id=inv.investigation_id,
            files=ac.files,
            deployed_at=ac.deployed_at,
            until=max(ac.deployed_at + window, ac.deployed_at + timedelta(minutes=10)),
            pull_request=f"#{ac.pull_request_number} {ac.pull_request_url}",
        )
    )


def forget_fix(investigation_id: str) -> None:
    stores().fingerprints.unregister_fix(investigation_id)


def suspected_fixes(signal: Signal) -> list[tuple[DeployedFix, list[str]]]:
    """The deployed fixes whose changed files hold frames of ``signal``'s errors, with those
    files."""
    text = "\n".join(line.message for line in signal.log_lines)
    frames = {f.file for f in application_frames(text)} if text else set()
    if not frames:
        return []
    found = []
    for fix in stores().fingerprints.deployed_fixes():
        files = [f for f in fix.files if any(_same(frame, f) for frame in frames)]
        if files:
            found.append((fix, files))
    return found


def flag_regressions(
    investigation_id: str, signal: Signal, *, announce: Announcer | None = None
) -> list[str]:
    """Tell the new investigation ``investigation_id`` (and each fix's) when ``signal`` may
    be a regression of a deployed fix; the ids of those fixes' investigations."""
    st = stores()
    flagged = []
    for fix, files in suspected_fixes(signal):
        if fix.investigation_id == investigation_id:
            continue
        post_message(
            investigation_id,
            text=(
                f"This may be a regression of a fix deployed at {fix.deployed_at.isoformat()}: "
                f"pull request {fix.pull_request} (investigation {fix.investigation_id}) "
                f"changed {', '.join(files)}, where these errors are raised. Check the fix "
                "first. If it caused them, you may propose reverting it: revert its change "
                "in the sandbox (git revert --no-commit of its commits), run the tests, and "
                "open a pull request titled 'Revert ...' that says why."
            ),
            author="fixloop",
            channel="signal",
            delivery_id=f"regression-{fix.investigation_id}",
            wake=False,
        )
        st.investigations.add_regression(fix.investigation_id, investigation_id)
        fixed = st.investigations.get(fix.investigation_id)
        note(
            fixed,
            "regression",
            f"Possible regression: a new error in {', '.join(files)} right after this fix was "
            f"deployed; investigation {investigation_id} looks into it.",
            detail=investigation_id,
        )
        if fixed.aftercare is not None:
            tell(
                announce,
                fix.investigation_id,
                fixed.aftercare.round,
                f"regression-{investigation_id}",
            )
        flagged.append(fix.investigation_id)
    return flagged


def _same(frame: str, path: str) -> bool:
    """Whether a stack frame's file is the repository file ``path`` (``/var/task/app/x.py``
    is ``app/x.py``)."""
    frame = frame.replace("\\", "/")
    return frame == path or frame.endswith("/" + path)
