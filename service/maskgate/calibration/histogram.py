"""Score counts on a fixed fine grid: millions of comparisons kept in a few kilobytes.

Cosine scores in [-1, 1] are counted in bins of width ``1 / BINS_PER_UNIT``; a threshold on
a bin edge then accepts exactly the counts of the bins at and above it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BINS_PER_UNIT = 10_000
N_BINS = 2 * BINS_PER_UNIT  # [-1, 1)


def bin_of(scores: np.ndarray) -> np.ndarray:
    """Bin index of each score; 1.0 (a face against itself) falls into the last bin."""
    index = np.floor((np.asarray(scores, np.float64) + 1.0) * BINS_PER_UNIT).astype(np.int64)
    return np.clip(index, 0, N_BINS - 1)


def edge(index: int | np.ndarray) -> np.ndarray:
    """The score at the lower edge of a bin."""
    return np.asarray(index, np.float64) / BINS_PER_UNIT - 1.0


@dataclass
class ScoreCounts:
    """How many comparisons scored in each bin."""

    counts: np.ndarray  # (N_BINS,) int64

    @classmethod
    def empty(cls) -> ScoreCounts:
        return cls(np.zeros(N_BINS, np.int64))

    def add(self, scores: np.ndarray) -> None:
        self.counts += np.bincount(bin_of(scores.ravel()), minlength=N_BINS)

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    def at_or_above(self) -> np.ndarray:
        """Counts of scores at or above the lower edge of each bin."""
        return np.cumsum(self.counts[::-1])[::-1]
