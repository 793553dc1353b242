from __future__ import annotations

from pathlib import Path

import numpy as np

from maskgate.eval.lfw_protocol import Pair
from maskgate.eval.masked_lfw import Scored, pair_scores
from maskgate.matching import Templates


def unit(*values: float) -> np.ndarray:
    v = np.array(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def test_pipeline_routes_masked_pairs_to_partial_templates_and_e_f_alone_never_does() -> None:
    root = Path("/lfw")
    pair = Pair(fold=5, name_a="A", index_a=1, name_b="A", index_b=2, same=True)
    pa, pb = pair.paths(root)
    bare = Scored({pb: Templates(unit(1, 0), unit(0, 1), masked=False)}, {pb: 0.01})
    masked = Scored({pa: Templates(unit(0, 1), unit(0, 1), masked=True)}, {pa: 0.99})

    scores, cases = pair_scores([pair], root, masked, bare, "pipeline")
    assert cases == ["partial"]
    assert scores[0] == 1.0  # E_P vs E_P
    scores, cases = pair_scores([pair], root, masked, bare, "e_f")
    assert cases == ["full"]
    assert scores[0] == 0.0  # E_F vs E_F


def test_a_failed_image_gives_a_nan_score() -> None:
    root = Path("/lfw")
    pair = Pair(fold=5, name_a="A", index_a=1, name_b="B", index_b=1, same=False)
    pa, _ = pair.paths(root)
    only_a = Scored({pa: Templates(unit(1, 0), unit(1, 0), masked=False)}, {pa: 0.0})
    scores, cases = pair_scores([pair], root, only_a, only_a, "pipeline")
    assert np.isnan(scores[0])
    assert cases == ["failed"]
