"""Fit a calibration, and check one on comparisons it never saw."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from maskgate.calibration.curve import FmrCurve
from maskgate.calibration.pairs import Accepted, accepted_at, score_counts
from maskgate.calibration.settings import Setting
from maskgate.calibration.store import Calibration
from maskgate.matching import Case

CHECK_FMRS = (1e-2, 1e-3, 1e-4)


def fit_curves(settings: dict[Case, list[Setting]]) -> dict[Case, FmrCurve]:
    curves = {}
    for case, case_settings in settings.items():
        counted = [score_counts(s.a, s.b, s.same_set) for s in case_settings]
        curves[case] = FmrCurve.fit([imp for imp, _ in counted], [gen for _, gen in counted])
    return curves


def _rate(hits: int, total: int) -> float | None:
    return hits / total if total else None


def _mean(rates: Sequence[float | None]) -> float | None:
    known = [r for r in rates if r is not None]
    return float(np.mean(known)) if known else None


def _row(
    case: Case, setting: str, fmr: float, threshold: float, accs: Sequence[Accepted], i: int
) -> dict[str, Any]:
    """One operating point of one case or setting: settings weighted equally."""
    observed = _mean([_rate(int(a.impostors[i]), a.impostor_total) for a in accs])
    accepted = _mean([_rate(int(a.genuines[i]), a.genuine_total) for a in accs])
    return {
        "case": case,
        "setting": setting,
        "requested_fmr": fmr,
        "threshold": round(threshold, 4),
        "observed_fmr": observed,
        "ratio": None if observed is None else observed / fmr,
        "observed_fnmr": None if accepted is None else 1.0 - accepted,
        "impostors": sum(a.impostor_total for a in accs),
        "false_matches": int(sum(a.impostors[i] for a in accs)),
        "genuines": sum(a.genuine_total for a in accs),
    }


def check(
    calibration: Calibration,
    settings: dict[Case, list[Setting]],
    fmrs: Sequence[float] = CHECK_FMRS,
) -> list[dict[str, Any]]:
    """Observed FMR (and FNMR) at the calibrated threshold of each requested FMR, per case
    (settings weighted equally, as in the calibration) and per setting. Rates are None
    where there is no comparison to count."""
    rows: list[dict[str, Any]] = []
    for case, case_settings in settings.items():
        curve = calibration[case]
        thresholds = np.array([curve.threshold(f) for f in fmrs])
        counted = [(s.name, accepted_at(s.a, s.b, thresholds, s.same_set)) for s in case_settings]
        for i, fmr in enumerate(fmrs):
            t = float(thresholds[i])
            if len(counted) == 1:
                rows.append(_row(case, counted[0][0], fmr, t, [counted[0][1]], i))
                continue
            rows.append(_row(case, "all", fmr, t, [acc for _, acc in counted], i))
            rows.extend(_row(case, name, fmr, t, [acc], i) for name, acc in counted)
    return rows


def check_markdown(rows: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| case | setting | requested FMR | threshold | observed FMR | observed / requested "
        "| false matches / impostors | FNMR |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        observed = "n/a" if r["observed_fmr"] is None else f"{r['observed_fmr']:.2e}"
        ratio = "n/a" if r["ratio"] is None else f"{r['ratio']:.2f}"
        fnmr = "n/a" if r["observed_fnmr"] is None else f"{100 * r['observed_fnmr']:.2f}%"
        lines.append(
            f"| {r['case']} | {r['setting']} | {r['requested_fmr']:.0e} | {r['threshold']:.4f} "
            f"| {observed} | {ratio} | {r['false_matches']:,} / {r['impostors']:,} | {fnmr} |"
        )
    return "\n".join(lines) + "\n"
