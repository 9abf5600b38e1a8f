"""The embedded runtime: moto on loopback running the real ASL, handlers in-process."""
