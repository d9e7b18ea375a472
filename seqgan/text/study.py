"""The method study: random G, MLE, constant-reward PG and SeqGAN over several seeds, as one command.

On the oracle the yardstick is NLL-oracle; on a text corpus it is NLL on the validation split (NLL-test
is reported beside it in both cases).

Each seed pretrains once (G by MLE, then D); every method branches off that same checkpoint with the same
random state, so the methods differ only in their adversarial phase. The "mle" method replaces that phase by
more MLE epochs; with `schedule.early_stop_patience` > 0 (the text presets) it stops once NLL-valid stops
improving and keeps its best epoch, so its row is the early-stopped MLE model.

Everything that can be checked (arguments, methods, the corpus and its split sizes, the output folder, runs
already there) is checked before any training. One seed gives the tables too: its p-values are n/a, since the
seed-level tests need two seeds per method.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from eval.significance import mean_std
from seqgan.base.errors import UserError
from seqgan.base.outputs import check_output_folder, check_run_dir
from seqgan.core.checkpoint import CheckpointError, atomic_write_json, atomic_write_text, load_checkpoint
from seqgan.core.distributed import is_main
from seqgan.core.lifecycle import RunDir
from seqgan.core.log import MetricsLog
from seqgan.core.loop import Phase, check_not_shortened
from seqgan.text.config import ExperimentConfig, apply_overrides
from seqgan.text.frontier import RULE_TEXT, beyond_cell
from seqgan.text.report import (
    DEFAULT_TEMPERATURES,
    mean_cell,
    seed_welch_p,
    stderr_progress,
    study_bleu_markdown,
    study_bleu_table,
    study_oracle_frontier,
    study_verdict,
    verdict_markdown,
)
from seqgan.text.run import TEXT, build_run

# name -> config overrides of the adversarial phase
METHODS: dict[str, list[str]] = {
    "mle": ["adversarial.method=mle"],
    "constant": ["adversarial.method=constant"],
    "seqgan": ["adversarial.method=seqgan"],
    "seqgan-baseline": ["adversarial.method=seqgan", "adversarial.baseline=mean"],
    # SeqGAN held near the pretrained G by a per-token KL penalty; 0.1 is the scale Ziegler et al. (2019)
    # start from when fine-tuning language models with RL (rewards here are D's probabilities, in [0, 1])
    "seqgan-kl": ["adversarial.method=seqgan", "adversarial.kl_coef=0.1"],
    "ss": ["adversarial.method=ss"],
    # the original PG-BLEU: BLEU-3, unsmoothed, 40% of the training data as references, one rollout
    "pg-bleu": ["adversarial.method=pg-bleu", "adversarial.num_rollouts=1"],
}
METHOD_NAMES = {"random": "Random G (before training)", "mle": "MLE (continued)",
                "constant": "PG, constant reward 1", "seqgan": "SeqGAN",
                "seqgan-baseline": "SeqGAN, mean-reward baseline", "seqgan-kl": "SeqGAN, KL anchor 0.1",
                "ss": "Scheduled sampling", "pg-bleu": "PG-BLEU (BLEU-3 reward)"}
PAPER_TABLE1 = {"random": 10.310, "mle": 9.038, "ss": 8.985, "pg-bleu": 8.946, "seqgan": 8.736}
# the MLE row of a study whose config early-stops MLE (schedule.early_stop_patience > 0)
MLE_EARLY_STOPPED = "MLE (early-stopped)"
STUDY_ENTRIES = re.compile(r"seed-?\d+|summary\.json|table\.md")  # what makes a folder a study's


def early_stop_patience(config: ExperimentConfig) -> int:
    """The config's MLE early-stopping patience (0: off, or a config from before the key existed)."""
    return int(getattr(config.schedule, "early_stop_patience", 0) or 0)


def method_names(config: ExperimentConfig) -> dict[str, str]:
    """Row names of a study with this config: the MLE row is "MLE (early-stopped)" when MLE early-stops."""
    return {**METHOD_NAMES, "mle": MLE_EARLY_STOPPED if early_stop_patience(config) else METHOD_NAMES["mle"]}


