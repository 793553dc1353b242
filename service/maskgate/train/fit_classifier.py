"""Fit C, the mask classifier: bare crops (0) against masked crops (1), balanced batches.

C sees every mask style (templates and drawn, in the recipe's proportions) and faces
degraded the way photos from the wild are (heads turned aside, few pixels, blur, tilt,
grey); E_P's training keeps two styles out instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import onnx
import torch
import torch.nn.functional as F

from maskgate.masks.synth import MaskSynthesizer
from maskgate.train.batches import degrade, masked_views, normalise, photometric, turned
from maskgate.train.cache import FaceCache
from maskgate.train.graphs import mask_classifier
from maskgate.train.onnx_module import OnnxModule
from maskgate.train.recipes import ClassifierRecipe


def fit_classifier(
    cache: FaceCache,
    synth: MaskSynthesizer,
    recipe: ClassifierRecipe,
    progress: Callable[[str], None] = lambda _: None,
) -> onnx.ModelProto:
    torch.manual_seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed)
    net = OnnxModule(mask_classifier(recipe.seed, recipe.widths))
    net.train()
    optimiser = torch.optim.AdamW(net.parameters(), lr=recipe.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, recipe.lr, total_steps=recipe.steps)
    half = recipe.batch // 2
    labels = torch.cat([torch.ones(half, 1), torch.zeros(half, 1)])
    styles = list(recipe.styles) or synth.styles
    start, losses = time.perf_counter(), []
    for step in range(1, recipe.steps + 1):
        index = rng.integers(len(cache.bare), size=half)
        masked = masked_views(cache, index, synth, rng, recipe.drawn_share, styles)
        bare = cache.bare[rng.integers(len(cache.bare), size=half)]
        views = np.concatenate([masked, bare])
        flip = rng.random(len(views)) < 0.5
        views[flip] = views[flip, :, ::-1]
        if recipe.turn_share:
            turn = np.flatnonzero(rng.random(len(views)) < recipe.turn_share)
            for i in turn:
                views[i] = turned(views[i], rng)
        views = np.stack([degrade(v, rng, recipe.grey_share) for v in views])
        x = torch.from_numpy(normalise(photometric(views, rng)))
        p = net(x).clamp(1e-6, 1 - 1e-6)
        loss = F.binary_cross_entropy(p, labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        losses.append(loss.item())
        if step % 100 == 0:
            elapsed = time.perf_counter() - start
            progress(
                f"C step {step}/{recipe.steps} ({elapsed:.0f} s): loss {np.mean(losses[-100:]):.4f}"
            )
    net.eval()
    return net.export()
