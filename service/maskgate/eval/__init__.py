"""Offline evaluation: verification metrics and the LFW protocol."""
