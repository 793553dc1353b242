"""Masked LFW: the pairs of folds 6-10 with synthetic masks, scored three ways.

Every image of those pairs is seen as it is, with a MaskTheFace template mask (the paper's
protocol) and with a mask of a style that training never saw. A mask is drawn on the photo,
which then goes through the whole pipeline (detected, aligned, classified, embedded).

Settings: no mask (a, b bare), one side masked (a masked, b bare), both masked. Systems:
the pipeline as served (C routes each comparison to E_F or E_P) and E_F alone. Accuracy is
cross-validated over the 5 test folds (threshold from the other 4); failures count as
non-matches.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from maskgate.calibration.fit import check, check_markdown
from maskgate.calibration.settings import Analysed, case_settings
from maskgate.calibration.store import Calibration
from maskgate.errors import MaskgateError
from maskgate.eval.lfw_protocol import Pair, read_pairs
from maskgate.eval.metrics import kfold_accuracy, summarize
from maskgate.eval.report import Figures
from maskgate.masks.photos import decode_rgb, encode_jpeg, mask_faces
from maskgate.masks.synth import MaskSynthesizer, rng_for
from maskgate.matching import CASES, Templates, cosine, route
from maskgate.pipeline.choose import FacePolicy
from maskgate.pipeline.files import chunks
from maskgate.pipeline.pipeline import FacePipeline, ImageResult
from maskgate.train.batches import greyed
from maskgate.train.protocol import TEMPLATE_STYLES, TEST_FOLDS, UNSEEN_STYLES

VIEWS = {"templates": TEMPLATE_STYLES, "unseen": UNSEEN_STYLES}
SETTINGS = ("no_mask", "one_side", "both")
SYSTEM_NAMES = {"pipeline": "pipeline", "e_f": "E_F alone"}
TITLE = "Masked LFW (folds 6-10)"


@dataclass
class View:
    """Aligned crops of every image in one view (bare or masked), with the failures."""

    crops: dict[Path, np.ndarray]
    failures: dict[Path, str]


@dataclass
class Scored:
    templates: dict[Path, Templates]
    p_masked: dict[Path, float]


@dataclass(frozen=True)
class Evaluation:
    """The report, and the scores behind it: per (setting, system), one score and case per
    pair (``pair_scores``), all on the same pairs (``labels``)."""

    report: dict[str, Any]
    labels: np.ndarray
    scores: dict[tuple[str, str], tuple[np.ndarray, list[str]]]

    def figures(self) -> Figures:
        """DET curves per setting and system (E_F alone dashed beside the pipeline), and the
        pipeline's pairs of each case, pooled over the settings, for the histograms."""
        det = {
            f"{setting} · {SYSTEM_NAMES[system]}": (scores, self.labels)
            for (setting, system), (scores, _) in self.scores.items()
        }
        routed = [
            (scores, np.array(cases))
            for (_, system), (scores, cases) in self.scores.items()
            if system == "pipeline"
        ]
        by_case: dict[str, tuple[np.ndarray, np.ndarray]] = {
            case: (
                np.concatenate([s[c == case] for s, c in routed]),
                np.concatenate([self.labels[c == case] for _, c in routed]),
            )
            for case in CASES
        }
        dashed = frozenset(label for label in det if label.endswith(SYSTEM_NAMES["e_f"]))
        return Figures(det=det, cases=by_case, dashed=dashed)


def _crop(outcome: ImageResult | MaskgateError) -> np.ndarray | str:
    if isinstance(outcome, MaskgateError):
        return outcome.code
    try:
        return outcome.usable_face().aligned
    except MaskgateError as error:
        return error.code


def view_photos(
    pipeline: FacePipeline, synth: MaskSynthesizer, part: Sequence[Path], seed: int
) -> dict[str, list[bytes | None]]:
    """The photos as each view shows them: bare, and with a mask of the view's styles drawn
    (JPEG bytes; None where no face was found to draw it on)."""
    data = [p.read_bytes() for p in part]
    photos = [decode_rgb(d) for d in data]
    found = pipeline.detector.predict_batch(photos)
    batches: dict[str, list[bytes | None]] = {"bare": list(data)}
    for name, styles in VIEWS.items():
        rngs = [rng_for(seed, f"{p.name}:{name}") for p in part]
        made = mask_faces(synth, photos, found, rngs, list(styles))
        batches[name] = [encode_jpeg(m[0]) if m else None for m in made]
    return batches


