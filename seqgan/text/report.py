"""Compare trained runs (`seqgan compare`) and score a text study's runs: load the runs, score their samples,
test their differences, sweep the reference's temperature, and write report.json / report.md.

The points come from `seqgan.text.scoring`, the frontier verdicts from `seqgan.text.frontier` and the sentences
and tables from `seqgan.text.verdict`.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from eval.bleu import ReferenceSet, bleu, self_bleu
from eval.significance import mann_whitney_u, mean_std, welch_t_test
from seqgan.base.errors import UserError
from seqgan.core.checkpoint import atomic_write_json, atomic_write_text, load_checkpoint
from seqgan.core.log import progress_line
from seqgan.core.loop import snapshot_name
from seqgan.text.frontier import DEFAULT_TEMPERATURES, FRONTIER_RULE, beyond_curve, study_oracle_frontier
from seqgan.text.run import Run, eval_records, load_run
from seqgan.text.scoring import (
    BLEU_ORDERS,
    SMOOTHING,
    bleu_tokenization,
    oracle_point,
    tempered,
    text_point,
    text_references,
    tokens_of,
)
from seqgan.text.verdict import (
    compare_verdict,
    mean_cell,
    report_markdown,
    study_bleu_markdown,
    study_verdict,
    verdict_markdown,
)

# Names that lived here before the split, still imported from here by the study and the tests.
__all__ = [
    "DEFAULT_TEMPERATURES", "System", "beyond_curve", "compare", "compare_verdict", "load_systems", "mean_cell",
    "seed_welch_p", "stderr_progress", "study_bleu_markdown", "study_bleu_table", "study_oracle_frontier",
    "study_verdict", "tempered", "tokens_of", "training_curve", "verdict_markdown",
]

Progress = Callable[[str], None]


@dataclass
class System:
    """A run to compare: its name, folder and the loaded run."""

    name: str
    run_dir: Path
    run: Run

    @property
    def is_text(self) -> bool:
        """True for a text corpus, False for the synthetic oracle."""
        return bool(self.run.config.data.corpus)


def training_curve(system: System, samples: int, seed: int, refset: ReferenceSet | None) -> list[dict]:
    """Held-out NLL from metrics.jsonl at every evaluation, plus BLEU-4 (text) of `samples` samples drawn
    from each saved snapshot."""
    records = [r for r in eval_records(system.run_dir) if r["phase"] != "pretrain_d"]
    pretrain_epochs = max((r["epoch"] for r in records if r["phase"] == "pretrain_g"), default=0)
    g = copy.deepcopy(system.run.pair.generator)
    out = []
    for record in records:
        row = {k: v for k, v in record.items() if k.startswith("nll_") or k in ("phase", "epoch")}
        # one x axis: MLE epochs, then adversarial epochs after them
        row["step"] = record["epoch"] + (pretrain_epochs if record["phase"] == "adversarial" else 0)
        path = system.run_dir / "checkpoints" / snapshot_name(record["phase"], record["epoch"])
        if refset is not None and path.is_file():
            g.load_state_dict(load_checkpoint(path)["generator"])
            ids = g.eval().sample(samples, torch.Generator(device=system.run.device).manual_seed(seed))
            row["bleu4"] = bleu(tokens_of(system.run, ids), refset, 4, smoothing=SMOOTHING).score
        out.append(row)
    return out


def _significance(base: np.ndarray, other: np.ndarray) -> dict:
    mw, wt = mann_whitney_u(other, base), welch_t_test(other, base)
    return {"mann_whitney_p": mw.p_value, "welch_p": wt.p_value, "difference": float(other.mean() - base.mean())}


def load_systems(run_dirs: list[str], names: list[str] | None, checkpoint: str,
                 data_dir: str | None) -> list[System]:
    """Load every run (checkpoint as in `seqgan sample`); names default to each run's method."""
    if not run_dirs:
        raise UserError("give at least one run directory")
    if names and len(names) != len(run_dirs):
        raise UserError(f"--names has {len(names)} names for {len(run_dirs)} run directories")
    systems = []
    for i, run_dir in enumerate(run_dirs):
        run = load_run(run_dir, data_dir, checkpoint)
        name = names[i] if names else run.config.adversarial.method
        systems.append(System(name, Path(run_dir), run))
    if len({s.name for s in systems}) < len(systems):
        systems = [System(f"{s.name}:{s.run_dir.name}", s.run_dir, s.run) for s in systems]
    kinds = {(s.is_text, s.run.config.data.corpus, s.run.config.data.oracle) for s in systems}
    if len(kinds) > 1:
        raise UserError("the runs are on different data (corpus or oracle); compare runs of one task")
    return systems


