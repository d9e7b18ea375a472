"""Compare trained runs: samples -> BLEU, Self-BLEU, NLL, length and vocabulary statistics, significance,
the quality-diversity frontier against MLE's temperature sweep, and the report files.

On the oracle a model is a point (NLL-test, NLL-oracle), both lower-is-better; on text a point (Self-BLEU,
BLEU), lower Self-BLEU and higher BLEU better. MLE's model sampled over a range of temperatures traces a
curve on the same plane (Caccia et al., "Language GANs Falling Short", 2020): a model beats MLE only if it
lies beyond that curve, not merely below MLE's temperature-1 point on one axis.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from eval.bleu import ReferenceSet, RunTokenization, bleu, self_bleu
from eval.nll import nll_oracle, nll_test
from eval.significance import mann_whitney_u, mean_std, welch_t_test
from seqgan.base.errors import UserError
from seqgan.core.checkpoint import atomic_write_json, atomic_write_text, load_checkpoint
from seqgan.core.loop import snapshot_name
from seqgan.text.generator import LSTMGenerator
from seqgan.text.run import Run, eval_records, load_run

BLEU_ORDERS = (2, 3, 4, 5)
SMOOTHING = "method1"  # Texygen's choice; named in every signature
DEFAULT_TEMPERATURES = (0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.35, 1.5)


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


def tempered(generator: LSTMGenerator, temperature: float) -> LSTMGenerator:
    """A copy of G whose softmax is softmax(logits / temperature): the output layer divided by it (exact)."""
    if temperature == 1.0:
        return generator
    if temperature <= 0:
        raise UserError(f"temperatures must be > 0, got {temperature}")
    out = copy.deepcopy(generator)
    with torch.no_grad():
        out.out.weight.div_(temperature)
        out.out.bias.div_(temperature)
    return out


def bleu_tokenization(run: Run) -> RunTokenization:
    """A text run's tokenizer as BLEU's tokenization, the one `seqgan bleu --tokenizer-from RUN_DIR` uses."""
    d = run.config.data
    return RunTokenization(run.task.tokenizer, d.tokenizer, run.task.seq_len, d.too_long)  # the resolved length


def tokens_of(run: Run, ids: torch.Tensor) -> list[list[str]]:
    """Token lists for BLEU of generated ids: on text, the decoded lines (what `seqgan sample` writes) through
    `bleu_tokenization`, so scoring a samples file with `seqgan bleu --tokenizer-from` gives the same; on the
    oracle, the ids."""
    if not run.config.data.corpus:
        return [[str(t) for t in row] for row in ids.tolist()]
    return bleu_tokenization(run).tokens(run.task.decode(ids))


def text_references(run: Run) -> list[list[str]]:
    """The run's held-out test split through `bleu_tokenization` (so <unk> and truncation match G's)."""
    if run.task.test is None:
        raise UserError(f"{run.config.name}: the run has no test split to score BLEU against")
    return bleu_tokenization(run).references(run.task.splits.test)


def sample_ids(run: Run, n: int, seed: int, temperature: float = 1.0) -> torch.Tensor:
    """n samples (n, T) from the run's G at a temperature, with a seeded generator."""
    g = run.pair.generator.eval()
    return g.sample(n, torch.Generator(device=run.device).manual_seed(seed), temperature)


def text_point(run: Run, refset: ReferenceSet, n: int, seed: int, temperature: float = 1.0,
               self_bleu_samples: int = 1000, orders: tuple[int, ...] = BLEU_ORDERS) -> dict:
    """BLEU-n against the test split, Self-BLEU, lengths and vocabulary of n samples at a temperature."""
    toks = tokens_of(run, sample_ids(run, n, seed, temperature))
    out: dict = {"temperature": temperature, "n": n}
    per_sample = {}
    for k in orders:
        score = bleu(toks, refset, k, smoothing=SMOOTHING, tok=bleu_tokenization(run).label)
        out[f"bleu{k}"], out[f"bleu{k}_signature"] = score.score, score.signature
        per_sample[f"bleu{k}"] = score.per_sample
    sb = self_bleu(toks, 4, smoothing=SMOOTHING, n_samples=min(self_bleu_samples, n), seed=seed,
                   tok=bleu_tokenization(run).label)
    out["self_bleu4"], out["self_bleu4_signature"] = sb.score, sb.signature
    lengths = np.array([len(t) for t in toks])
    out["mean_length"] = float(lengths.mean())
    out["distinct_tokens"] = len({w for t in toks for w in t})
    bigrams = [tuple(t[i:i + 2]) for t in toks for i in range(len(t) - 1)]
    out["distinct_2"] = len(set(bigrams)) / max(1, len(bigrams))
    out["_per_sample"] = per_sample
    return out


