"""Pipeline benchmark: model latency per batch size and end-to-end images/s.

    python ops/bench/pipeline_bench.py [--lfw ../shared/data/lfw] [--repeat 20]

Prints, on this machine:
- ms/face at batch 1 and 32 of the embedders (E_F: `embedder_*`, E_P: `partial_*`) and of
  the mask classifier C (`classifier_*`), and the detector's ms/image;
- `maskgate compare --pairs` over every LFW View 2 pair (decode + detect + align + embed,
  each distinct image once): images/s and pairs/s. Without LFW, 512 augmented copies of
  scikit-image's astronaut stand in.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from maskgate.cli.main import main as maskgate
from maskgate.config import Settings
from maskgate.eval.lfw_protocol import read_pairs
from maskgate.pipeline.pipeline import FacePipeline


def per_item_ms(fn: object, batch: object, size: int, repeat: int) -> dict[str, float]:
    fn(batch)  # type: ignore[operator]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(batch)  # type: ignore[operator]
        times.append((time.perf_counter() - start) * 1000 / size)
    times.sort()
    return {
        "median": round(statistics.median(times), 2),
        "p90": round(times[int(0.9 * len(times))], 2),
    }


def model_latency(pipeline: FacePipeline, repeat: int) -> dict[str, object]:
    rng = np.random.default_rng(0)
    crops = list(rng.integers(0, 255, size=(32, 112, 112, 3), dtype=np.uint8))
    out: dict[str, object] = {}
    for size in (1, 32):
        # max_batch is raised so that batch 32 really is one model call
        for name, extractor in (("embedder", pipeline.extractor), ("partial", pipeline.partial)):
            extractor.max_batch = size
            out[f"{name}_ms_per_face_batch{size}"] = per_item_ms(
                extractor.embed, crops[:size], size, repeat
            )
        out[f"classifier_ms_per_face_batch{size}"] = per_item_ms(
            pipeline.classifier.probabilities, crops[:size], size, repeat
        )
    image = rng.integers(0, 255, size=(250, 250, 3), dtype=np.uint8)
    for size in (1, 8):
        out[f"detector_ms_per_image_250px_batch{size}"] = per_item_ms(
            pipeline.detector.predict_batch, [image] * size, size, max(3, repeat // 4)
        )
    return out


def synthetic_pairs(root: Path) -> Path:
    from skimage import data

    face = data.astronaut()
    rng = np.random.default_rng(0)
    names = []
    for i in range(512):
        img = np.clip(face * rng.uniform(0.7, 1.3), 0, 255).astype(np.uint8)
        if i % 2:
            img = np.ascontiguousarray(img[:, ::-1])
        buffer = io.BytesIO()
        Image.fromarray(img).save(buffer, "JPEG", quality=int(rng.integers(60, 95)))
        (root / f"face_{i}.jpg").write_bytes(buffer.getvalue())
        names.append(f"face_{i}.jpg")
    pairs = root / "pairs.csv"
    with pairs.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path_a", "path_b"])
        w.writerows(zip(names[::2], names[1::2], strict=True))
    return pairs


def lfw_pairs(lfw: Path, root: Path) -> Path:
    pairs = root / "pairs.csv"
    with pairs.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["fold", "same", "path_a", "path_b"])
        for p in read_pairs(lfw / "pairs.txt"):
            a, b = p.paths(lfw)
            w.writerow([p.fold, int(p.same), a, b])
    return pairs


def end_to_end(pairs: Path, out: Path) -> dict[str, float]:
    with pairs.open(newline="") as f:
        rows = list(csv.DictReader(f))
    images = len({r[c] for r in rows for c in ("path_a", "path_b")})
    start = time.perf_counter()
    code = maskgate(["compare", "--pairs", str(pairs), "--out", str(out)])
    seconds = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"compare --pairs failed with exit code {code}")
    return {
        "pairs": len(rows),
        "images": images,
        "seconds": round(seconds, 2),
        "images_per_s": round(images / seconds, 1),
        "pairs_per_s": round(len(rows) / seconds, 1),
    }


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw", type=Path, help="LFW dir (pairs.txt, images/)")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    pipeline = FacePipeline.from_settings(Settings())
    pipeline.load()
    result: dict[str, object] = {"threads": pipeline.extractor.threads}
    result["providers"] = pipeline.extractor.providers
    result.update(model_latency(pipeline, args.repeat))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        lfw_ok = args.lfw is not None and (args.lfw / "pairs.txt").is_file()
        pairs = lfw_pairs(args.lfw, root) if lfw_ok else synthetic_pairs(root)
        result["end_to_end_dataset"] = "lfw-view2" if lfw_ok else "synthetic-astronaut"
        result["end_to_end"] = end_to_end(pairs, root / "scores.csv")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    run()
