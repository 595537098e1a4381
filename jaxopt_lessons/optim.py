"""Placeholder: owned by the optim helper."""
