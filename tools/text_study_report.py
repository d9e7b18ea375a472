"""Collect a text-corpus study (runs made by `seqgan study --experiment CORPUS`) into results/.

    python tools/text_study_report.py runs/text_study/poems --out results/text_study/poems

Writes OUT/summary.json (the study's tables (NLL, and BLEU with p-values), its verdict in sentences, each
method's NLL-valid / NLL-test at the end and at its best evaluation, the run's wall time), OUT/table.md (the
study's table.md, verdict included) and OUT/samples.md (5 samples per method from the last checkpoint,
sampling seed 0, temperature 1), and prints the markdown. Samples are drawn by the same code as
`seqgan sample`. Row names are the study's: "MLE (early-stopped)" when its MLE early-stopped.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from seqgan.core.checkpoint import atomic_write_json, atomic_write_text  # noqa: E402
from seqgan.text.api import sample_run  # noqa: E402
from seqgan.text.run import best_eval, eval_records, load_run  # noqa: E402
from seqgan.text.study import METHOD_NAMES  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("study", help="the study folder (holds summary.json and seed*/METHOD run dirs)")
    parser.add_argument("--out", required=True)
    parser.add_argument("-n", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1, help="which seed's runs to sample")
    args = parser.parse_args()
    study = Path(args.study)
    summary = json.loads((study / "summary.json").read_text(encoding="utf-8"))
    corpus = summary["config"]["data"]["corpus"]
    pretrain = eval_records(study / f"seed{args.seed}" / "pretrain")
    names = {**METHOD_NAMES, **summary.get("names", {})}  # older studies have no names: the defaults
    report = {"corpus": corpus, "table": summary["table"], "names": names, "methods": {},
              "pretrained": {k: pretrain[-1][k] for k in ("nll_valid", "nll_test")},
              "study_config": summary["config"], "bleu": summary.get("bleu"),
              "per_seed": summary.get("per_seed"), "verdict": summary.get("verdict"),
              "early_stop": summary.get("early_stop")}
    lines = [f"### {corpus}", "", (study / "table.md").read_text(encoding="utf-8"), ""]
    for method in [m for m in summary["table"] if m != "random"]:
        run_dir = study / f"seed{args.seed}" / method
        evals = eval_records(run_dir)
        best_record, key = best_eval(evals)
        best = f"best {key}={best_record[key]:.4f} at {best_record['phase']}:{best_record['epoch']}"
        timing = [json.loads(x) for x in (run_dir / "timing.jsonl").read_text(encoding="utf-8").splitlines() if x]
        wall = sum(r.get("train_s", 0.0) + r.get("eval_s", 0.0) for r in timing)
        samples = sample_run(load_run(run_dir), args.n, seed=0)
        report["methods"][method] = {"final": {k: evals[-1][k] for k in ("nll_valid", "nll_test")},
                                     "best": best, "best_record": best_record, "samples": [s["text"] for s in samples],
                                     "sample_logprob": [s["logprob"] for s in samples], "train_eval_s": wall}
        lines += [f"{names.get(method, method)} (`seqgan sample --run-dir {run_dir} -n {args.n} --seed 0`; "
                  f"{best}):", "", "```text", *[s["text"] for s in samples], "```", ""]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "summary.json", report)
    atomic_write_text(out / "samples.md", "\n".join(lines) + "\n")
    atomic_write_text(out / "table.md", (study / "table.md").read_text(encoding="utf-8"))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