def oracle_point(run: Run, n: int, seed: int, temperature: float = 1.0) -> dict:
    """NLL-oracle of n samples at a temperature and NLL-test of the tempered G, nats per token."""
    g = tempered(run.pair.generator.eval(), temperature)
    o = nll_oracle(run.task.oracle, g, n, seed, 1.0, oracle_name=run.task.oracle_name)
    t = nll_test(g, run.task.test, run.task.test_name)
    return {"temperature": temperature, "n": n, "nll_oracle": o.value,
            "nll_oracle_signature": o.signature.replace("|temp:1|", f"|temp:{temperature:g}|"),
            "nll_test": t.value, "nll_test_signature": t.signature + f"|temp:{temperature:g}",
            "_per_sample": {"nll_oracle": o.per_sample.cpu().numpy()}}


def _axes(is_text: bool) -> tuple[str, str]:
    """(x, y) keys of the frontier plane."""
    return ("self_bleu4", "bleu4") if is_text else ("nll_test", "nll_oracle")


def beyond_curve(point: dict, curve: list[dict], is_text: bool) -> bool:
    """Whether a point lies beyond MLE's temperature curve: no point of the curve (its Pareto front, joined
    by straight lines) is at least as good on both axes.

    Oracle: lower NLL-test and lower NLL-oracle are better. Text: lower Self-BLEU and higher BLEU are better.
    The curve is not monotone (NLL-test rises on both sides of temperature 1), hence the front.
    """
    x_key, y_key = _axes(is_text)
    sign = -1.0 if is_text else 1.0  # minimise both coordinates
    pts = sorted((c[x_key], sign * c[y_key]) for c in curve)
    front: list[tuple[float, float]] = []
    for x, y in pts:  # by x ascending: keep points with a strictly lower y than every point before them
        if not front or y < front[-1][1]:
            front.append((x, y))
    x, y = point[x_key], sign * point[y_key]
    if x < front[0][0]:
        return True  # more diverse than every temperature of the reference
    xs, ys = np.array([f[0] for f in front]), np.array([f[1] for f in front])
    return bool(y < float(np.interp(x, xs, ys)))  # beyond the last front point: its y holds (flat)


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
            plots: bool = True) -> dict:
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
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    systems = load_systems(run_dirs, names, checkpoint, data_dir)
    is_text = systems[0].is_text
    refset = None
    real_row = None
    if is_text:
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

    points = {s.name: point(s) for s in systems}
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
    ref_system = next((s for s in systems if s.name == reference), None) if reference else None
    if reference and ref_system is None:
        raise UserError(f"--reference {reference!r} is not among the systems ({', '.join(s.name for s in systems)})")
    if ref_system is not None:
        curve = [points[ref_system.name] if t == 1.0 else point(ref_system, t) for t in temperatures]
        for s in systems:
            points[s.name]["beyond_reference_curve"] = ("reference" if s is ref_system
                                                        else beyond_curve(points[s.name], curve, is_text))
    curves = {s.name: training_curve(s, curve_samples, seed, refset) for s in systems}
    report = {
        "task": systems[0].run.config.data.corpus or f"oracle:{systems[0].run.task.oracle_name}",
        "kind": "text" if is_text else "oracle", "n": n, "seed": seed, "checkpoint": checkpoint,
        "baseline": base, "metric_for_tests": metric, "reference": reference if ref_system else None,
        "systems": {k: _public(v) for k, v in points.items()}, "significance": significance,
        "temperature_curve": [_public(c) for c in curve], "real_text": real_row, "training_curves": curves,
    }
    report["verdict"] = compare_verdict(report)
    if plots:
        from eval.plots import draw_report_plots

        report["plots"] = draw_report_plots(report, {k: v["_per_sample"] for k, v in points.items()}, out_dir)
    atomic_write_json(out_dir / "report.json", report)
    atomic_write_text(out_dir / "report.md", report_markdown(report))
    return report


def _public(point: dict) -> dict:
    return {k: v for k, v in point.items() if not k.startswith("_")}


def _fmt_p(p: float | None) -> str:
    """A p-value for a table: 2 significant digits; n/a for None or NaN (no test possible)."""
    return "n/a" if p is None or p != p else (f"{p:.2g}" if p >= 1e-4 else "<1e-4")


