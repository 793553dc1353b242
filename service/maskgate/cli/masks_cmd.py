"""`maskgate synth-masks IN_DIR OUT_DIR`: masked copies of photos, for inspection and tests."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from maskgate.cli.common import load_pipeline
from maskgate.masks.photos import decode_rgb, encode_jpeg, mask_photos
from maskgate.masks.synth import MaskSynthesizer, rng_for
from maskgate.pipeline.choose import FacePolicy

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


def default_masks_dir(near: Path | None = None) -> Path | None:
    """MaskTheFace's folder: beside an LFW folder, else ../shared/data/masks, else none."""
    for candidate in ([near.parent / "masks"] if near else []) + [Path("../shared/data/masks")]:
        if (candidate / "masks.cfg").is_file():
            return candidate
    return None


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("synth-masks", help="write masked copies of the photos of a folder")
    p.add_argument("in_dir", type=Path, help="folder of photos (searched recursively)")
    p.add_argument("out_dir", type=Path, help="where the masked JPEGs go (same relative paths)")
    p.add_argument("--masks", type=Path, help="MaskTheFace masks folder (default: auto)")
    p.add_argument("--styles", help="comma-separated styles (default: all available)")
    p.add_argument("--seed", type=int, default=0, help="same seed, same masks")
    p.add_argument(
        "--policy",
        choices=[x.value for x in FacePolicy if x is not FacePolicy.REJECT],
        default="all",
        help="which faces get a mask (default: every face found)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    masks_dir = args.masks or default_masks_dir()
    synth = MaskSynthesizer.from_dir(masks_dir)
    styles = args.styles.split(",") if args.styles else None
    unknown = set(styles or []) - set(synth.styles)
    if unknown:
        print(f"error: unknown styles {sorted(unknown)}; known: {synth.styles}", file=sys.stderr)  # noqa: T201
        return 2
    pipeline = load_pipeline()
    photos = sorted(p for p in args.in_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    written = skipped = 0
    for path in photos:
        relative = path.relative_to(args.in_dir)
        try:
            rgb = decode_rgb(path.read_bytes())
        except (OSError, ValueError):
            skipped += 1
            continue
        rng = rng_for(args.seed, relative.as_posix())
        (made,) = mask_photos(
            synth, pipeline.detector, [rgb], [rng], styles, FacePolicy(args.policy)
        )
        if made is None:
            skipped += 1
            continue
        target = (args.out_dir / relative).with_suffix(".jpg")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(encode_jpeg(made[0]))
        written += 1
        sys.stdout.write(json.dumps({"path": relative.as_posix(), "style": made[1]}) + "\n")
    print(f"{written} masked, {skipped} skipped (unreadable or no face)", file=sys.stderr)  # noqa: T201
    return 0
