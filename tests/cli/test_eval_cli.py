"""`maskgate eval pairs` and `maskgate eval lfw` on a handful of real photos: the pipeline
runs, pairs are routed to E_F or E_P as the service does, and the report folder has its
numbers and figures."""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import encode
from maskgate.cli.main import main
from maskgate.pipeline.pipeline import FacePipeline, ImageResult
from sample_faces import cameraman

FILES = ["det.png", "hist-full.png", "hist-partial.png"]
BARE = ("face.jpg", "face_flipped.png", "face_brighter.jpg", "cameraman.jpg")


@pytest.fixture(scope="module")
def photos(
    tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray, masked_astronaut: np.ndarray
) -> dict[str, Path]:
    """The astronaut bare (three ways) and masked (two ways), the cameraman (another person),
    and a photo without a face."""
    root = tmp_path_factory.mktemp("eval-photos")
    files = {
        "face.jpg": encode(astronaut, quality=95),
        "face_flipped.png": encode(np.ascontiguousarray(astronaut[:, ::-1]), "PNG"),
        "face_brighter.jpg": encode(
            np.clip(astronaut.astype(np.float32) * 1.15 + 10, 0, 255).astype(np.uint8)
        ),
        "masked.jpg": encode(masked_astronaut, quality=95),
        "masked_flipped.jpg": encode(np.ascontiguousarray(masked_astronaut[:, ::-1]), quality=95),
        "cameraman.jpg": encode(cameraman()),
        "grey.png": encode(np.full((200, 200, 3), 128, dtype=np.uint8), "PNG"),
    }
    for name, content in files.items():
        (root / name).write_bytes(content)
    return {name: root / name for name in files}


# (path_a, path_b, same): two genuine and two impostor pairs per case, and a failed pair.
PAIRS = [
    ("face.jpg", "face_flipped.png", "1"),
    ("face.jpg", "face_brighter.jpg", "true"),
    ("face.jpg", "cameraman.jpg", "0"),
    ("face_flipped.png", "cameraman.jpg", "false"),
    ("masked.jpg", "face.jpg", "1"),
    ("masked.jpg", "masked_flipped.jpg", "1"),
    ("masked.jpg", "cameraman.jpg", "0"),
    ("cameraman.jpg", "masked_flipped.jpg", "0"),
    ("grey.png", "face.jpg", "1"),
]


def _write_pairs(path: Path, rows: Sequence[Sequence[str]], header: Sequence[str]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _assert_png(path: Path) -> None:
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size[0] >= 800


def test_c_routes_the_photos_as_the_counts_below_assume(
    photos: dict[str, Path], pipeline: FacePipeline
) -> None:
    for name in (*BARE, "masked.jpg", "masked_flipped.jpg"):
        (outcome,) = pipeline.run([photos[name].read_bytes()], embed=False)
        assert isinstance(outcome, ImageResult), name
        p = pipeline.classifier.probabilities([outcome.faces[0].aligned])[0]
        assert (p >= pipeline.mask_threshold) == name.startswith("masked"), (name, p)


def test_eval_pairs_reports_each_case_with_figures(
    photos: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], model_dir: Path
) -> None:
    pairs = _write_pairs(tmp_path / "pairs.csv", PAIRS, ("path_a", "path_b", "same"))
    out = tmp_path / "report"
    root = photos["face.jpg"].parent
    assert (
        main(["eval", "pairs", "--pairs", str(pairs), "--root", str(root), "--out", str(out)]) == 0
    )

    assert sorted(p.name for p in out.iterdir()) == sorted(["pairs.json", "pairs.md", *FILES])
    for name in FILES:
        _assert_png(out / name)
    summary = json.loads((out / "pairs.json").read_text())
    groups = summary["groups"]
    assert {k: groups["all"][k] for k in ("n_pairs", "n_genuine", "n_impostor", "n_failed")} == {
        "n_pairs": 9,
        "n_genuine": 5,
        "n_impostor": 4,
        "n_failed": 1,
    }
    for case in ("full", "partial"):  # routed as `compare` routes them
        counts = {k: groups[case][k] for k in ("n_pairs", "n_genuine", "n_impostor", "n_failed")}
        assert counts == {"n_pairs": 4, "n_genuine": 2, "n_impostor": 2, "n_failed": 0}, case
        assert groups[case]["accuracy"] == 1.0, case  # the astronaut is not the cameraman
        assert groups[case]["eer"] == 0.0, case
        assert "not cross-validated" in groups[case]["accuracy_protocol"]
    assert groups["all"]["accuracy"] == 8 / 9  # the failed genuine pair is a non-match
    assert summary["failures_by_reason"] == {"no_face": 1}
    assert summary["images"] == 7

    text = (out / "pairs.md").read_text()
    assert text.startswith("# Pairs of pairs.csv\n")
    assert re.findall(r"\]\(([^)]+\.png)\)", text) == FILES
    assert "| | all pairs | full (E_F) | partial (E_P) |" in capsys.readouterr().out


