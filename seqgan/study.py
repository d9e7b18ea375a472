"""The method study: random G, MLE, constant-reward PG and SeqGAN over several seeds, as one command.

On the oracle the yardstick is NLL-oracle; on a text corpus it is NLL on the validation split (NLL-test
is reported beside it in both cases).

Each seed pretrains once (G by MLE, then D); every method branches off that same checkpoint with the same
random state, so the methods differ only in their adversarial phase.
"""

from __future__ import annotations

import json
from pathlib import Path

from eval.significance import mean_std
from seqgan.config import ExperimentConfig, apply_overrides
from seqgan.core.checkpoint import atomic_write_json, atomic_write_text
from seqgan.core.log import MetricsLog
from seqgan.errors import UserError
from seqgan.experiment import train

# name -> config overrides of the adversarial phase
METHODS: dict[str, list[str]] = {
    "mle": ["adversarial.method=mle"],
    "constant": ["adversarial.method=constant"],
    "seqgan": ["adversarial.method=seqgan"],
    "seqgan-baseline": ["adversarial.method=seqgan", "adversarial.baseline=mean"],
    "ss": ["adversarial.method=ss"],
    # the original PG-BLEU: BLEU-3, unsmoothed, 40% of the training data as references, one rollout
    "pg-bleu": ["adversarial.method=pg-bleu", "adversarial.num_rollouts=1"],
}
METHOD_NAMES = {"random": "Random G (before training)", "mle": "MLE (continued)",
                "constant": "PG, constant reward 1", "seqgan": "SeqGAN",
                "seqgan-baseline": "SeqGAN, mean-reward baseline",
                "ss": "Scheduled sampling", "pg-bleu": "PG-BLEU (BLEU-3 reward)"}
PAPER_TABLE1 = {"random": 10.310, "mle": 9.038, "ss": 8.985, "pg-bleu": 8.946, "seqgan": 8.736}


def _curve(run_dir: Path) -> list[dict]:
    return [r for r in MetricsLog(run_dir / "metrics.jsonl").read() if r.get("event") == "eval"]


def primary_metric(record: dict) -> str:
    """The study's yardstick in an eval record: nll_oracle on the oracle, nll_valid on text."""
    return "nll_oracle" if "nll_oracle" in record else "nll_valid"