def report_markdown(report: dict) -> str:
    """report.md: the systems table, significance against the first, the frontier verdicts."""
    is_text = report["kind"] == "text"
    lines = [f"# Comparison on {report['task']}", "",
             f"{report['n']} samples per system, sampling seed {report['seed']}, checkpoint `{report['checkpoint']}`.",
             ""]
    if report.get("verdict"):
        lines += [verdict_markdown(report["verdict"]), "## Numbers", ""]
    if is_text:
        head = "| system | " + " | ".join(f"BLEU-{k}" for k in BLEU_ORDERS) + \
               " | Self-BLEU-4 | NLL-test | mean length | distinct tokens | beyond MLE curve |"
        lines += [head, "|" + "---|" * (len(BLEU_ORDERS) + 6)]
        for name, p in report["systems"].items():
            cells = " | ".join(f"{p[f'bleu{k}']:.3f}" for k in BLEU_ORDERS)
            lines.append(f"| {name} | {cells} | {p['self_bleu4']:.3f} | {p.get('nll_test', float('nan')):.3f} | "
                         f"{p['mean_length']:.1f} | {p['distinct_tokens']} | {_verdict(p)} |")
        if report["real_text"]:
            r = report["real_text"]
            cells = " | ".join(f"{r[f'bleu{k}']:.3f}" for k in BLEU_ORDERS)
            lines.append(f"| real text (test, leave-one-out) | {cells} | {r['self_bleu4']:.3f} | | "
                         f"{r['mean_length']:.1f} | | |")
        sig = next(iter(report["systems"].values()))["bleu4_signature"]
        lines += ["", f"BLEU signature: `{sig}`"]
    else:
        lines += ["| system | NLL-oracle | NLL-test | beyond MLE curve |", "|---|---|---|---|"]
        for name, p in report["systems"].items():
            lines.append(f"| {name} | {p['nll_oracle']:.3f} | {p['nll_test']:.3f} | {_verdict(p)} |")
    if report["significance"]:
        what = "per-sample BLEU-4" if is_text else "per-sample NLL-oracle"
        lines += ["", f"Significance against `{report['baseline']}` on {what} (two-sided; samples are "
                      "independent draws, so unpaired tests):", "",
                  "| system | difference | Mann-Whitney p | Welch p |", "|---|---|---|---|"]
        for name, s in report["significance"].items():
            lines.append(f"| {name} | {s['difference']:+.4f} | {_fmt_p(s['mann_whitney_p'])} | "
                         f"{_fmt_p(s['welch_p'])} |")
    if report["temperature_curve"]:
        x, y = ("Self-BLEU-4", "BLEU-4") if is_text else ("NLL-test", "NLL-oracle")
        xk, yk = _axes(is_text)
        lines += ["", f"Temperature sweep of `{report['reference']}` (the reference curve):", "",
                  f"| temperature | {x} | {y} |", "|---|---|---|"]
        for c in report["temperature_curve"]:
            lines.append(f"| {c['temperature']:g} | {c[xk]:.3f} | {c[yk]:.3f} |")
        lines += ["", f"\"beyond\" = no point of the curve's Pareto front (joined by straight lines) is at least "
                  f"as good on both {x} and {y}."]
    for name in report.get("plots") or []:
        lines += ["", f"![{name}]({name})"]
    return "\n".join(lines) + "\n"


def _verdict(point: dict) -> str:
    flag = point.get("beyond_reference_curve", "n/a")
    return {True: "yes", False: "no"}.get(flag, str(flag))


def seed_welch_p(a: list[float], b: list[float]) -> float | None:
    """Two-sided Welch p of per-seed values (the seeds are the replicates); None (n/a) with fewer than two
    seeds per group, or when every seed gave the same value in both (no variance to test)."""
    if len(a) < 2 or len(b) < 2:
        return None
    p = welch_t_test(np.asarray(a, dtype=float), np.asarray(b, dtype=float)).p_value
    return None if math.isnan(p) else p


def mean_cell(value: tuple[float, float] | list[float], n_seeds: int) -> str:
    """ "mean ± std" over seeds; the value alone for one seed (a std of one value is not 0, it is undefined)."""
    mean, std = value
    return f"{mean:.3f} ± {std:.3f}" if n_seeds > 1 else f"{mean:.3f}"


