"""The comparisons each matching case is calibrated (and checked) on.

full: two bare photos, E_F against E_F. partial: a masked photo against a bare one (one
side masked) and two masked photos (both), E_P against E_P, the two settings weighted
equally. Faces go where C sends them, as in the service: a bare photo C calls masked
leaves the full case, a masked photo C calls bare leaves the partial one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from maskgate.calibration.pairs import Side
from maskgate.matching import Case
from maskgate.pipeline.pipeline import FacePipeline

ANALYSE_CHUNK = 512


@dataclass(frozen=True)
class Analysed:
    """C, E_F and E_P of a set of aligned faces, with whose face and which photo each is."""

    full: np.ndarray
    partial: np.ndarray
    masked: np.ndarray  # bool, C's decision
    person: np.ndarray
    photo: np.ndarray

    @classmethod
    def of(
        cls,
        pipeline: FacePipeline,
        crops: Sequence[np.ndarray],
        person: np.ndarray,
        photo: np.ndarray,
    ) -> Analysed:
        analyses = [
            a
            for start in range(0, len(crops), ANALYSE_CHUNK)
            for a in pipeline.analyse(list(crops[start : start + ANALYSE_CHUNK]))
        ]
        return cls(
            full=np.stack([a.embedding for a in analyses]).astype(np.float32),
            partial=np.stack([_partial(a.embedding_partial) for a in analyses]).astype(np.float32),
            masked=np.array([a.masked for a in analyses], bool),
            person=np.asarray(person),
            photo=np.asarray(photo),
        )

    def side(self, case: Case, keep: np.ndarray | None = None) -> Side:
        vectors = self.full if case == "full" else self.partial
        side = Side(vectors, self.person, self.photo)
        return side if keep is None else side.where(keep)


def _partial(vector: np.ndarray | None) -> np.ndarray:
    if vector is None:
        raise ValueError("E_P was skipped: analyse with partial_for_bare")
    return vector


@dataclass(frozen=True)
class Setting:
    name: str
    a: Side
    b: Side
    same_set: bool


def case_settings(bare: Analysed, masked: Analysed) -> dict[Case, list[Setting]]:
    """The comparisons of each case, from bare photos and masked copies of the same photos."""
    masked_side = masked.side("partial", masked.masked)
    bare_side = bare.side("full", ~bare.masked)
    return {
        "full": [Setting("no_mask", bare_side, bare_side, same_set=True)],
        "partial": [
            Setting("one_side", masked_side, bare.side("partial"), same_set=False),
            Setting("both", masked_side, masked_side, same_set=True),
        ],
    }