def test_eval_pairs_cross_validates_over_the_fold_column(
    photos: dict[str, Path], tmp_path: Path, model_dir: Path
) -> None:
    """Relative paths resolve against the CSV's folder by default."""
    rows = [
        (str(photos[a]), str(photos[b]), same, str(i % 2)) for i, (a, b, same) in enumerate(PAIRS)
    ]
    pairs = _write_pairs(tmp_path / "folds.csv", rows, ("path_a", "path_b", "same", "fold"))
    out = tmp_path / "report"
    assert main(["eval", "pairs", "--pairs", str(pairs), "--out", str(out)]) == 0
    summary = json.loads((out / "pairs.json").read_text())
    assert summary["groups"]["all"]["accuracy_protocol"].startswith("k-fold cross-validated")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("path_a,path_b,label\nface.jpg,cameraman.jpg,0\n", "lacks columns ['same']"),
        ("path_a,path_b,same\nface.jpg,cameraman.jpg,maybe\n", "same must be 1/0 or true/false"),
    ],
)
def test_eval_pairs_refuses_a_file_it_cannot_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(text)
    assert main(["eval", "pairs", "--pairs", str(pairs), "--out", str(tmp_path / "o")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_eval_pairs_refuses_a_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", "pairs", "--pairs", str(tmp_path / "nope.csv")]) == 2
    assert "nope.csv not found" in capsys.readouterr().err


def test_eval_without_matplotlib_names_the_extra_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("path_a,path_b,same\na.jpg,b.jpg,1\n")
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    assert main(["eval", "pairs", "--pairs", str(pairs), "--out", str(tmp_path / "o")]) == 2
    assert "pip install 'maskgate[eval]'" in capsys.readouterr().err


def _lfw_layout(root: Path, photos: dict[str, Path], people: dict[str, list[str]]) -> Path:
    """An LFW folder (``images/NAME/NAME_000i.jpg``) of the named photos; pairs.txt apart."""
    for name, files in people.items():
        (root / "images" / name).mkdir(parents=True)
        for i, file in enumerate(files, start=1):
            (root / "images" / name / f"{name}_{i:04d}.jpg").write_bytes(photos[file].read_bytes())
    return root


def test_eval_lfw_splits_its_pairs_by_case(
    photos: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], model_dir: Path
) -> None:
    """A tiny LFW layout (2 folds of 2 pairs per class): lfw.json keeps its keys and counts
    the pairs of each case; the figures sit beside it."""
    people = {
        "Astro": ["face.jpg", "face_flipped.png", "masked.jpg", "face_brighter.jpg"],
        "Camera": ["cameraman.jpg"],
    }
    data = _lfw_layout(tmp_path / "lfw", photos, people)
    (data / "pairs.txt").write_text(
        "2\t2\n"
        "Astro\t1\t2\nAstro\t3\t1\nAstro\t1\tCamera\t1\nAstro\t3\tCamera\t1\n"
        "Astro\t4\t2\nAstro\t3\t4\nAstro\t2\tCamera\t1\nAstro\t4\tCamera\t1\n"
    )
    out = tmp_path / "report"
    assert main(["eval", "lfw", "--data", str(data), "--out", str(out)]) == 0
    summary = json.loads((out / "lfw.json").read_text())
    assert summary["n_pairs"] == 8
    assert summary["accuracy_mean"] == 1.0
    assert summary["cases"] == {
        "full": {"n_pairs": 5, "n_genuine": 2, "n_impostor": 3},
        "partial": {"n_pairs": 3, "n_genuine": 2, "n_impostor": 1},
        "failed": {"n_pairs": 0, "n_genuine": 0, "n_impostor": 0},
    }
    assert (out / "lfw.md").read_text().startswith("# LFW View 2")
    for name in FILES:
        _assert_png(out / name)
    assert "routed to E_P (a face masked) | 3 pairs" in capsys.readouterr().out


def test_eval_masked_lfw_writes_its_figures(
    photos: dict[str, Path], tmp_path: Path, masks_dir: Path, model_dir: Path
) -> None:
    """A tiny LFW layout of 10 folds, one pair per class: the test folds (6-10) are masked
    and scored; masked-lfw.json keeps its settings, the figures sit beside it."""
    people = {"Astro": ["face.jpg", "face_flipped.png", "face_brighter.jpg"]}
    data = _lfw_layout(tmp_path / "lfw", photos, {**people, "Camera": ["cameraman.jpg"]})
    folds = [f"Astro\t{1 + k % 2}\t{2 + k % 2}\nAstro\t{1 + k % 3}\tCamera\t1\n" for k in range(10)]
    (data / "pairs.txt").write_text("10\t1\n" + "".join(folds))
    out = tmp_path / "report"
    args = ["eval", "masked-lfw", "--data", str(data), "--masks", str(masks_dir)]
    assert main([*args, "--out", str(out)]) == 0
    report = json.loads((out / "masked-lfw.json").read_text())
    assert set(report["settings"]) == {
        "no_mask",
        "one_side",
        "both",
        "one_side_unseen",
        "both_unseen",
    }
    assert report["settings"]["no_mask"]["pipeline"]["n_pairs"] == 10
    routing = report["routing"]
    assert set(routing) == {"bare", "templates", "unseen", "bare_grey"}
    # the bare faces again, turned grey (a monochrome camera): same faces, read by C
    assert routing["bare_grey"]["images"] == routing["bare"]["images"] > 0
    assert 0.0 <= routing["bare_grey"]["classified_masked"] <= 1.0
    assert (out / "masked-lfw.md").read_text().startswith("# Masked LFW (folds 6-10)")
    for name in FILES:
        _assert_png(out / name)
