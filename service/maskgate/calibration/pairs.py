"""Every comparison between two sets of templates, in chunks: impostors and genuine pairs.

A comparison pairs two different photos; it is an impostor comparison when the people
differ and a genuine one when they are the same. Two sets that are one and the same (bare
faces against bare faces) give each unordered pair once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from maskgate.calibration.histogram import ScoreCounts

CHUNK = 1024


@dataclass(frozen=True)
class Side:
    """Templates of one side of the comparisons, with whose face and which photo each is."""

    vectors: np.ndarray  # (n, d) unit rows
    person: np.ndarray  # (n,) int
    photo: np.ndarray  # (n,) int: the same photo, masked or not, has the same number

    def where(self, keep: np.ndarray) -> Side:
        return Side(self.vectors[keep], self.person[keep], self.photo[keep])


@dataclass(frozen=True)
class Block:
    scores: np.ndarray  # (rows, cols) cosine
    genuine: np.ndarray  # (rows, cols) bool
    counted: np.ndarray  # (rows, cols) bool: a comparison of two different photos, once


def blocks(a: Side, b: Side, same_set: bool = False) -> Iterator[Block]:
    bt = np.ascontiguousarray(b.vectors.T, dtype=np.float32)
    cols = np.arange(len(b.person))
    for start in range(0, len(a.person), CHUNK):
        rows = slice(start, start + CHUNK)
        scores = np.clip(a.vectors[rows].astype(np.float32) @ bt, -1.0, 1.0)
        counted = a.photo[rows, None] != b.photo[None, :]
        if same_set:
            counted &= np.arange(start, start + scores.shape[0])[:, None] < cols[None, :]
        yield Block(scores, a.person[rows, None] == b.person[None, :], counted)


def score_counts(a: Side, b: Side, same_set: bool = False) -> tuple[ScoreCounts, ScoreCounts]:
    """(impostor, genuine) score counts of every comparison of ``a`` with ``b``."""
    impostor, genuine = ScoreCounts.empty(), ScoreCounts.empty()
    for block in blocks(a, b, same_set):
        impostor.add(block.scores[block.counted & ~block.genuine])
        genuine.add(block.scores[block.counted & block.genuine])
    return impostor, genuine


@dataclass(frozen=True)
class Accepted:
    """Comparisons accepted at each of some thresholds, impostor and genuine."""

    impostors: np.ndarray  # (thresholds,) int
    impostor_total: int
    genuines: np.ndarray
    genuine_total: int


def accepted_at(a: Side, b: Side, thresholds: np.ndarray, same_set: bool = False) -> Accepted:
    """How many impostor and genuine comparisons score at least each threshold."""
    t = np.asarray(thresholds, np.float32)[:, None]
    imp, gen = np.zeros(len(t), np.int64), np.zeros(len(t), np.int64)
    n_imp = n_gen = 0
    for block in blocks(a, b, same_set):
        impostor = block.scores[block.counted & ~block.genuine]
        genuine = block.scores[block.counted & block.genuine]
        n_imp, n_gen = n_imp + impostor.size, n_gen + genuine.size
        imp += np.count_nonzero(impostor[None, :] >= t, axis=1)
        gen += np.count_nonzero(genuine[None, :] >= t, axis=1)
    return Accepted(imp, n_imp, gen, n_gen)
