"""API keys: generation, hashing, scopes, and their storage (``repository``)."""
