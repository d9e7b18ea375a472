"""Set text studies of one corpus made with different generators side by side (e.g. the LSTM G and a GPT G).

    python tools/generator_report.py --study LSTM=results/text_study/coco \\
        --study GPT=results/text_study_gpt2/coco --out results/generators/coco

Each --study is a folder written by tools/text_study_report.py (its summary.json). Writes OUT/summary.json (the
rows below, with each study's BLEU signature and seeds) and OUT/table.md, and prints the markdown: one row per
generator and method with NLL-test, BLEU-2..5 and Self-BLEU-4 (mean ± sd over the seeds, 2,000 samples per run
at temperature 1 against the test split), whether the method lies beyond MLE's temperature curve on each seed,
and the wall time of seed 1's run; when the studies have different seeds, also each seed they share, alone.
Rows are comparable only when the studies scored against the same references
with the same tokenization and vocabulary; the tool refuses studies whose BLEU signatures or tokenizers differ.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from seqgan.core.checkpoint import atomic_write_json, atomic_write_text  # noqa: E402

METRICS = ("nll_test", "bleu2", "bleu3", "bleu4", "bleu5", "self_bleu4")
HEADERS = ("NLL-test", "BLEU-2", "BLEU-3", "BLEU-4", "BLEU-5", "Self-BLEU-4")


def _cell(pair: list[float], seeds: int, digits: int) -> str:
    mean, sd = pair
    return f"{mean:.{digits}f}" + (f" ± {sd:.{digits}f}" if seeds > 1 else "")


def _tokens(summary: dict) -> str:
    data = summary["study_config"]["data"]
    generator = summary["study_config"]["generator"]
    if generator.get("kind") == "pretrained":
        return f"pretrained:{generator.get('pretrained')}"
    return f"{data.get('tokenizer')}:{data.get('vocab_size')}:{data.get('min_frequency')}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", action="append", required=True, metavar="NAME=DIR",
                        help="a generator's name and its study report folder (repeat)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    studies = []
    for spec in args.study:
        name, _, folder = spec.partition("=")
        if not folder or not (Path(folder) / "summary.json").is_file():
            print(f"generator_report: --study {spec}: expected NAME=DIR with DIR/summary.json", file=sys.stderr)
            return 2
        studies.append((name, json.loads((Path(folder) / "summary.json").read_text(encoding="utf-8")), folder))
    signatures = {s["bleu"]["bleu_signature"].split("|nhyps")[0] for _, s, _ in studies}
    tokenizers = {_tokens(s) for _, s, _ in studies}
    corpora = {s["corpus"] for _, s, _ in studies}
    if len(signatures) > 1 or len(tokenizers) > 1 or len(corpora) > 1:
        print(f"generator_report: the studies are not comparable (corpora {sorted(corpora)}, BLEU "
              f"{sorted(signatures)}, tokenizers {sorted(tokenizers)})", file=sys.stderr)
        return 2
    rows, lines = [], []
    lines += ["| generator | method | seeds | " + " | ".join(HEADERS) + " | beyond MLE's temperature curve | "
              "minutes (seed 1) |", "|---" * (len(HEADERS) + 5) + "|"]
    for name, summary, folder in studies:
        bleu = summary["bleu"]
        seeds = len(bleu["seeds"])
        beyond = bleu.get("frontier", {}).get("beyond", {})
        for method in [m for m in bleu["table"] if m != "real"]:
            table = bleu["table"][method]
            flags = beyond.get(method, {})
            row = {"generator": name, "method": method, "label": summary["names"].get(method, method),
                   "seeds": bleu["seeds"], "study": folder, **{k: table[k] for k in METRICS},
                   "beyond": flags, "minutes_seed1": summary["methods"][method]["train_eval_s"] / 60}
            rows.append(row)
            cells = [_cell(table[k], seeds, 3) for k in METRICS]
            verdict = f"{sum(flags.values())} of {len(flags)}" if flags else ""
            lines.append(f"| {name} | {row['label']} | {seeds} | " + " | ".join(cells)
                         + f" | {verdict} | {row['minutes_seed1']:.0f} |")
    # studies with different seeds: the mean over 3 seeds and one seed's value are not the same measurement (a
    # corpus split by --seed even has other test lines per seed), so also each shared seed alone, row by row
    shared = sorted(set.intersection(*(set(map(str, s["bleu"]["seeds"])) for _, s, _ in studies)), key=int)
    same_seeds = len({tuple(s["bleu"]["seeds"]) for _, s, _ in studies}) == 1
    seed_lines: list[str] = []
    for seed in ([] if same_seeds else shared):
        seed_lines += ["", f"Seed {seed} alone (the seed every study has):", "",
                       "| generator | method | " + " | ".join(HEADERS) + " | beyond MLE's temperature curve |",
                       "|---" * (len(HEADERS) + 3) + "|"]
        for name, summary, _ in studies:
            bleu = summary["bleu"]
            for method, values in bleu["per_seed"][seed].items():
                flag = bleu.get("frontier", {}).get("beyond", {}).get(method, {}).get(seed)
                rows.append({"generator": name, "method": method, "seed": int(seed),
                             **{k: values[k] for k in METRICS}, "beyond": flag})
                seed_lines.append(f"| {name} | {summary['names'].get(method, method)} | "
                                  + " | ".join(f"{values[k]:.3f}" for k in METRICS)
                                  + f" | {'' if flag is None else ('yes' if flag else 'no')} |")
    real = studies[0][1]["bleu"]["table"].get("real")
    if real:
        lines.append("| real text | test line vs the other test lines | | | "
                     + " | ".join(f"{real[k][0]:.3f}" for k in METRICS[1:]) + " | | |")
    corpus = corpora.pop()
    lines += ["", f"`{signatures.pop()}`; tokenizer `{tokenizers.pop()}`; minutes: training and evaluation of "
              "the method's own run on this machine (the shared pretraining not included; runs shared the 2 cores).",
              *seed_lines]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "summary.json", {"corpus": corpus, "rows": rows})
    atomic_write_text(out / "table.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
