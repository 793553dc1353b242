"""Verification (1:1), identification (1:N) and face analysis."""
