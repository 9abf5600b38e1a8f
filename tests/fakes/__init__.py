"""Local stand-ins for the services fixloop talks to (GitHub's REST API and git over HTTP,
Slack, Linear, the Anthropic Messages API) and replayed sessions over the latter, for tests
and benchmarks of the real clients. Not part of the product: nothing under fixloop/ imports
them, and neither the wheel, the Lambda layer nor the sandbox image contains them."""