def collect_views(
    pipeline: FacePipeline,
    synth: MaskSynthesizer,
    paths: Sequence[Path],
    seed: int,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, View]:
    """Bare and masked aligned crops of every image, by view name (bare, templates, unseen)."""
    views = {name: View({}, {}) for name in ("bare", *VIEWS)}
    for done, part in enumerate(chunks(paths, 32)):
        for name, encoded in view_photos(pipeline, synth, part, seed).items():
            todo = [(p, e) for p, e in zip(part, encoded, strict=True) if e is not None]
            outcomes = pipeline.run([e for _, e in todo], embed=False, policy=FacePolicy.CENTRAL)
            for (path, _), outcome in zip(todo, outcomes, strict=True):
                crop = _crop(outcome)
                if isinstance(crop, str):
                    views[name].failures[path] = crop
                else:
                    views[name].crops[path] = crop
            for path, e in zip(part, encoded, strict=True):
                if e is None:
                    views[name].failures[path] = "no_face"
        progress(f"{min((done + 1) * 32, len(paths))}/{len(paths)} images")
    return views


def score_view(pipeline: FacePipeline, view: View) -> Scored:
    """C, E_F and E_P on the crops, exactly as the pipeline runs them."""
    paths = list(view.crops)
    analyses = pipeline.analyse([view.crops[p] for p in paths])
    return Scored(
        {
            path: Templates(a.embedding, a.embedding_partial, a.masked)
            for path, a in zip(paths, analyses, strict=True)
        },
        {path: a.mask_probability for path, a in zip(paths, analyses, strict=True)},
    )


def pair_scores(
    pairs: Sequence[Pair], root: Path, a: Scored, b: Scored, system: str
) -> tuple[np.ndarray, list[str]]:
    """Scores of every pair (a's first image against b's second); NaN where one failed."""
    scores, cases = [], []
    for pair in pairs:
        pa, pb = pair.paths(root)
        ta, tb = a.templates.get(pa), b.templates.get(pb)
        if ta is None or tb is None:
            scores.append(np.nan)
            cases.append("failed")
            continue
        case = route(ta.masked, tb.masked) if system == "pipeline" else "full"
        scores.append(cosine(ta.vector(case), tb.vector(case)))
        cases.append(case)
    return np.array(scores), cases


def score(
    pipeline: FacePipeline,
    synth: MaskSynthesizer,
    data_dir: Path,
    *,
    seed: int = 0,
    progress: Callable[[str], None] = lambda _: None,
    views: dict[str, View] | None = None,
    calibration: Calibration | None = None,
) -> Evaluation:
    """Score every setting with both systems; the report and the scores behind it. With a
    calibration, also check it on every comparison of two different photos of the test
    folds (``calibration_check``)."""
    pairs = [p for p in read_pairs(data_dir / "pairs.txt") if p.fold in TEST_FOLDS]
    paths = list(dict.fromkeys(x for p in pairs for x in p.paths(data_dir)))
    start = time.perf_counter()
    if views is None:
        views = collect_views(pipeline, synth, paths, seed, progress)
    scored = {name: score_view(pipeline, view) for name, view in views.items()}
    labels = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    results: dict[str, Any] = {}
    all_scores: dict[tuple[str, str], tuple[np.ndarray, list[str]]] = {}
    for style in VIEWS:
        setting_views = {
            "no_mask": ("bare", "bare"),
            "one_side": (style, "bare"),
            "both": (style, style),
        }
        for setting, (va, vb) in setting_views.items():
            if setting == "no_mask" and style != "templates":
                continue
            key = setting if style == "templates" else f"{setting}_unseen"
            for system in ("pipeline", "e_f"):
                s, cases = pair_scores(pairs, data_dir, scored[va], scored[vb], system)
                all_scores[key, system] = (s, cases)
                summary: dict[str, Any] = dict(summarize(s, labels, folds))
                # the mean of the 5 folds' best-accuracy thresholds (each from the other 4)
                summary["threshold"] = float(np.mean(kfold_accuracy(s, labels, folds).thresholds))
                summary["partial_share"] = cases.count("partial") / len(cases)
                results.setdefault(key, {})[system] = summary
    routing = {
        name: {
            "images": len(view.crops),
            "classified_masked": float(np.mean([s >= pipeline.mask_threshold
                                                for s in scored[name].p_masked.values()])),
            "failures": len(view.failures),
        }
        for name, view in views.items()
    }  # fmt: skip
    routing["bare_grey"] = grey_routing(pipeline, views["bare"])
    report = {
        "protocol": "LFW View 2 folds 6-10 (3,000 pairs), 5-fold cross-validated accuracy",
        "seed": seed,
        "template_styles": list(TEMPLATE_STYLES),
        "unseen_styles": list(UNSEEN_STYLES),
        "settings": results,
        "routing": routing,
        "images": len(paths),
    }
    if calibration is not None:
        progress("checking the calibration on every pair of photos")
        report["calibration_check"] = calibration_check(calibration, scored)
    report["seconds"] = round(time.perf_counter() - start, 1)
    return Evaluation(report, labels, all_scores)