def early_stops(run_dir: str | Path) -> dict[str, dict]:
    """A run's early-stopping events by phase: {phase: {"epoch", "best_epoch", ...}} (empty if none fired)."""
    records = MetricsLog(Path(run_dir) / "metrics.jsonl").read()
    return {r["phase"]: {k: v for k, v in r.items() if k not in ("phase", "event")}
            for r in records if r.get("event") == "early_stop"}


def _seed_dir_name(seed: int) -> str:
    return f"seed{seed}"


def check_study(base: ExperimentConfig, seeds: list[int], methods: list[str], out_dir: str | Path,
                data_dir: str | None = None, bleu_samples: int = 2000,
                temperatures: tuple[float, ...] = DEFAULT_TEMPERATURES) -> dict[int, dict[str, ExperimentConfig]]:
    """Everything about a study that can go wrong before training, checked before any training starts.

    Returns {seed: {"pretrain": config, method: config, ...}}, the config of every run of the study.
    """
    if not seeds:
        raise UserError("--seeds is empty; give at least one seed, e.g. --seeds 1,2,3")
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise UserError(f"--seeds repeats {', '.join(map(str, repeated))}; each seed is one replicate")
    if not methods:
        raise UserError(f"--methods is empty; choose from {', '.join(METHODS)}")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise UserError(f"unknown method(s) {', '.join(unknown)}; known: {', '.join(METHODS)}")
    if len(set(methods)) < len(methods):
        raise UserError(f"--methods lists a method twice ({', '.join(methods)})")
    is_text = bool(base.data.corpus)
    if bleu_samples < 0 or (is_text and bleu_samples == 1):
        raise UserError(f"--bleu-samples must be 0 (no BLEU table) or at least 2 (Self-BLEU compares samples "
                        f"with each other), got {bleu_samples}")
    if any(not t > 0 for t in temperatures):
        raise UserError("--temperatures must all be > 0")
    out_dir = Path(out_dir)
    check_output_folder(out_dir, "--out")
    if out_dir.is_dir():
        entries = [e.name for e in out_dir.iterdir()]
        if entries and not any(STUDY_ENTRIES.fullmatch(e) for e in entries):
            raise UserError(f"--out {out_dir} is a folder of other files (e.g. {sorted(entries)[0]}), not a study; "
                            "pass a new or empty folder, or an earlier study's folder to resume it")
    elif not os.access(next(p for p in out_dir.absolute().parents if p.exists()), os.W_OK):
        raise UserError(f"--out {out_dir}: cannot create a folder there (no write permission)")
    plan: dict[int, dict[str, ExperimentConfig]] = {}
    for seed in seeds:
        plan[seed] = {"pretrain": apply_overrides(base, [f"seed={seed}", "adversarial.method=seqgan",
                                                         "schedule.adv_epochs=0"])}
        for method in methods:
            plan[seed][method] = apply_overrides(base, [f"seed={seed}", *METHODS[method]])
    needs_corpus = False
    for seed, configs in plan.items():
        for name, cfg in configs.items():
            run_dir = out_dir / _seed_dir_name(seed) / name
            check_run_dir(run_dir, "seqgan study", "--out")
            changes = RunDir(run_dir, TEXT).check_config(cfg, "--out")  # an earlier study's run resumes
            _check_not_shortened(run_dir, cfg, changes)
            needs_corpus |= is_text and not (run_dir / "data" / "test.txt").is_file()
    if needs_corpus:  # read the corpus once now: a bad file or an empty split must not surface after training
        from text_data.corpus import load_corpus

        d = base.data
        splits = load_corpus(d.corpus, data_dir, tuple(d.split), seeds[0], d.text_field or None)
        if not splits.valid:
            raise UserError(f"the validation split of {d.corpus} is empty ({len(splits.train)} training lines, "
                            f"split {tuple(d.split)}); the study's yardstick is NLL-valid: add lines or raise the "
                            "second --set data.split fraction")
        need_test = 2 if bleu_samples else 1  # BLEU's real-text row compares test lines with each other
        if len(splits.test) < need_test:
            raise UserError(f"the test split of {d.corpus} has {len(splits.test)} line(s); the study needs at "
                            f"least {need_test} (NLL-test{', BLEU references' if bleu_samples else ''}): add lines "
                            "or raise the third --set data.split fraction")
    return plan


