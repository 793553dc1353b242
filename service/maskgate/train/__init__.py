"""Training of the project's own models (needs the ``train`` extra: torch)."""