def grey_routing(pipeline: FacePipeline, bare: View) -> dict[str, Any]:
    """The bare crops turned grey, as a monochrome gate camera sees them: the share that C
    calls masked (each such face goes to E_P)."""
    grey = [greyed(crop) for crop in bare.crops.values()]
    p = pipeline.classifier.probabilities(grey)
    return {
        "images": len(grey),
        "classified_masked": float(np.mean(p >= pipeline.mask_threshold)) if len(grey) else 0.0,
        "failures": len(bare.failures),
    }


def _analysed(scored: Scored, people: dict[str, int], photos: dict[Path, int]) -> Analysed:
    paths = list(scored.templates)
    templates = [scored.templates[p] for p in paths]
    return Analysed(
        full=np.stack([t.full for t in templates]),
        partial=np.stack([t.vector("partial") for t in templates]),
        masked=np.array([t.masked for t in templates]),
        person=np.array([people[p.parent.name] for p in paths]),
        photo=np.array([photos[p] for p in paths]),
    )


def calibration_check(
    calibration: Calibration, scored: dict[str, Scored]
) -> dict[str, list[dict[str, Any]]]:
    """Observed FMR at the calibrated thresholds of FMR 1e-2, 1e-3, 1e-4, per case, over
    every comparison of two different photos of the test folds (not only the pairs)."""
    paths = list(dict.fromkeys(p for s in scored.values() for p in s.templates))
    people = {name: i for i, name in enumerate(dict.fromkeys(p.parent.name for p in paths))}
    photos = {path: i for i, path in enumerate(paths)}
    bare = _analysed(scored["bare"], people, photos)
    return {
        name: check(calibration, case_settings(bare, _analysed(scored[name], people, photos)))
        for name in VIEWS
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "| setting | system | accuracy | TAR@FAR 1e-3 | EER | threshold | E_P share | failed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    names = {"pipeline": "pipeline (C routes E_F/E_P)", "e_f": SYSTEM_NAMES["e_f"]}
    for setting, systems in report["settings"].items():
        for system, s in systems.items():
            lines.append(
                f"| {setting} | {names[system]} | {100 * s['accuracy_mean']:.2f}% "
                f"± {100 * s['accuracy_std']:.2f} | {100 * s['tar_at_far_1e-3']:.2f}% "
                f"| {100 * s['eer']:.2f}% | {s['threshold']:.3f} | {100 * s['partial_share']:.1f}% "
                f"| {s['n_failed']} |"
            )
    lines += ["", "| view | images | classified masked by C | failed |", "|---|---|---|---|"]
    for name, r in report["routing"].items():
        lines.append(
            f"| {name} | {r['images']} | {100 * r['classified_masked']:.2f}% | {r['failures']} |"
        )
    for name, rows in report.get("calibration_check", {}).items():
        lines += [
            "",
            f"Calibration check, masks of the {name} view: every comparison of two different "
            "photos of folds 6-10, at the thresholds the calibration (folds 1-5) gives",
            "",
            check_markdown(rows).rstrip("\n"),
        ]
    return "\n".join(lines) + "\n"