def _train(config: ExperimentConfig, run_dir: Path, data_dir: str | None, label: str,
           init_from: str | None = None) -> dict:
    """`seqgan.text.run.train` for a run of a study: a run with nothing left to train (a study re-run) says so
    in one line, "seed 1 mle: already trained", instead of its resume lines and data notes."""
    return RunDir(run_dir, TEXT).train(config, lambda: build_run(config, data_dir, run_dir), init_from,
                                       argv=["study"], done_line=f"{label}: already trained")


def _check_not_shortened(run_dir: Path, config: ExperimentConfig, changes: list[tuple]) -> None:
    """Before any training: the rule `RunDir.train` applies to each run as it comes (no phase shortened below the
    epochs it trained, see `check_not_shortened`), for every run of the study at once, so a re-run with a shorter
    schedule is refused before it trains the runs that come first. Reads a checkpoint only when a schedule
    shrinks."""
    if not any(key.startswith("schedule.") and isinstance(a, int) and isinstance(b, int) and b < a
               for key, a, b in changes):
        return
    try:
        position = load_checkpoint(run_dir / "checkpoints" / "last.pt")["position"]
    except (CheckpointError, OSError):
        return  # no usable last.pt: `RunDir.train` decides what the run resumes from, and checks it then
    s = config.schedule
    phases = [Phase("pretrain_g", s.pretrain_g_epochs, ()), Phase("pretrain_d", s.pretrain_d_rounds, ()),
              Phase("adversarial", s.adv_epochs, ())]
    check_not_shortened(run_dir, phases, position, changes)


def _curve(run_dir: Path) -> list[dict]:
    return [r for r in MetricsLog(run_dir / "metrics.jsonl").read() if r.get("event") == "eval"]


def primary_metric(record: dict) -> str:
    """The study's yardstick in an eval record: nll_oracle on the oracle, nll_valid on text."""
    return "nll_oracle" if "nll_oracle" in record else "nll_valid"


def run_oracle_study(base: ExperimentConfig, seeds: list[int], methods: list[str], out_dir: str | Path,
                     data_dir: str | None = None, bleu_samples: int = 2000,
                     temperatures: tuple[float, ...] = DEFAULT_TEMPERATURES) -> dict:
    """Train every (seed, method) run (resuming any that exist) and summarise them.

    Args:
        base: the preset with user overrides (its adversarial.method is replaced per method).
        seeds: seeds to run (one seed gives the tables, with seed-level p-values n/a).
        methods: names from METHODS.
        out_dir: runs go to out_dir/seed{S}/{method}; the summary to out_dir/summary.json and table.md.
        data_dir: data folder.
        bleu_samples: on text, samples per run scored with BLEU-2..5 and Self-BLEU (0: skip).
        temperatures: MLE's temperature sweep, the curve the other methods must lie beyond (empty: skip).
    """
    plan = check_study(base, seeds, methods, out_dir, data_dir, bleu_samples, temperatures)
    out_dir = Path(out_dir)
    per_seed: dict[int, dict] = {}
    for seed in seeds:
        seed_dir = out_dir / _seed_dir_name(seed)
        pretrain_dir = seed_dir / "pretrain"
        print(f"== seed {seed}: pretraining -> {pretrain_dir}", flush=True)
        _train(plan[seed]["pretrain"], pretrain_dir, data_dir, f"seed {seed} pretrain")
        init = _curve(pretrain_dir)[0]
        key = primary_metric(init)
        results = {"random": {key: init[key], "nll_test": init["nll_test"]}}
        for method in methods:
            run_dir = seed_dir / method
            print(f"== seed {seed}: {method} -> {run_dir}", flush=True)
            final = _train(plan[seed][method], run_dir, data_dir, f"seed {seed} {method}", init_from=str(pretrain_dir))
            adv = [r for r in _curve(run_dir) if r["phase"] == "adversarial"]
            results[method] = {key: final[key], "nll_test": final["nll_test"],
                               "curve": [(r["epoch"], r[key], r["nll_test"]) for r in adv]}
        per_seed[seed] = results
    order = [m for m in METHODS if m in methods]  # table rows in a fixed order, whatever order they ran in
    summary = summarise(per_seed, ["random", *order])
    summary["config"] = base.to_dict()
    summary["names"] = {m: n for m, n in method_names(base).items() if m in ("random", *order)}
    summary["early_stop"] = {"patience": early_stop_patience(base), "per_seed": {
        s: {"pretrain": early_stops(out_dir / _seed_dir_name(s) / "pretrain"),
            **{m: early_stops(out_dir / _seed_dir_name(s) / m) for m in order}} for s in seeds}}
    if base.data.corpus and bleu_samples > 0:  # text: BLEU / Self-BLEU of every run, with p-values
        print("== BLEU of every run against its test split", flush=True)
        summary["bleu"] = study_bleu_table(out_dir, seeds, order, bleu_samples, data_dir=data_dir,
                                           temperatures=temperatures, progress=stderr_progress("study"))
    if not base.data.corpus:  # the oracle: the frontier on the (NLL-test, NLL-oracle) plane
        print("== MLE's temperature curve", flush=True)
        summary["frontier"] = study_oracle_frontier(out_dir, seeds, order, temperatures, data_dir=data_dir)
    summary["verdict"] = study_verdict(summary)
    if is_main():  # under torchrun every process scored the runs (the same numbers); rank 0 alone writes
        atomic_write_json(out_dir / "summary.json", summary)
        atomic_write_text(out_dir / "table.md", study_markdown(summary))
    return summary