def compare(run_dirs: list[str], out_dir: str | Path, names: list[str] | None = None, n: int = 2000,
            seed: int = 0, temperatures: tuple[float, ...] = DEFAULT_TEMPERATURES, reference: str | None = "mle",
            checkpoint: str = "last", data_dir: str | None = None, curve_samples: int = 500,
            plots: bool = True, progress: Progress | None = None) -> dict:
    """Score every run, test differences against the first, sweep the reference's temperature, write the report.

    Args:
        run_dirs: run directories on the same corpus (or the same oracle).
        out_dir: where report.md, report.json and the plots go.
        names: display names (default: each run's method).
        n: samples per system.
        seed: sampling seed (the same for every system).
        temperatures: the reference model's temperature sweep (the frontier curve).
        reference: name of the system whose temperature sweep is the curve (None: no sweep).
        checkpoint: which checkpoint of each run (last, best, an epoch).
        data_dir: data folder.
        curve_samples: samples per snapshot for BLEU over training (text).
        plots: draw the figures (matplotlib).
        progress: called with one line before each slow step (`stderr_progress()` prints them); None: silent.
    """
    say = progress or (lambda _line: None)
    systems = load_systems(run_dirs, names, checkpoint, data_dir)
    ref_system = next((s for s in systems if s.name == reference), None) if reference else None
    if reference and ref_system is None:  # before the minutes of sampling, not after them
        raise UserError(f"--reference {reference!r} is not among the systems ({', '.join(s.name for s in systems)})")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    is_text = systems[0].is_text
    refset = None
    real_row = None
    if is_text:
        say("scoring the test split (the real-text row)")
        refs = text_references(systems[0].run)
        refset = ReferenceSet(refs, 5)
        real = self_bleu(refs, 4, smoothing=SMOOTHING, tok=bleu_tokenization(systems[0].run).label)
        real_row = {"note": "each test line against all other test lines (leave-one-out): the ceiling",
                    **{f"bleu{k}": self_bleu(refs, k, smoothing=SMOOTHING).score for k in BLEU_ORDERS},
                    "self_bleu4": real.score, "self_bleu4_signature": real.signature,
                    "mean_length": float(np.mean([len(r) for r in refs])), "n": len(refs)}

    def point(system: System, temperature: float = 1.0) -> dict:
        if is_text:
            return text_point(system.run, refset, n, seed, temperature)
        return oracle_point(system.run, n, seed, temperature)

    points = {}
    for i, s in enumerate(systems, 1):
        say(f"sampling and scoring {s.name} ({i}/{len(systems)}), {n} samples")
        points[s.name] = point(s)
    for s in systems:
        points[s.name]["run_dir"] = str(s.run_dir)
        points[s.name]["method"] = s.run.config.adversarial.method
        if is_text:
            points[s.name].update(s.run.task.final(s.run.pair.generator, s.run.config))
    base = systems[0].name
    metric = "bleu4" if is_text else "nll_oracle"
    significance = {s.name: _significance(points[base]["_per_sample"][metric], points[s.name]["_per_sample"][metric])
                    for s in systems[1:]}
    curve: list[dict] = []
    if ref_system is not None:
        for j, t in enumerate(temperatures, 1):
            if t != 1.0:  # temperature 1 is the reference's own point, scored above
                say(f"temperature sweep of {ref_system.name}: {t:g} ({j}/{len(temperatures)})")
            curve.append(points[ref_system.name] if t == 1.0 else point(ref_system, t))
        for s in systems:
            points[s.name]["beyond_reference_curve"] = ("reference" if s is ref_system
                                                        else beyond_curve(points[s.name], curve, is_text))
    curves = {}
    for i, s in enumerate(systems, 1):
        say(f"training curve of {s.name} ({i}/{len(systems)})")
        curves[s.name] = training_curve(s, curve_samples, seed, refset)
    report = {
        "task": systems[0].run.config.data.corpus or f"oracle:{systems[0].run.task.oracle_name}",
        "kind": "text" if is_text else "oracle", "n": n, "seed": seed, "checkpoint": checkpoint,
        "baseline": base, "metric_for_tests": metric, "reference": reference if ref_system else None,
        "frontier_rule": FRONTIER_RULE if ref_system else None,  # what beyond_reference_curve means
        "systems": {k: _public(v) for k, v in points.items()}, "significance": significance,
        "temperature_curve": [_public(c) for c in curve], "real_text": real_row, "training_curves": curves,
    }
    report["verdict"] = compare_verdict(report)
    if plots:
        from eval.plots import draw_report_plots

        say("drawing the plots")
        report["plots"] = draw_report_plots(report, {k: v["_per_sample"] for k, v in points.items()}, out_dir)
    atomic_write_json(out_dir / "report.json", report)
    atomic_write_text(out_dir / "report.md", report_markdown(report))
    return report


def stderr_progress(command: str = "compare") -> Progress:
    """A `compare` progress callback: each line on stderr with the time since this call."""
    started = time.monotonic()

    def say(line: str) -> None:
        progress_line(f"[{command}] {line} (elapsed {time.monotonic() - started:.1f} s)")

    return say


