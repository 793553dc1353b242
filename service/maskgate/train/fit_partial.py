"""Fit E_P: a student initialised from E_F, taught on masked faces.

Loss per face (cosine distances, all templates unit length):
- distillation: E_P(masked) -> T, the teacher's template E_F(bare) (mirror-averaged);
- bare anchor:  E_P(bare)   -> T, so an unmasked enrolment lands where masked probes go;
- guided:       E_P(masked) <-> E_P(bare), both sides trained, weight ``guided``;
- identity:     optional, weight ``identity``: a CosFace margin loss of both templates
                against every person's centre (the mean of the teacher's templates of the
                person, fixed), so that other people's faces are pushed apart as well.

The rows a mask covers are blanked at the input, so the face below them never reaches the
network; the high-resolution stages (56x56 and 28x28) stay as E_F trained them, which
halves the cost of a step on a CPU; the later stages learn to map the upper face to the
full face's template. The exported graph runs the student on each face and on its mirror
image and sums the two templates (``graphs.mirror_averaged``), as the teacher's are made.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import onnx
import torch
import torch.nn.functional as F

from maskgate.masks.synth import MaskSynthesizer
from maskgate.train.batches import masked_views, misaligned, normalise, photometric
from maskgate.train.cache import FaceCache
from maskgate.train.graphs import ROW_KEEP, mirror_averaged, partial_extractor
from maskgate.train.onnx_module import OnnxModule
from maskgate.train.recipes import PartialRecipe


def fit_partial(
    full: onnx.ModelProto,
    cache: FaceCache,
    synth: MaskSynthesizer,
    recipe: PartialRecipe,
    progress: Callable[[str], None] = lambda _: None,
) -> onnx.ModelProto:
    torch.manual_seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed)
    graph = partial_extractor(full, recipe.blank_from_row)
    kept = {i.name for i in graph.graph.initializer if i.name.startswith(recipe.frozen_prefixes)}
    student = OnnxModule(graph, frozen=frozenset({ROW_KEEP, *kept}))
    student.train()
    optimiser = torch.optim.AdamW(student.parameters(), lr=recipe.lr, weight_decay=1e-4)
    teacher = torch.from_numpy(cache.teacher)
    centres = person_centres(cache.teacher, cache.person)
    start = time.perf_counter()
    losses: list[float] = []
    for step in range(1, recipe.steps + 1):
        for group in optimiser.param_groups:  # cosine decay over the run
            group["lr"] = recipe.lr * 0.5 * (1 + math.cos(math.pi * (step - 1) / recipe.steps))
        loss = _step(student, cache, teacher, centres, synth, recipe, rng)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
        if step % 50 == 0:
            elapsed = time.perf_counter() - start
            recent = np.mean(losses[-50:])
            progress(f"E_P step {step}/{recipe.steps} ({elapsed:.0f} s): loss {recent:.4f}")
    student.eval()
    return mirror_averaged(student.export())


def person_centres(teacher: np.ndarray, person: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """(centres, row of each face): each person's mean teacher template, unit length."""
    people, row = np.unique(person, return_inverse=True)
    sums = np.zeros((len(people), teacher.shape[1]), dtype=np.float64)
    np.add.at(sums, row, teacher)
    centres = torch.from_numpy(sums.astype(np.float32))
    return F.normalize(centres, dim=1), torch.from_numpy(row.astype(np.int64))


def _identity_loss(
    templates: torch.Tensor, rows: torch.Tensor, centres: torch.Tensor, recipe: PartialRecipe
) -> torch.Tensor:
    """CosFace: cosine to every centre, the own one lowered by the margin, cross-entropy."""
    cosines = F.normalize(templates, dim=1) @ centres.T
    margin = F.one_hot(rows, len(centres)) * recipe.identity_margin
    return F.cross_entropy(recipe.identity_scale * (cosines - margin), rows)


def _step(
    student: OnnxModule,
    cache: FaceCache,
    teacher: torch.Tensor,
    centres: tuple[torch.Tensor, torch.Tensor],
    synth: MaskSynthesizer,
    recipe: PartialRecipe,
    rng: np.random.Generator,
) -> torch.Tensor:
    """The loss of one batch: distillation, bare anchor, guided and identity terms."""
    index = rng.integers(len(cache.bare), size=recipe.batch)
    bare = cache.bare[index]
    masked = masked_views(cache, index, synth, rng, recipe.drawn_share)
    for views in (bare, masked) if recipe.misalign_share > 0 else ():
        for i in np.flatnonzero(rng.random(recipe.batch) < recipe.misalign_share):
            views[i] = misaligned(views[i], rng, recipe.misalign_shift, recipe.misalign_turn,
                                  recipe.misalign_zoom)  # fmt: skip
    flip = rng.random(recipe.batch) < 0.5
    bare[flip], masked[flip] = bare[flip, :, ::-1], masked[flip, :, ::-1]
    views = photometric(np.concatenate([masked, bare]), rng)
    out = student(torch.from_numpy(normalise(views)))
    e_masked, e_bare = out[: recipe.batch], out[recipe.batch :]
    target = teacher[index]
    loss = (
        (1 - F.cosine_similarity(e_masked, target)).mean()
        + (1 - F.cosine_similarity(e_bare, target)).mean()
        + recipe.guided * (1 - F.cosine_similarity(e_masked, e_bare)).mean()
    )
    if recipe.identity > 0:
        centre, row = centres
        rows = row[torch.from_numpy(index)].repeat(2)
        loss = loss + recipe.identity * _identity_loss(out, rows, centre, recipe)
    return loss