def summarise(per_seed: dict[int, dict], rows: list[str]) -> dict:
    """Mean and std over seeds of each method's final yardstick and NLL-test, seed-level Welch p-values
    against MLE, and curve comparisons."""
    table = {}
    key = primary_metric(next(iter(per_seed.values()))["random"])
    for row in rows:
        primary = [per_seed[s][row][key] for s in per_seed]
        test = [per_seed[s][row]["nll_test"] for s in per_seed]
        table[row] = {key: mean_std(primary), "nll_test": mean_std(test),
                      "per_seed": {s: (per_seed[s][row][key], per_seed[s][row]["nll_test"]) for s in per_seed}}
    tests = {}
    if "mle" in rows:
        for row in rows:
            if row in ("random", "mle"):
                continue
            tests[row] = {f"{k}_welch_p_over_seeds": seed_welch_p([per_seed[s][row][k] for s in per_seed],
                                                                  [per_seed[s]["mle"][k] for s in per_seed])
                          for k in (key, "nll_test")}
    checks = {}
    for row in rows:
        if row in ("random", "mle") or "mle" not in rows:
            continue
        below_everywhere = {}
        for s in per_seed:
            mle = {e: o for e, o, _ in per_seed[s]["mle"]["curve"]}
            mine = {e: o for e, o, _ in per_seed[s][row]["curve"]}
            shared = sorted(set(mle) & set(mine))
            below_everywhere[s] = all(mine[e] < mle[e] for e in shared) if shared else None
        checks[row] = {"below_mle_at_every_eval": below_everywhere}
    return {"seeds": list(per_seed), "metric": key, "table": table, "tests": tests, "baseline": "mle",
            "checks": checks, "per_seed": per_seed, "paper": PAPER_TABLE1 if key == "nll_oracle" else {}}


