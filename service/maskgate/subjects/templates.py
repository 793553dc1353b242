"""What a stored face brings to a comparison: its templates and whether it was masked."""

from __future__ import annotations

import numpy as np

from maskgate.db.models import Face
from maskgate.matching import Case


def stored_masked(face: Face, mask_threshold: float) -> bool | None:
    """Whether the mask classifier found the face masked at enrolment; None for a face
    enrolled before it existed (such a face is matched as bare)."""
    if face.mask_probability is None:
        return None
    return face.mask_probability >= mask_threshold


def stored_vector(face: Face, case: Case) -> np.ndarray | None:
    """The face's template of ``case``; None where it has none (partial, enrolled before)."""
    return face.embedding_full if case == "full" else face.embedding_partial
