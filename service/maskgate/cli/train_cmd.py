"""`maskgate train ...`: rebuild the project's own models (needs the ``train`` extra).

`maskgate train all --data LFW_DIR` runs the whole recipe: the face cache of the training
folds, then C, then E_P; the ONNX files go to the models folder and their sha256 into
the manifest.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

from maskgate.cli.masks_cmd import default_masks_dir
from maskgate.config import Settings
from maskgate.kit.hashing import sha256_file
from maskgate.train.recipes import ClassifierRecipe, PartialRecipe

DEFAULT_CACHE = Path("var/train/faces.npz")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("train", help="train the mask classifier C and the partial-face E_P")
    steps = p.add_subparsers(dest="step", required=True)
    for name, help_text in (
        ("cache", "align the training folds' faces, bare and masked (var/train)"),
        ("classifier", "fit C from the cache"),
        ("partial", "fit E_P from the cache"),
        ("all", "cache, C and E_P, one after the other"),
    ):
        s = steps.add_parser(name, help=help_text)
        s.add_argument("--data", type=Path, help="LFW folder (people.txt, images/)")
        s.add_argument(
            "--masks", type=Path, help="MaskTheFace masks folder (default: beside --data)"
        )
        s.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="face cache (.npz)")
        s.add_argument("--seed", type=int, default=0)
        s.add_argument("--classifier-steps", type=int, default=ClassifierRecipe.steps)
        s.add_argument("--partial-steps", type=int, default=PartialRecipe.steps)
        s.add_argument("--out", type=Path, help="models folder (default: the settings')")
        s.set_defaults(func=run)


def set_manifest_hash(manifest: Path, key: str, sha256: str) -> None:
    """Replace ``onnx_sha256`` in the ``[models.KEY]`` table, keeping the file's comments."""
    text = manifest.read_text()
    pattern = re.compile(
        rf'(\[models\.{re.escape(key)}\][^\[]*?onnx_sha256 = ")[0-9a-fA-PENDIG]*(")'
    )
    new, count = pattern.subn(rf"\g<1>{sha256}\g<2>", text)
    if count != 1:
        raise ValueError(f"{manifest}: no onnx_sha256 for [models.{key}]")
    manifest.write_text(new)


def run(args: argparse.Namespace) -> int:
    try:
        import torch  # noqa: F401
    except ImportError:
        print("error: training needs torch: pip install -e '.[train]'", file=sys.stderr)  # noqa: T201
        return 2
    import onnx

    from maskgate.masks.synth import MaskSynthesizer
    from maskgate.pipeline.pipeline import FacePipeline
    from maskgate.train import cache as face_cache
    from maskgate.train.fit_classifier import fit_classifier
    from maskgate.train.fit_partial import fit_partial
    from maskgate.train.mask_threshold import onnx_probabilities, suggested_threshold

    settings = Settings()
    out = args.out or settings.models.dir
    masks_dir = args.masks or default_masks_dir(args.data)
    synth = MaskSynthesizer.from_dir(masks_dir)
    if masks_dir is None:
        print("warning: no MaskTheFace folder; drawn masks only", file=sys.stderr)  # noqa: T201

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)  # noqa: T201

    start = time.perf_counter()
    if args.step in ("cache", "all"):
        if args.data is None:
            say("error: --data LFW_DIR is needed to build the cache")
            return 2
        pipeline = FacePipeline.from_settings(settings)
        for model in (pipeline.detector, pipeline.extractor):
            model.load()
        built = face_cache.build(pipeline, synth, args.data, seed=args.seed, progress=say)
        built.save(args.cache)
        say(f"cache: {len(built.bare)} faces -> {args.cache} ({time.perf_counter() - start:.0f} s)")
    if args.step == "cache":
        return 0
    faces = face_cache.FaceCache.load(args.cache)
    torch.set_num_threads(settings.models.threads)
    results = []
    if args.step in ("classifier", "all"):
        recipe = ClassifierRecipe(steps=args.classifier_steps, seed=args.seed)
        classifier = fit_classifier(faces, synth, recipe, say)
        results.append(("mask_classifier", classifier))
        say(f"C trained ({time.perf_counter() - start:.0f} s)")
        rule = suggested_threshold(onnx_probabilities(classifier), faces.bare, seed=args.seed)
        say(f"suggested MASKGATE_PIPELINE__MASK_THRESHOLD: {rule.threshold:.3f} (the p that "
            f"{100 * rule.share:g}% of the {rule.faces} degraded bare training faces reach; "
            f"turned grey, {100 * rule.grey_called:.2f}% of them reach it, and "
            f"{100 * rule.share:g}% reach {rule.grey:.3f})")  # fmt: skip
    if args.step in ("partial", "all"):
        full = onnx.load(str(settings.models.dir / "mobilefacenet.onnx"))
        recipe_p = PartialRecipe(steps=args.partial_steps, seed=args.seed)
        results.append(("embedder_partial", fit_partial(full, faces, synth, recipe_p, say)))
        say(f"E_P trained ({time.perf_counter() - start:.0f} s)")
    files = {
        "mask_classifier": "mask_classifier.onnx",
        "embedder_partial": "partial_mobilefacenet.onnx",
    }
    for key, model in results:
        target = out / files[key]
        onnx.save(model, str(target))
        digest = sha256_file(target)
        set_manifest_hash(out / "manifest.toml", key, digest)
        say(f"{target}: sha256 {digest} (manifest updated)")
    if results:
        say("the models changed: run `maskgate calibrate` (the service refuses a calibration "
            "made for other models)")  # fmt: skip
    say(f"done in {time.perf_counter() - start:.0f} s")
    return 0