def table_markdown(summary: dict) -> str:
    """The README's table: NLL-oracle (or NLL-valid on text), NLL-test, and the paper's row on the oracle."""
    names = {**METHOD_NAMES, **summary.get("names", {})}
    paper = summary["paper"]
    key = summary.get("metric", "nll_oracle")
    label = {"nll_oracle": "NLL-oracle", "nll_valid": "NLL-valid"}[key]
    n = len(summary["seeds"])
    what = f"mean ± std, {n} seeds" if n > 1 else "1 seed"
    if not paper:
        lines = [f"| model | {label} ({what}) | NLL-test |", "|---|---|---|"]
        for row, vals in summary["table"].items():
            lines.append(f"| {names.get(row, row)} | {mean_cell(vals[key], n)} | {mean_cell(vals['nll_test'], n)} |")
        return "\n".join(lines) + "\n"
    lines = [f"| model | {label} ({what}) | NLL-test | paper NLL-oracle |", "|---|---|---|---|"]
    for row, vals in summary["table"].items():
        ref = paper.get(row.split("-")[0] if row.startswith("seqgan") and row != "seqgan" else row, "")
        lines.append(f"| {names.get(row, row)} | {mean_cell(vals[key], n)} | {mean_cell(vals['nll_test'], n)} | "
                     f"{ref} |")
    missing = [m for m in ("ss", "pg-bleu") if m not in summary["table"]]
    if missing:
        lines.append(f"| (paper only) {' / '.join(names[m] for m in missing)} | | | "
                     f"{' / '.join(str(paper[m]) for m in missing)} |")
    return "\n".join(lines) + "\n"


def early_stop_markdown(summary: dict) -> str:
    """What the MLE row is: MLE continued for the adversarial phase's epochs, or early-stopped (and where)."""
    info = summary.get("early_stop") or {}
    names = {**METHOD_NAMES, **summary.get("names", {})}
    if "mle" not in summary["table"]:
        return ""
    if not info.get("patience"):
        return (f"{names['mle']}: MLE training continued through the adversarial phase's epochs in its place "
                "(no early stopping).\n")
    parts = []
    for seed, runs in info.get("per_seed", {}).items():
        pre, mle = runs.get("pretrain", {}).get("pretrain_g"), runs.get("mle", {}).get("adversarial")
        said = [f"pretraining stopped at epoch {pre['epoch']} (best {pre['best_epoch']})" if pre else
                "pretraining ran all its epochs",
                f"continued MLE stopped at epoch {mle['epoch']} (best {mle['best_epoch']})" if mle else
                "continued MLE ran all its epochs"]
        parts.append(f"seed {seed}: {', '.join(said)}")
    return (f"{names['mle']}: MLE training continued in place of the adversarial phase, stopped once NLL-valid had "
            f"not improved for {info['patience']} evaluations, and restored to its best evaluated epoch; "
            "pretraining (shared by every method) early-stops the same way. " + "; ".join(parts) + ".\n")


def frontier_markdown(frontier: dict, names: dict[str, str]) -> str:
    """On the oracle: per method, on how many seeds it lies beyond MLE's temperature curve."""
    base = names.get(frontier["reference"], frontier["reference"]).split(" (")[0]
    temps = ", ".join(f"{t:g}" for t in frontier["temperatures"])
    lines = [f"| model | beyond {base}'s temperature curve (NLL-test, NLL-oracle; seeds) |", "|---|---|"]
    for m, flags in frontier["beyond"].items():
        lines.append(f"| {names.get(m, m)} | {beyond_cell(flags)} |")
    lines += ["", f"Temperature curve: {base} sampled at {temps}, {frontier['n']} samples per point (sampling seed "
                  f"{frontier['sampling_seed']}); " + RULE_TEXT.format(x="NLL-test", y="NLL-oracle") + "."]
    return "\n".join(lines) + "\n"


def study_markdown(summary: dict) -> str:
    """table.md of a study: the NLL table, the BLEU table (text), what the MLE row is, and the verdict."""
    names = {**METHOD_NAMES, **summary.get("names", {})}
    parts = [table_markdown(summary)]
    if summary.get("bleu"):
        parts.append(study_bleu_markdown(summary["bleu"], names))
    if summary.get("frontier"):
        parts.append(frontier_markdown(summary["frontier"], names))
    note = early_stop_markdown(summary)
    if note:
        parts.append(note)
    if summary.get("verdict"):
        parts.append(verdict_markdown(summary["verdict"]))
    return "\n".join(parts)


def load_summary(out_dir: str | Path) -> dict:
    """Read a study's summary.json."""
    return json.loads((Path(out_dir) / "summary.json").read_text(encoding="utf-8"))
