"""Test helpers that ship with fixloop: a local Messages API server for the real SDK."""
