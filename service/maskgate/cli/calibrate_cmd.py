"""`maskgate calibrate --data LFW_DIR`: the score -> FMR map of each matching case.

Every comparison of two different photos of the training folds (LFW people folds 1-5, the
face cache of `maskgate train cache`; built if missing): millions of impostor pairs per
case. Writes ``calibration.json`` into the models folder and pins it in the manifest.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from maskgate.cli.masks_cmd import default_masks_dir
from maskgate.cli.train_cmd import DEFAULT_CACHE
from maskgate.config import Settings
from maskgate.kit.hashing import sha256_file
from maskgate.matching import CASES

SHOWN_FMRS = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("calibrate", help="map scores to false match rates, per matching case")
    p.add_argument("--data", type=Path, help="LFW folder (people.txt, images/)")
    p.add_argument("--masks", type=Path, help="MaskTheFace masks folder (default: beside --data)")
    p.add_argument(
        "--cache", type=Path, default=DEFAULT_CACHE, help="face cache (.npz); built if missing"
    )
    p.add_argument("--seed", type=int, default=0, help="masks of the cache, when it is built")
    p.add_argument("--out", type=Path, help="models folder (default: the settings')")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from maskgate.calibration.build import FILE, calibrate, pin_in_manifest
    from maskgate.masks.synth import MaskSynthesizer
    from maskgate.models.manifest import Manifest
    from maskgate.pipeline.pipeline import FacePipeline
    from maskgate.train import cache as face_cache

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)  # noqa: T201

    settings = Settings()
    out = args.out or settings.models.dir
    start = time.perf_counter()
    pipeline = FacePipeline.from_settings(settings)
    pipeline.load(warm_up=False)
    if not args.cache.is_file():
        if args.data is None:
            say(f"error: no face cache at {args.cache}: pass --data LFW_DIR to build it")
            return 2
        masks_dir = args.masks or default_masks_dir(args.data)
        synth = MaskSynthesizer.from_dir(masks_dir)
        built = face_cache.build(pipeline, synth, args.data, seed=args.seed, progress=say)
        built.save(args.cache)
        say(f"cache: {len(built.bare)} faces -> {args.cache} ({time.perf_counter() - start:.0f} s)")
    cache = face_cache.FaceCache.load(args.cache)
    provenance = {
        "data": "LFW people folds 1-5 (the training folds), the six excluded people left out",
        "faces": len(cache.bare),
        "masked_copies": int(cache.masked_ok.sum()),
        "cache_seed": args.seed,
        "command": "maskgate " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "maskgate calibrate",
    }
    calibration = calibrate(pipeline, cache, Manifest.load(out), provenance, say)
    target = out / FILE
    calibration.save(target)
    digest = sha256_file(target)
    pin_in_manifest(out / "manifest.toml", digest)
    say(f"{target}: sha256 {digest} (manifest updated) in {time.perf_counter() - start:.0f} s")
    header = " | ".join(f"FMR {f:.0e}" for f in SHOWN_FMRS)
    lines = [f"| case | impostors | genuine | measured down to | {header} |"]
    lines.append("|---" * (4 + len(SHOWN_FMRS)) + "|")
    for case in CASES:
        curve = calibration[case]
        cells = " | ".join(
            f"{curve.threshold(f):.4f}{'*' if curve.extrapolated(f) else ''}" for f in SHOWN_FMRS
        )
        lines.append(
            f"| {case} | {curve.impostors:,} | {curve.genuines:,} | {curve.floor:.1e} | {cells} |"
        )
    sys.stdout.write("\n".join(lines) + "\n(thresholds; * extrapolated beyond the floor)\n")
    return 0