def study_bleu_table(study_dir: str | Path, seeds: list[int], methods: list[str], n: int = 2000,
                     seed: int = 0, data_dir: str | None = None, baseline: str = "mle",
                     temperatures: tuple[float, ...] = DEFAULT_TEMPERATURES) -> dict:
    """BLEU-2..5, Self-BLEU-4 and NLL-test of every (seed, method) of a text study, mean ± std over seeds,
    with p-values of each method against `baseline`, the real-text row (each test line against the rest), and
    per seed whether each method lies beyond the baseline's temperature curve (BLEU-4 against Self-BLEU-4).

    p-values: Welch's t over the per-seed means (the seeds are the independent replicates; None, shown n/a,
    with one seed), and Mann-Whitney U over the per-sample BLEU-4 pooled across seeds (computable with one
    seed, but it treats samples of the same trained models as replicates, so it overstates significance).
    """
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
            run = load_run(study_dir / f"seed{s}" / method, data_dir)
            if refset is None:
                refs = text_references(run)
                refset = ReferenceSet(refs, 5)
            point = text_point(run, refset, n, seed)
            point["nll_test"] = run.task.final(run.pair.generator, run.config)["nll_test"]
            pooled[method].append(point.pop("_per_sample")["bleu4"])
            per_seed[s][method] = point
            if sweep and method == baseline:  # the temperature curve: BLEU-4 and Self-BLEU-4 only
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
    frontier = ({"reference": baseline, "temperatures": list(temperatures), "curves": curves, "beyond": beyond}
                if sweep else None)
    return {"seeds": seeds, "n": n, "sampling_seed": seed, "checkpoint": "last", "table": table,
            "tests": tests, "baseline": baseline, "per_seed": per_seed, "bleu_signature": signature,
            "frontier": frontier}


