"""maskgate: face verification that stays accurate with masks."""

__version__ = "0.1.0"