def _public(point: dict) -> dict:
    return {k: v for k, v in point.items() if not k.startswith("_")}


def seed_welch_p(a: list[float], b: list[float]) -> float | None:
    """Two-sided Welch p of per-seed values (the seeds are the replicates); None (n/a) with fewer than two
    seeds per group, or when every seed gave the same value in both (no variance to test)."""
    if len(a) < 2 or len(b) < 2:
        return None
    p = welch_t_test(np.asarray(a, dtype=float), np.asarray(b, dtype=float)).p_value
    return None if math.isnan(p) else p


def study_bleu_table(study_dir: str | Path, seeds: list[int], methods: list[str], n: int = 2000,
                     seed: int = 0, data_dir: str | None = None, baseline: str = "mle",
                     temperatures: tuple[float, ...] = DEFAULT_TEMPERATURES, progress: Progress | None = None) -> dict:
    """BLEU-2..5, Self-BLEU-4 and NLL-test of every (seed, method) of a text study, mean ± std over seeds,
    with p-values of each method against `baseline`, the real-text row (each test line against the rest), and
    per seed whether each method lies beyond the baseline's temperature curve (BLEU-4 against Self-BLEU-4).

    p-values: Welch's t over the per-seed means (the seeds are the independent replicates; None, shown n/a,
    with one seed), and Mann-Whitney U over the per-sample BLEU-4 pooled across seeds (computable with one
    seed, but it treats samples of the same trained models as replicates, so it overstates significance).

    `progress` is called with one line before each run is scored and before the baseline's temperature sweep
    (`stderr_progress()` prints them); None: silent.
    """
    say = progress or (lambda _line: None)
    study_dir = Path(study_dir)
    per_seed: dict = {}
    pooled: dict = {m: [] for m in methods}
    real_rows = []
    sweep = baseline in methods and len(temperatures) > 0
    curves: dict = {}
    beyond: dict = {m: {} for m in methods if m != baseline} if sweep else {}
    for s in seeds:
        per_seed[s] = {}
        refs = refset = None  # the seed's test split, shared by its methods
        for method in methods:
            done = len(methods) * seeds.index(s) + methods.index(method)
            say(f"scoring seed {s} {method} ({done + 1}/{len(seeds) * len(methods)}), {n} samples")
            run = load_run(study_dir / f"seed{s}" / method, data_dir)
            if refset is None:
                refs = text_references(run)
                refset = ReferenceSet(refs, 5)
            point = text_point(run, refset, n, seed)
            point["nll_test"] = run.task.final(run.pair.generator, run.config)["nll_test"]
            pooled[method].append(point.pop("_per_sample")["bleu4"])
            per_seed[s][method] = point
            if sweep and method == baseline:  # the temperature curve: BLEU-4 and Self-BLEU-4 only
                say(f"temperature sweep of seed {s} {method}: {len(temperatures)} temperatures")
                curves[s] = [point if t == 1.0 else text_point(run, refset, n, seed, t, orders=(4,))
                             for t in temperatures]
                curves[s] = [{k: c[k] for k in ("temperature", "bleu4", "self_bleu4")} for c in curves[s]]
        for m in beyond:
            beyond[m][s] = beyond_curve(per_seed[s][m], curves[s], True)
        real_rows.append({f"bleu{k}": self_bleu(refs, k, smoothing=SMOOTHING).score for k in BLEU_ORDERS}
                         | {"self_bleu4": self_bleu(refs, 4, smoothing=SMOOTHING).score})
    keys = [f"bleu{k}" for k in BLEU_ORDERS] + ["self_bleu4", "nll_test", "mean_length"]
    table = {m: {k: mean_std([per_seed[s][m][k] for s in seeds]) for k in keys} for m in methods}
    table["real"] = {k: mean_std([r[k] for r in real_rows]) for k in real_rows[0]}
    tests = {}
    for m in methods:
        if m == baseline or baseline not in methods:
            continue
        tests[m] = {f"{k}_welch_p_over_seeds": seed_welch_p([per_seed[s][m][k] for s in seeds],
                                                            [per_seed[s][baseline][k] for s in seeds])
                    for k in keys[:6]}
        mw = mann_whitney_u(np.concatenate(pooled[m]), np.concatenate(pooled[baseline])).p_value
        tests[m]["bleu4_mann_whitney_p_pooled_samples"] = None if math.isnan(mw) else mw  # NaN: all tied
    signature = next(iter(per_seed[seeds[0]].values()))["bleu4_signature"]
    frontier = ({"reference": baseline, "temperatures": list(temperatures), "rule": FRONTIER_RULE, "curves": curves,
                 "beyond": beyond}
                if sweep else None)
    return {"seeds": seeds, "n": n, "sampling_seed": seed, "checkpoint": "last", "table": table,
            "tests": tests, "baseline": baseline, "per_seed": per_seed, "bleu_signature": signature,
            "frontier": frontier}
