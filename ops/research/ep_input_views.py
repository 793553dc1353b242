"""E_P's accuracy on masked LFW when its input is aligned or sampled differently (research).

Serving-time variants of the aligned crop that E_P (as shipped) embeds, measured with the
masked-LFW protocol of ``maskgate eval masked-lfw`` (folds 6-10, seed 0, the MaskTheFace
template view, C routing at the configured threshold, E_F on bare pairs):

- ``w``: landmark weights of the similarity alignment (eyes, nose, mouth corners);
- ``shifts``: (dx, dy) pixel offsets of the alignment, E_P's templates of each summed;
- ``scales``: zooms about the crop's centre, summed likewise;
- ``in_crop``: shift the 112x112 crop itself (edge rows repeated) instead of re-warping the
  photo, as a wrapper inside the ONNX graph would.

Step 1 writes the detected, aligned views once (~15 min on 2 cores); step 2 scores variants
(~5 min per pass over the crops):

    python ops/research/ep_input_views.py dump var/exp/views.pkl
    python ops/research/ep_input_views.py score var/exp/views.pkl \
        "w=None;shifts=((0,0),(0,-3),(0,3))"

Nothing here is part of the service; the figures are quoted in the E_P model card.
"""

from __future__ import annotations

import argparse
import pickle
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from maskgate.cli.common import load_pipeline
from maskgate.config import Settings
from maskgate.errors import MaskgateError
from maskgate.eval.lfw_protocol import read_pairs
from maskgate.eval.masked_lfw import VIEWS, view_photos
from maskgate.eval.metrics import summarize
from maskgate.masks.photos import decode_rgb
from maskgate.masks.synth import MaskSynthesizer
from maskgate.pipeline.align import SIZE, TEMPLATE
from maskgate.pipeline.choose import FacePolicy
from maskgate.pipeline.files import chunks
from maskgate.train.protocol import TEST_FOLDS

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
# view -> path -> (the photo as the pipeline saw it, its five landmarks, the aligned crop)
Views = dict[str, dict[Path, tuple[bytes, np.ndarray, np.ndarray]]]


