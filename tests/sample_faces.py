"""Sample faces the tests share (public-domain photos of scikit-image)."""

from __future__ import annotations

import numpy as np
from PIL import Image


def cameraman() -> np.ndarray:
    """Another person (scikit-image's cameraman, public domain): his face, 256 x 256 RGB.

    The photo is grey; it is given a warm tone here because C's weak side is grey faces
    (C 1.1 reads the grey face at p 0.14, above its 0.1 threshold, so it would go to E_P),
    and the tests that use him want a bare face of someone else. The eval CLI tests assert
    that C calls him bare."""
    from skimage import data

    grey: np.ndarray = data.camera()  # type: ignore[no-untyped-call]
    toned = np.stack([grey] * 3, axis=-1)[92:220, 162:290] * np.array([1.15, 1.0, 0.85])
    face = Image.fromarray(np.clip(toned + [10, 0, -5], 0, 255).astype(np.uint8))
    return np.asarray(face.resize((256, 256), Image.Resampling.BICUBIC))