def study_oracle_frontier(study_dir: str | Path, seeds: list[int], methods: list[str],
                          temperatures: tuple[float, ...] = DEFAULT_TEMPERATURES, baseline: str = "mle",
                          seed: int = 0, data_dir: str | None = None) -> dict | None:
    """Per seed of an oracle study, whether each method lies beyond the baseline's temperature curve on the
    (NLL-test, NLL-oracle) plane; None without the baseline or temperatures.

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
            "curves": curves, "points": points, "beyond": beyond}


def study_bleu_markdown(result: dict, names: dict[str, str] | None = None) -> str:
    """The README table of a text study: mean ± std over seeds, p-values against the baseline."""
    names = names or {}
    n_seeds = len(result["seeds"])
    cols = [f"bleu{k}" for k in BLEU_ORDERS] + ["self_bleu4", "nll_test"]
    head = " | ".join(f"BLEU-{k}" for k in BLEU_ORDERS)
    beyond = (result.get("frontier") or {}).get("beyond")
    base = names.get(result["baseline"], result["baseline"]).split(" (")[0]
    extra = f" beyond {base}'s temperature curve (seeds) |" if beyond else ""
    lines = [f"| model | {head} | Self-BLEU-4 | NLL-test | p (BLEU-4 vs {result['baseline']}: seeds Welch / "
             f"samples Mann-Whitney) |{extra}", "|" + "---|" * (len(cols) + 2 + bool(beyond))]
    for m, row in result["table"].items():
        cells = " | ".join(mean_cell(row[c], n_seeds) if c in row else "" for c in cols)
        t = result["tests"].get(m)
        p = (f"{_fmt_p(t['bleu4_welch_p_over_seeds'])} / {_fmt_p(t['bleu4_mann_whitney_p_pooled_samples'])}"
             if t else "")
        label = "Real text (test line vs the other test lines)" if m == "real" else names.get(m, m)
        line = f"| {label} | {cells} | {p} |"
        if beyond:
            flags = beyond.get(m)
            line += f" {sum(map(bool, flags.values()))} of {len(flags)} |" if flags else " |"
        lines.append(line)
    how = (f"{n_seeds} seeds ({', '.join(map(str, result['seeds']))})" if n_seeds > 1 else
           f"1 seed ({result['seeds'][0]}; seed-level p-values need two, so they are n/a)")
    lines += ["", f"{how}, {result['n']} samples per run from its last checkpoint against the run's test split; "
                  f"`{result['bleu_signature']}`"]
    if beyond:
        temps = result["frontier"]["temperatures"]
        lines += ["", f"Temperature curve: {base} sampled at "
                      f"{', '.join(f'{t:g}' for t in temps)}; \"beyond\" = no point of its Pareto front (joined "
                      "by straight lines) has both BLEU-4 as high and Self-BLEU-4 as low."]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- verdicts in sentences

ALPHA = 0.05  # significance level of the verdict sentences


def _axis_sentence(name: str, base: str, axis: str, label: str, mine: float, theirs: float, higher_better: bool,
                   p: float | None, n_seeds: int, test: str = "seed-level Welch") -> str:
    """One axis of a comparison, in a sentence: better / worse / not significantly different (or one seed)."""
    numbers = f"{label} {mine:.3f} vs {theirs:.3f}, {'higher' if higher_better else 'lower'} is better"
    if mine == theirs:
        return f"{name} and {base} are equal on {axis} ({numbers})."
    word = "better" if (mine > theirs) == higher_better else "worse"
    if n_seeds < 2:
        return (f"On its one seed, {name} scores {word} than {base} on {axis} ({numbers}); one seed allows no "
                "seed-level test (p n/a), so this is no evidence about the methods.")
    if p is None:
        return f"{name} scores {word} than {base} on {axis} ({numbers}); the {test} test is n/a."
    if p < ALPHA:
        return f"{name} is {word} than {base} on {axis} ({numbers}; {test} p = {_fmt_p(p)})."
    return (f"{name} and {base} do not differ significantly on {axis} ({numbers}; {test} p = {_fmt_p(p)}, "
            f"not below {ALPHA:g}).")


def _frontier_sentence(name: str, base: str, flags: dict, temperatures: list[float], plane: str,
                       over_seeds: bool = True) -> str:
    """Whether `name` lies beyond `base`'s temperature curve: over seeds (flags: seed -> bool), or for one
    pair of runs (over_seeds False, one flag)."""
    k, n = sum(map(bool, flags.values())), len(flags)
    curve = f"{base}'s temperature curve ({plane}, temperatures {min(temperatures):g} to {max(temperatures):g})"
    seeds = "" if not over_seeds else " on its one seed" if n == 1 else " on every seed" if k == n else " on any seed"
    if k == n:
        return (f"{name} lies beyond {curve}{seeds}: no temperature of {base} is as good on both axes at once"
                + (", though one seed is no evidence about the method." if over_seeds and n == 1 else "."))
    if k == 0:
        return (f"{name} does not lie beyond {curve}{seeds}: {base} sampled at some temperature is at least "
                f"as good on both axes, so whatever {name} gains on one axis, {base} also gets by changing its "
                "temperature.")
    return (f"{name} lies beyond {curve} on {k} of {n} seeds only: no consistent gain over tuning {base}'s "
            "temperature.")


def study_verdict(summary: dict) -> list[str]:
    """The verdict of a study in sentences, from its numbers: each method against MLE on every axis (BLEU-4
    quality, Self-BLEU-4 diversity, NLL), whether it lies beyond MLE's temperature curve, and which p-value to
    read. `summary` is what `run_oracle_study` writes to summary.json (hand-made ones work too)."""
    from seqgan.text.study import METHOD_NAMES

    # short names in sentences: "MLE (early-stopped)" is "MLE" (the tables say which MLE it is)
    names = {k: v.split(" (")[0] for k, v in {**METHOD_NAMES, **summary.get("names", {})}.items()}
    baseline = summary.get("baseline", "mle")
    n = len(summary["seeds"])
    key = summary.get("metric", "nll_oracle")
    is_text = key == "nll_valid"
    bleu = summary.get("bleu") or {}
    table = summary["table"]
    if baseline not in table:
        return [f"No {names.get(baseline, baseline)} row: the study has nothing to compare the methods against."]
    base = names.get(baseline, baseline)
    out = []
    for m in table:
        if m in ("random", baseline, "real"):
            continue
        name = names.get(m, m)
        axes = []  # (axis, label, mine, theirs, higher is better, seed-level p)
        if bleu.get("table", {}).get(m):
            bt, bp = bleu["table"], bleu.get("tests", {}).get(m, {})
            axes += [("quality", "BLEU-4", bt[m]["bleu4"][0], bt[baseline]["bleu4"][0], True,
                      bp.get("bleu4_welch_p_over_seeds")),
                     ("diversity", "Self-BLEU-4", bt[m]["self_bleu4"][0], bt[baseline]["self_bleu4"][0], False,
                      bp.get("self_bleu4_welch_p_over_seeds"))]
        tp = summary.get("tests", {}).get(m, {})
        if is_text:
            axes.append(("held-out likelihood", "NLL-valid", table[m][key][0], table[baseline][key][0], False,
                         tp.get(f"{key}_welch_p_over_seeds")))
        else:
            axes += [("quality as the oracle judges it", "NLL-oracle", table[m][key][0], table[baseline][key][0],
                      False, tp.get(f"{key}_welch_p_over_seeds")),
                     ("coverage of held-out oracle data", "NLL-test", table[m]["nll_test"][0],
                      table[baseline]["nll_test"][0], False, tp.get("nll_test_welch_p_over_seeds"))]
        out += [_axis_sentence(name, base, *axis, n_seeds=n) for axis in axes]
        frontier = (bleu.get("frontier") if is_text else summary.get("frontier")) or {}
        flags = (frontier.get("beyond") or {}).get(m)
        plane = "BLEU-4 against Self-BLEU-4" if is_text else "NLL-oracle against NLL-test"
        if flags:
            out.append(_frontier_sentence(name, base, flags, frontier["temperatures"], plane))
        else:
            out.append(f"Whether {name} lies beyond {base}'s temperature curve was not computed (no temperature "
                       "sweep" + (", no BLEU samples" if is_text and not bleu else "") + ").")
    if n >= 2:
        read = (f"Which p-value to read: the seed-level Welch test. Each of the {n} seeds is an independently "
                "trained model, so the seeds are the replicates")
        if bleu:
            read += ("; the per-sample Mann-Whitney p pools thousands of samples of the same few models as if "
                     "each sample were a replicate, and overstates significance")
        out.append(read + ".")
    else:
        out.append("Which p-value to read: none settles which method is better. With one seed there is no "
                   "seed-level test (n/a)" + ("; the per-sample Mann-Whitney p, still computed, only says whether "
                                              "these two trained models' samples differ, not whether the methods do"
                                              if bleu else "")
                   + ". Train more seeds (e.g. --seeds 1,2,3) for a seed-level test.")
    return out


def compare_verdict(report: dict) -> list[str]:
    """The verdict of `seqgan compare` in sentences, from its numbers: each system against the baseline (the
    first) on every axis, whether it lies beyond the reference's temperature curve, and what its p-values
    can and cannot say (one run per system: they compare two trained models, not two methods)."""
    is_text = report["kind"] == "text"
    systems, base = report["systems"], report["baseline"]
    if is_text:
        axes = [("quality", "BLEU-4", "bleu4", True), ("diversity", "Self-BLEU-4", "self_bleu4", False),
                ("held-out likelihood", "NLL-test", "nll_test", False)]
    else:
        axes = [("quality as the oracle judges it", "NLL-oracle", "nll_oracle", False),
                ("coverage of held-out oracle data", "NLL-test", "nll_test", False)]
    tested = report["metric_for_tests"]
    out = []
    for name, point in systems.items():
        if name == base:
            continue
        sig = report["significance"].get(name, {})
        for axis, label, k, higher in axes:
            if k not in point or k not in systems[base]:
                continue
            p = sig.get("mann_whitney_p") if k == tested else None
            if k == tested:
                out.append(_axis_sentence(name, base, axis, label, point[k], systems[base][k], higher, p, 2,
                                          test="per-sample Mann-Whitney"))
            else:
                word = ("the same as" if point[k] == systems[base][k] else
                        "better than" if (point[k] > systems[base][k]) == higher else "worse than")
                out.append(f"{name} scores {word} {base} on {axis} ({label} {point[k]:.3f} vs {systems[base][k]:.3f}, "
                           f"{'higher' if higher else 'lower'} is better; not tested).")
        flag = point.get("beyond_reference_curve")
        if isinstance(flag, bool) and report.get("reference"):
            plane = "BLEU-4 against Self-BLEU-4" if is_text else "NLL-oracle against NLL-test"
            temps = [c["temperature"] for c in report.get("temperature_curve", [])] or [1.0]
            out.append(_frontier_sentence(name, report["reference"], {0: flag}, temps, plane, over_seeds=False))
    if len(systems) > 1:
        out.append("Which p-value to read: each system here is one trained run, so the per-sample p-values only "
                   "say whether these models' samples differ, not whether their methods do (samples of one model "
                   "are not replicates of a method). To compare methods, train several seeds of each "
                   "(`seqgan study`) and read its seed-level test.")
    return out


def verdict_markdown(sentences: list[str]) -> str:
    """A "Verdict" section: one bullet per sentence."""
    return "## Verdict\n\n" + "".join(f"- {s}\n" for s in sentences)