def run_oracle_study(base: ExperimentConfig, seeds: list[int], methods: list[str], out_dir: str | Path,
                     data_dir: str | None = None, bleu_samples: int = 2000) -> dict:
    """Train every (seed, method) run (resuming any that exist) and summarise them.

    Args:
        base: the preset with user overrides (its adversarial.method is replaced per method).
        seeds: seeds to run.
        methods: names from METHODS.
        out_dir: runs go to out_dir/seed{S}/{method}; the summary to out_dir/summary.json and table.md.
        data_dir: data folder.
        bleu_samples: on text, samples per run scored with BLEU-2..5 and Self-BLEU (0: skip).
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise UserError(f"unknown method(s) {', '.join(unknown)}; known: {', '.join(METHODS)}")
    out_dir = Path(out_dir)
    per_seed: dict[int, dict] = {}
    for seed in seeds:
        seed_dir = out_dir / f"seed{seed}"
        pretrain_dir = seed_dir / "pretrain"
        pre_cfg = apply_overrides(base, [f"seed={seed}", "adversarial.method=seqgan", "schedule.adv_epochs=0"])
        print(f"== seed {seed}: pretraining -> {pretrain_dir}", flush=True)
        train(pre_cfg, pretrain_dir, data_dir, argv=["oracle-study"])
        init = _curve(pretrain_dir)[0]
        key = primary_metric(init)
        results = {"random": {key: init[key], "nll_test": init["nll_test"]}}
        for method in methods:
            cfg = apply_overrides(base, [f"seed={seed}", *METHODS[method]])
            run_dir = seed_dir / method
            print(f"== seed {seed}: {method} -> {run_dir}", flush=True)
            final = train(cfg, run_dir, data_dir, init_from=str(pretrain_dir), argv=["oracle-study"])
            adv = [r for r in _curve(run_dir) if r["phase"] == "adversarial"]
            results[method] = {key: final[key], "nll_test": final["nll_test"],
                               "curve": [(r["epoch"], r[key], r["nll_test"]) for r in adv]}
        per_seed[seed] = results
    order = [m for m in METHODS if m in methods]  # table rows in a fixed order, whatever order they ran in
    summary = summarise(per_seed, ["random", *order])
    summary["config"] = base.to_dict()
    table = table_markdown(summary)
    if base.data.corpus and bleu_samples > 0:  # text: BLEU / Self-BLEU of every run, with p-values
        from eval.report import study_bleu_markdown, study_bleu_table

        print("== BLEU of every run against its test split", flush=True)
        summary["bleu"] = study_bleu_table(out_dir, seeds, order, bleu_samples, data_dir=data_dir)
        table += "\n" + study_bleu_markdown(summary["bleu"], METHOD_NAMES)
    atomic_write_json(out_dir / "summary.json", summary)
    atomic_write_text(out_dir / "table.md", table)
    return summary


def summarise(per_seed: dict[int, dict], rows: list[str]) -> dict:
    """Mean and std over seeds of each method's final yardstick and NLL-test, plus curve comparisons."""
    table = {}
    key = primary_metric(next(iter(per_seed.values()))["random"])
    for row in rows:
        primary = [per_seed[s][row][key] for s in per_seed]
        test = [per_seed[s][row]["nll_test"] for s in per_seed]
        table[row] = {key: mean_std(primary), "nll_test": mean_std(test),
                      "per_seed": {s: (per_seed[s][row][key], per_seed[s][row]["nll_test"]) for s in per_seed}}
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
    return {"seeds": list(per_seed), "metric": key, "table": table, "checks": checks, "per_seed": per_seed,
            "paper": PAPER_TABLE1 if key == "nll_oracle" else {}}


def table_markdown(summary: dict) -> str:
    """The README's table: NLL-oracle (or NLL-valid on text), NLL-test, and the paper's row on the oracle."""
    names = METHOD_NAMES
    paper = summary["paper"]
    key = summary.get("metric", "nll_oracle")
    label = {"nll_oracle": "NLL-oracle", "nll_valid": "NLL-valid"}[key]
    if not paper:
        lines = [f"| model | {label} (mean ± std, {len(summary['seeds'])} seeds) | NLL-test |", "|---|---|---|"]
        for row, vals in summary["table"].items():
            (mo, so), (mt, st) = vals[key], vals["nll_test"]
            lines.append(f"| {names.get(row, row)} | {mo:.3f} ± {so:.3f} | {mt:.3f} ± {st:.3f} |")
        return "\n".join(lines) + "\n"
    lines = [f"| model | {label} (mean ± std, {len(summary['seeds'])} seeds) | NLL-test | paper NLL-oracle |",
             "|---|---|---|---|"]
    for row, vals in summary["table"].items():
        (mo, so), (mt, st) = vals[key], vals["nll_test"]
        ref = paper.get(row.split("-")[0] if row.startswith("seqgan") and row != "seqgan" else row, "")
        lines.append(f"| {names.get(row, row)} | {mo:.3f} ± {so:.3f} | {mt:.3f} ± {st:.3f} | {ref} |")
    missing = [m for m in ("ss", "pg-bleu") if m not in summary["table"]]
    if missing:
        lines.append(f"| (paper only) {' / '.join(names[m] for m in missing)} | | | "
                     f"{' / '.join(str(paper[m]) for m in missing)} |")
    return "\n".join(lines) + "\n"


def load_summary(out_dir: str | Path) -> dict:
    """Read a study's summary.json."""
    return json.loads((Path(out_dir) / "summary.json").read_text(encoding="utf-8"))
