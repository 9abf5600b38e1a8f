"""Intake: from a signal to investigations. Triggers parse and route a payload, admission
splits it into problems by fingerprint and starts or attaches, start opens one."""

from fixloop.intake.admission import Admission, Target, admit, split_signal
from fixloop.intake.start import start_investigation
from fixloop.intake.triggers import TargetConfig, TriggerResult, handle_payload, target_for

__all__ = [
    "Admission",
    "Target",
    "TargetConfig",
    "TriggerResult",
    "admit",
    "handle_payload",
    "split_signal",
    "start_investigation",
    "target_for",
]
