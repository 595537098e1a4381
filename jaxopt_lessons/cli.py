"""Placeholder: owned by the cli helper."""
def main(argv=None): raise NotImplementedError
