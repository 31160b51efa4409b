"""Checkpoint files: reading them (with every way they can be bad), writing them, what they record."""
