"""FMR calibration: from a cosine score to the false match rate it carries, per matching case."""
