"""Small constructs the fixloop stacks are composed of, one concern per module."""
