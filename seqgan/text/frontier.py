"""The quality-diversity frontier: MLE's temperature sweep as a curve, and whether a model lies beyond it.

On the oracle a model is a point (NLL-test, NLL-oracle), both lower-is-better; on text a point (Self-BLEU-4,
BLEU-4), lower Self-BLEU and higher BLEU better. MLE's model sampled over a range of temperatures traces a
curve on the same plane (Caccia et al., "Language GANs Falling Short", 2020): a model beats MLE only if it
lies beyond that curve, not merely below MLE's temperature-1 point on one axis. The first coordinate
(NLL-test, Self-BLEU-4) is the diversity axis: the temperatures cover only a range of it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seqgan.text.run import load_run
from seqgan.text.scoring import oracle_point

DEFAULT_TEMPERATURES = (0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.35, 1.5)
# Name and version of the verdict rule of `beyond_curve`, written beside every verdict (report.json, a study's
# summary.json) so that results of the earlier rule (no such field; points outside the sweep judged by
# extrapolation) can be told apart.
FRONTIER_RULE = "within-sweep/2"
OUTSIDE_SWEEP = "outside the sweep"  # the verdict of a point whose diversity the temperatures do not reach
# what the verdicts mean, under a table of them ({x}, {y}: the axes' names)
RULE_TEXT = ("\"beyond\" = no temperature is at least as good on both {x} and {y}, and {x} lies within the range "
             "the temperatures reach, better than the line joining the curve's Pareto front; \"outside the sweep\" "
             "= no temperature is as good on both, but {x} lies outside that range, so the sweep cannot tell "
             f"(rule {FRONTIER_RULE})")


def frontier_axes(is_text: bool) -> tuple[str, str]:
    """(x, y) keys of the frontier plane: (diversity, quality)."""
    return ("self_bleu4", "bleu4") if is_text else ("nll_test", "nll_oracle")


def beyond_curve(point: dict, curve: list[dict], is_text: bool) -> bool | str:
    """Whether a point lies beyond MLE's temperature curve: True, False or `OUTSIDE_SWEEP` (rule `FRONTIER_RULE`).

    Oracle: lower NLL-test and lower NLL-oracle are better. Text: lower Self-BLEU and higher BLEU are better.
    In that order:

    1. False if a point of the curve (a measured temperature) is at least as good on both axes: MLE gets as
       much by changing its temperature. This needs no extrapolation, so it holds outside the sweep too.
    2. `OUTSIDE_SWEEP` if the point's diversity coordinate lies outside the range the curve covers (below
       its lowest or above its highest NLL-test / Self-BLEU): nothing was measured there, so neither answer
       would be evidence. A collapsed generator (high BLEU, Self-BLEU above MLE's coldest temperature) is
       such a point; a wider temperature sweep can decide it.
    3. Otherwise True when the point is strictly better than the curve's Pareto front joined by straight
       lines, interpolated between the two neighbouring front points (the curve is not monotone: NLL-test
       rises on both sides of temperature 1, hence the front; past the front's last point its value holds,
       since every curve point there is dominated by it).

    The earlier rule (version 1) had no step 2: points more diverse than every temperature were beyond, and
    points less diverse than every temperature were compared with the front's last point.
    """
    x_key, y_key = frontier_axes(is_text)
    sign = -1.0 if is_text else 1.0  # minimise both coordinates
    pts = sorted((c[x_key], sign * c[y_key]) for c in curve)
    x, y = point[x_key], sign * point[y_key]
    if any(cx <= x and cy <= y for cx, cy in pts):
        return False
    if not pts[0][0] <= x <= pts[-1][0]:
        return OUTSIDE_SWEEP
    front: list[tuple[float, float]] = []
    for fx, fy in pts:  # by x ascending: keep points with a strictly lower y than every point before them
        if not front or fy < front[-1][1]:
            front.append((fx, fy))
    xs, ys = np.array([f[0] for f in front]), np.array([f[1] for f in front])
    return bool(y < float(np.interp(x, xs, ys)))


def beyond_counts(flags: dict) -> tuple[int, int, int]:
    """(beyond, outside the sweep, all) over the verdicts of several seeds (seed -> `beyond_curve` value)."""
    values = list(flags.values())
    return sum(v is True for v in values), sum(v == OUTSIDE_SWEEP for v in values), len(values)


def beyond_cell(flags: dict) -> str:
    """A table cell of verdicts over seeds: "2 of 3", "1 of 3 (2 outside the sweep)"."""
    k, outside, n = beyond_counts(flags)
    return f"{k} of {n}" + (f" ({outside} {OUTSIDE_SWEEP})" if outside else "")


def study_oracle_frontier(study_dir: str | Path, seeds: list[int], methods: list[str],
                          temperatures: tuple[float, ...] = DEFAULT_TEMPERATURES, baseline: str = "mle",
                          seed: int = 0, data_dir: str | None = None) -> dict | None:
    """Per seed of an oracle study, whether each method lies beyond the baseline's temperature curve on the
    (NLL-test, NLL-oracle) plane (`beyond_curve`); None without the baseline or temperatures.

    Every point is `oracle_point` of the run's last checkpoint with eval.num_samples samples (as the table's
    NLL-oracle) and sampling seed `seed`; the curve is the baseline tempered at each temperature.
    """
    if baseline not in methods or not temperatures:
        return None
    study_dir = Path(study_dir)
    keys = ("temperature", "nll_oracle", "nll_test")
    curves, points, beyond = {}, {}, {m: {} for m in methods if m != baseline}
    for s in seeds:
        runs = {m: load_run(study_dir / f"seed{s}" / m, data_dir) for m in methods}
        n = runs[baseline].config.eval.num_samples
        mine = {m: oracle_point(run, n, seed) for m, run in runs.items()}
        curve = [mine[baseline] if t == 1.0 else oracle_point(runs[baseline], n, seed, t) for t in temperatures]
        for m in beyond:
            beyond[m][s] = beyond_curve(mine[m], curve, False)
        curves[s] = [{k: c[k] for k in keys} for c in curve]
        points[s] = {m: {k: p[k] for k in keys} for m, p in mine.items()}
    return {"reference": baseline, "temperatures": list(temperatures), "n": n, "sampling_seed": seed,
            "rule": FRONTIER_RULE, "curves": curves, "points": points, "beyond": beyond}
