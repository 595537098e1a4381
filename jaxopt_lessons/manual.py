"""Placeholder: owned by the manual helper."""
