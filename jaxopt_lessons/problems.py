"""Placeholder: owned by the cli helper."""