def dump(out: Path) -> None:
    """The bare and masked views of every image of the test pairs, as the evaluation makes
    them (same seed, same styles), keeping the photo and landmarks of each face."""
    pipeline = load_pipeline(Settings())
    synth = MaskSynthesizer.from_dir(DATA / "masks")
    pairs = [p for p in read_pairs(DATA / "lfw" / "pairs.txt") if p.fold in TEST_FOLDS]
    paths = list(dict.fromkeys(x for p in pairs for x in p.paths(DATA / "lfw")))
    views: Views = {name: {} for name in ("bare", *VIEWS)}
    for done, part in enumerate(chunks(paths, 32)):
        for name, encoded in view_photos(pipeline, synth, part, seed=0).items():
            todo = [(p, e) for p, e in zip(part, encoded, strict=True) if e is not None]
            outcomes = pipeline.run([e for _, e in todo], embed=False, policy=FacePolicy.CENTRAL)
            for (path, photo), outcome in zip(todo, outcomes, strict=True):
                try:
                    if isinstance(outcome, MaskgateError):
                        raise outcome
                    face = outcome.usable_face()
                except MaskgateError:
                    continue
                views[name][path] = (photo, face.detection.landmarks.copy(), face.aligned)
        print(f"{min((done + 1) * 32, len(paths))}/{len(paths)} images", flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(pickle.dumps(views))


def weighted_similarity(src: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Umeyama's similarity src -> TEMPLATE with a weight per landmark (2x3 matrix)."""
    w = weights / weights.sum()
    mu_s, mu_d = w @ src, w @ TEMPLATE
    s_c, d_c = src - mu_s, TEMPLATE - mu_d
    u, sig, vt = np.linalg.svd((w[:, None] * d_c).T @ s_c)
    d = np.array([1.0, -1.0 if np.linalg.det(u) * np.linalg.det(vt) < 0 else 1.0])
    rot = u @ np.diag(d) @ vt
    scale = (sig * d).sum() / (w * (s_c**2).sum(1)).sum()
    return np.hstack([scale * rot, (mu_d - scale * rot @ mu_s)[:, None]])


def crop(
    face: tuple[bytes, np.ndarray, np.ndarray],
    weights: np.ndarray,
    shift: tuple[int, int],
    scale: float,
    in_crop: bool,
) -> np.ndarray:
    photo, landmarks, aligned = face
    if in_crop:  # move the aligned crop itself, repeating its edge rows
        dy = shift[1]
        padded = np.pad(aligned, ((abs(dy), abs(dy)), (0, 0), (0, 0)), mode="edge")
        return padded[abs(dy) - dy : abs(dy) - dy + SIZE]
    if (weights == 1).all() and shift == (0, 0) and scale == 1.0:
        return aligned
    matrix = weighted_similarity(landmarks.astype(np.float64), weights)
    zoom = np.array([[scale, 0, SIZE / 2 * (1 - scale)], [0, scale, SIZE / 2 * (1 - scale)]])
    matrix = zoom @ np.vstack([matrix, [0, 0, 1]])
    matrix[:, 2] += shift
    return cv2.warpAffine(decode_rgb(photo), matrix, (SIZE, SIZE), flags=cv2.INTER_LINEAR)


def score(views_file: Path, specs: list[str]) -> None:
    views: Views = pickle.loads(views_file.read_bytes())
    pipeline = load_pipeline(Settings())
    pipeline.load()
    pairs = [p for p in read_pairs(DATA / "lfw" / "pairs.txt") if p.fold in TEST_FOLDS]
    labels = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    names = ("bare", "templates")
    masked = {
        v: dict(zip(views[v], pipeline.classifier.probabilities(
            [f[2] for f in views[v].values()]) >= pipeline.mask_threshold, strict=True))
        for v in names
    }  # fmt: skip
    full = {
        v: dict(zip(views[v], pipeline.extractor.embed([f[2] for f in views[v].values()]),
                    strict=True))
        for v in names
    }  # fmt: skip

    def accuracy(partial: dict[str, dict[Path, np.ndarray]], va: str, vb: str) -> str:
        scores = []
        for pair in pairs:
            a, b = pair.paths(DATA / "lfw")
            if a not in full[va] or b not in full[vb]:
                scores.append(np.nan)
            elif masked[va][a] or masked[vb][b]:
                scores.append(float(partial[va][a] @ partial[vb][b]))
            else:
                scores.append(float(full[va][a] @ full[vb][b]))
        r = summarize(np.array(scores), labels, folds)
        return (
            f"{100 * r['accuracy_mean']:.2f}% (TAR@1e-3 {100 * r['tar_at_far_1e-3']:.2f}%, "
            f"EER {100 * r['eer']:.2f}%)"
        )

    for spec in specs:
        start = time.perf_counter()
        options: dict[str, Any] = eval(f"dict({spec})")  # noqa: S307 - a research script
        weights = np.asarray(options.get("w") or [1.0] * 5, dtype=np.float64)
        partial: dict[str, dict[Path, np.ndarray]] = {}
        for v in names:
            total: dict[Path, np.ndarray] = {}
            for shift in options.get("shifts", ((0, 0),)):
                for scale in options.get("scales", (1.0,)):
                    crops = {
                        path: crop(face, weights, shift, scale, options.get("in_crop", False))
                        for path, face in views[v].items()
                    }
                    embedded = pipeline.partial.embed(list(crops.values()))
                    for path, e in zip(crops, embedded, strict=True):
                        total[path] = total.get(path, 0) + e
            partial[v] = {k: x / np.linalg.norm(x) for k, x in total.items()}
        print(
            f"{spec}\n  one side {accuracy(partial, 'templates', 'bare')}"
            f"\n  both     {accuracy(partial, 'templates', 'templates')}"
            f"\n  bare     {accuracy(partial, 'bare', 'bare')}"
            f"\n  ({time.perf_counter() - start:.0f} s)",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step", required=True)
    sub.add_parser("dump").add_argument("out", type=Path)
    scoring = sub.add_parser("score")
    scoring.add_argument("views", type=Path)
    scoring.add_argument("specs", help="variants separated by ';', e.g. \"shifts=((0,0),(0,3))\"")
    args = parser.parse_args()
    if args.step == "dump":
        dump(args.out)
    else:
        score(args.views, args.specs.split(";"))


if __name__ == "__main__":
    main()
