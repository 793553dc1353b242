"""The `maskgate` command line: a contract other tools rely on."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import encode
from maskgate.calibration.store import Calibration
from maskgate.cli.main import main
from maskgate.config import MatchSettings, PipelineSettings

MASK_THRESHOLD = PipelineSettings().mask_threshold  # C's p(masked) for 'masked'
DEFAULT_FMR = MatchSettings().fmr


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("images")
    files = {
        "face.jpg": encode(astronaut, quality=95),
        "face_flipped.png": encode(np.ascontiguousarray(astronaut[:, ::-1]), "PNG"),
        "grey.png": encode(np.full((200, 200, 3), 128, dtype=np.uint8), "PNG"),
        "notes.txt": b"not an image at all\n",
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    return {name: root / name for name in files}


def lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_analyze_prints_one_json_line_per_image(
    images: dict[str, Path], capsys: pytest.CaptureFixture[str], model_dir: Path
) -> None:
    code = main(
        ["analyze", str(images["face.jpg"]), str(images["grey.png"]), str(images["notes.txt"])]
    )
    face, grey, notes = lines(capsys)
    assert code == 1  # some image failed
    assert face["ok"] is True
    assert face["faces_detected"] == 1
    (detail,) = face["faces"]  # type: ignore[misc]
    assert set(detail) >= {"box", "score", "landmarks", "quality"}
    assert len(detail["landmarks"]) == 5
    assert detail["quality"]["passed"] is True
    assert grey == {
        "path": str(images["grey.png"]),
        "ok": False,
        "error": {"code": "no_face", "detail": "No face was found in the image"},
    }
    assert notes["ok"] is False
    assert notes["error"]["code"] == "unsupported_media_type"  # type: ignore[index]


@pytest.fixture(scope="module")
def masked_image(images: dict[str, Path], masked_astronaut_jpeg: bytes) -> Path:
    """The astronaut with a drawn surgical mask, beside the other images."""
    path = images["face.jpg"].parent / "face_masked.jpg"
    path.write_bytes(masked_astronaut_jpeg)
    return path


def test_compare_two_images(
    images: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    model_dir: Path,
    calibration: Calibration,
) -> None:
    assert main(["compare", str(images["face.jpg"]), str(images["face_flipped.png"])]) == 0
    (result,) = lines(capsys)
    assert set(result) >= {
        "score",
        "match",
        "threshold",
        "estimated_fmr",
        "fmr",
        "case",
        "mask_probability",
        "a",
        "b",
    }
    assert result["match"] is True
    assert result["case"] == "full"
    assert isinstance(result["score"], float)
    assert result["score"] > result["threshold"]  # type: ignore[operator]
    # Decided at the settings' operating point, at the full case's calibrated threshold.
    assert result["fmr"] == DEFAULT_FMR
    assert result["threshold"] == pytest.approx(
        calibration["full"].threshold(DEFAULT_FMR), abs=1e-6
    )
    assert result["estimated_fmr"] == pytest.approx(
        calibration["full"].estimated_fmr(result["score"]),  # type: ignore[arg-type]
        rel=1e-4,
    )
    assert result["a"]["faces_detected"] == 1  # type: ignore[index]
    assert result["a"]["faces"][0]["masked"] is False  # type: ignore[index]
    for side in ("a", "b"):
        assert 0 <= result["mask_probability"][side] < MASK_THRESHOLD  # type: ignore[index]


def test_compare_a_masked_face_on_partial_templates(
    images: dict[str, Path],
    masked_image: Path,
    capsys: pytest.CaptureFixture[str],
    calibration: Calibration,
) -> None:
    assert main(["compare", str(masked_image), str(images["face.jpg"])]) == 0
    (result,) = lines(capsys)
    assert result["case"] == "partial"
    assert result["match"] is True
    assert result["mask_probability"]["a"] >= MASK_THRESHOLD  # type: ignore[index]
    assert result["mask_probability"]["b"] < MASK_THRESHOLD  # type: ignore[index]
    assert result["a"]["faces"][0]["masked"] is True  # type: ignore[index]
    partial = calibration["partial"]
    assert result["threshold"] == pytest.approx(partial.threshold(DEFAULT_FMR), abs=1e-6)
    assert result["estimated_fmr"] == pytest.approx(
        partial.estimated_fmr(result["score"]),  # type: ignore[arg-type]
        rel=1e-4,
    )
    # --fmr moves the operating point: the partial case's threshold for it.
    assert main(["compare", str(masked_image), str(images["face.jpg"]), "--fmr", "1e-2"]) == 0
    (loose,) = lines(capsys)
    assert (loose["case"], loose["fmr"], loose["score"]) == ("partial", 1e-2, result["score"])
    assert loose["threshold"] == pytest.approx(partial.threshold(1e-2), abs=1e-6)
    assert loose["threshold"] < result["threshold"]  # type: ignore[operator]
    # --threshold replaces the threshold of whichever case is used.
    assert main(["compare", str(masked_image), str(images["face.jpg"]), "--threshold", "0.99"]) == 0
    (strict,) = lines(capsys)
    assert (strict["case"], strict["threshold"], strict["match"]) == ("partial", 0.99, False)
    assert strict["fmr"] is None
    assert strict["estimated_fmr"] == result["estimated_fmr"]


@pytest.mark.parametrize(
    "options", [["--fmr", "1e-3", "--threshold", "0.5"], ["--fmr", "0"], ["--fmr", "2"]]
)
def test_compare_refuses_a_bad_operating_point(
    images: dict[str, Path], capsys: pytest.CaptureFixture[str], options: list[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["compare", str(images["face.jpg"]), str(images["face_flipped.png"]), *options])
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "--fmr" in captured.err


def test_compare_reports_the_failure_code(
    images: dict[str, Path], capsys: pytest.CaptureFixture[str], model_dir: Path
) -> None:
    assert main(["compare", str(images["face.jpg"]), str(images["grey.png"])]) == 1
    (result,) = lines(capsys)
    assert result["score"] is None
    assert result["match"] is False
    assert result["case"] is None
    assert result["estimated_fmr"] is None
    assert result["failure"] == "no_face"
    probabilities = result["mask_probability"]
    assert isinstance(probabilities, dict)
    assert probabilities["a"] < MASK_THRESHOLD  # the face image was read
    assert probabilities["b"] is None  # no face in the grey one


def test_compare_pairs_writes_scores_and_keeps_other_columns(
    images: dict[str, Path],
    masked_image: Path,
    tmp_path: Path,
    model_dir: Path,
    calibration: Calibration,
) -> None:
    pairs = tmp_path / "pairs.csv"
    root = images["face.jpg"].parent
    rows = [
        ("face.jpg", "face_flipped.png", "same"),
        (str(images["face.jpg"]), "grey.png", "x"),  # absolute paths work too
        ("notes.txt", "face.jpg", "y"),
        ("missing.jpg", "face.jpg", "z"),
        (masked_image.name, "face.jpg", "masked"),
    ]
    with pairs.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["label", "path_a", "path_b"])
        writer.writerows([(label, a, b) for a, b, label in rows])
    out = tmp_path / "scores.csv"
    assert main(["compare", "--pairs", str(pairs), "--out", str(out), "--root", str(root)]) == 0
    with out.open(newline="") as f:
        result = list(csv.DictReader(f))
    assert list(result[0]) == [
        "label",
        "path_a",
        "path_b",
        "score",
        "failure",
        "case",
        "masked_a",
        "masked_b",
        "match",
        "estimated_fmr",
        "threshold",
    ]
    assert [r["label"] for r in result] == ["same", "x", "y", "z", "masked"]
    same, *failed, masked = result
    assert float(same["score"]) > 0.8
    assert (same["failure"], same["case"], same["masked_a"], same["masked_b"]) == (
        "",
        "full",
        "0",
        "0",
    )
    full = calibration["full"]
    assert (same["match"], same["threshold"]) == ("1", f"{full.threshold(DEFAULT_FMR):.6f}")
    assert float(same["estimated_fmr"]) == pytest.approx(
        full.estimated_fmr(float(same["score"])), rel=1e-2
    )
    assert "e-" in same["estimated_fmr"]  # scientific notation
    assert [(r["score"], r["failure"], r["case"]) for r in failed] == [
        ("", "no_face", ""),
        ("", "unsupported_media_type", ""),
        ("", "file_unreadable", ""),
    ]
    assert [(r["match"], r["estimated_fmr"], r["threshold"]) for r in failed] == [("", "", "")] * 3
    # The side that was read still says whether it was masked.
    assert [(r["masked_a"], r["masked_b"]) for r in failed] == [("0", ""), ("", "0"), ("", "0")]
    partial = calibration["partial"]
    assert masked["threshold"] == f"{partial.threshold(DEFAULT_FMR):.6f}"
    assert float(masked["score"]) > float(masked["threshold"])
    assert masked["match"] == "1"
    assert float(masked["estimated_fmr"]) == pytest.approx(
        partial.estimated_fmr(float(masked["score"])), rel=1e-2
    )
    assert (masked["failure"], masked["case"]) == ("", "partial")
    assert (masked["masked_a"], masked["masked_b"]) == ("1", "0")

    # --fmr and --threshold set the operating point of every row.
    argv = ["compare", "--pairs", str(pairs), "--out", str(out), "--root", str(root)]
    assert main([*argv, "--fmr", "1e-2"]) == 0
    with out.open(newline="") as f:
        loose = list(csv.DictReader(f))
    assert loose[0]["threshold"] == f"{full.threshold(1e-2):.6f}"
    assert loose[-1]["threshold"] == f"{partial.threshold(1e-2):.6f}"
    assert [r["score"] for r in loose] == [r["score"] for r in result]
    assert main([*argv, "--threshold", "0.999"]) == 0
    with out.open(newline="") as f:
        strict = list(csv.DictReader(f))
    assert [(r["match"], r["threshold"]) for r in strict] == [
        ("0", "0.999000"),
        ("", ""),
        ("", ""),
        ("", ""),
        ("0", "0.999000"),
    ]


def test_compare_pairs_refuses_a_csv_without_the_columns(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("a,b\nx.jpg,y.jpg\n")
    assert main(["compare", "--pairs", str(pairs), "--out", str(tmp_path / "o.csv")]) == 2


@pytest.mark.lfw
@pytest.mark.slow
def test_eval_lfw_meets_the_published_baseline(
    lfw_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], model_dir: Path
) -> None:
    """The whole View 2 protocol: 10-fold accuracy of at least 99.3% (ArcFace-R50 baseline)."""
    assert main(["eval", "lfw", "--data", str(lfw_dir), "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "lfw.json").read_text())
    assert summary["n_pairs"] == 6000
    assert summary["accuracy_mean"] >= 0.993
    assert (tmp_path / "lfw.md").read_text().startswith("# LFW View 2")
    assert "accuracy (10-fold)" in capsys.readouterr().out
