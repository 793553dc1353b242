"""E_P's identity margin term: fixed per-person centres and a CosFace loss against them."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the train extra (torch) is not installed")

from maskgate.train.fit_partial import _identity_loss, person_centres  # noqa: E402
from maskgate.train.recipes import PartialRecipe  # noqa: E402


def test_centres_are_each_persons_mean_template_at_unit_length() -> None:
    teacher = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1]], dtype=np.float32)
    person = np.array([7, 7, 3, 3])
    centres, rows = person_centres(teacher, person)
    assert rows.tolist() == [1, 1, 0, 0]  # people in sorted order
    np.testing.assert_allclose(centres[1].numpy(), [2**-0.5, 2**-0.5, 0], atol=1e-6)
    np.testing.assert_allclose(centres[0].numpy(), [0, 0, 1], atol=1e-6)


def test_the_loss_rewards_the_own_centre_and_the_margin_makes_it_stricter() -> None:
    centres = torch.eye(4)
    rows = torch.tensor([0, 1])
    own = torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0]])
    other = torch.tensor([[0, 0, 1.0, 0], [0, 0, 0, 1.0]])
    recipe = PartialRecipe(identity=1.0, identity_scale=4.0)
    near, far = (_identity_loss(t, rows, centres, recipe) for t in (own, other))
    assert near < far
    no_margin = PartialRecipe(identity=1.0, identity_scale=4.0, identity_margin=0.0)
    assert _identity_loss(own, rows, centres, no_margin) < near
