"""The investigation loop's steps, one module per state machine task.

:mod:`~fixloop.agent.prepare` (Prepare), :mod:`~fixloop.agent.turn` (Model Turn, routed by
:mod:`~fixloop.agent.route`), :mod:`~fixloop.agent.run_tool` (Run Tool and Record Tool
Failure), :mod:`~fixloop.agent.conclude` (Deliver, Mark Failed). Handlers import the module
they run, so a function loads only what its step needs.
"""
