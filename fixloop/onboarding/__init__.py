"""``fixloop onboard``: the instrumentation pull request that lets fixloop watch a service
(structured error logs with stack traces, error alarms, and the subscription that sends error
logs to fixloop)."""

from __future__ import annotations

from fixloop.onboarding.open import (
    OnboardingResult,
    deliver_onboarding,
    open_onboarding_pull_request,
)
from fixloop.onboarding.plan import (
    BRANCH,
    INVESTIGATION_ID,
    DetectedHandler,
    NothingToChange,
    OnboardingPlan,
    PlannedFile,
    WatchedFunction,
    plan_onboarding,
)

__all__ = [
    "BRANCH",
    "INVESTIGATION_ID",
    "DetectedHandler",
    "NothingToChange",
    "OnboardingPlan",
    "OnboardingResult",
    "PlannedFile",
    "WatchedFunction",
    "deliver_onboarding",
    "open_onboarding_pull_request",
    "plan_onboarding",
]
