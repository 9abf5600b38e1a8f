"""Channels people reach an investigation through (GitHub so far)."""
