"""Live surfaces: the WebSocket API, the stream fan-out, MCP, and what they share."""
