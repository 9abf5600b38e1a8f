"""The investigation loop's steps, one function per state machine task."""

from fixloop.agent.conclude import deliver, mark_failed
from fixloop.agent.loop import model_turn, prepare
from fixloop.agent.start import start_investigation
from fixloop.agent.tool_step import run_tool

__all__ = ["deliver", "mark_failed", "model_turn", "prepare", "run_tool", "start_investigation"]
