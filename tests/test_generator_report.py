"""tools/generator_report.py: two studies of one corpus side by side, refused when they are not comparable."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

SIGNATURE = "bleu-n:4|weights:0.25,0.25,0.25,0.25|smooth:method1|tok:run-word|nrefs:10|nhyps:2000|ours:0.1.0"
ROW = {"nll_test": [4.2, 0.1], "bleu2": [0.7, 0.01], "bleu3": [0.5, 0.01], "bleu4": [0.3, 0.02],
       "bleu5": [0.2, 0.01], "self_bleu4": [0.31, 0.02]}


def _study(folder: Path, seeds: list[int], bleu4: float, kind: str = "lstm", signature: str = SIGNATURE) -> Path:
    per_seed = {str(s): {m: {**{k: v[0] for k, v in ROW.items()}, "bleu4": bleu4 + s / 100} for m in ("mle", "seqgan")}
                for s in seeds}
    summary = {"corpus": "coco", "names": {"mle": "MLE", "seqgan": "SeqGAN"},
               "study_config": {"data": {"tokenizer": "word", "vocab_size": 100, "min_frequency": 1},
                                "generator": {"kind": kind}},
               "methods": {m: {"train_eval_s": 120.0} for m in ("mle", "seqgan")},
               "bleu": {"seeds": seeds, "bleu_signature": signature, "per_seed": per_seed,
                        "table": {"mle": {**ROW, "bleu4": [bleu4, 0.0]}, "seqgan": ROW, "real": ROW},
                        "frontier": {"beyond": {"seqgan": {str(s): s == 2 for s in seeds}}}}}
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def _report(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "tools/generator_report.py", *map(str, args)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)


def test_rows_per_generator_and_method_and_the_shared_seed_alone(tmp_path):
    lstm = _study(tmp_path / "lstm", [1, 2, 3], 0.29)
    gpt = _study(tmp_path / "gpt", [1], 0.33, kind="gpt2")
    result = _report("--study", f"LSTM={lstm}", "--study", f"GPT={gpt}", "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    table = (tmp_path / "out" / "table.md").read_text()
    assert result.stdout.strip() == table.strip()
    assert "| LSTM | MLE | 3 | 4.200 ± 0.100 | 0.700 ± 0.010 | 0.500 ± 0.010 | 0.290 ± 0.000 |" in table
    assert "| LSTM | SeqGAN | 3 |" in table and "| 1 of 3 | 2 |" in table  # beyond on seed 2; 120 s = 2 min
    assert "| GPT | MLE | 1 | 4.200 | 0.700 | 0.500 | 0.330 |" in table
    # seed 1 alone: the LSTM study's own seed-1 values, not its 3-seed mean
    alone = table[table.index("Seed 1 alone"):]
    assert "| LSTM | MLE | 4.200 | 0.700 | 0.500 | 0.300 |" in alone
    assert "| GPT | MLE | 4.200 | 0.700 | 0.500 | 0.340 |" in alone
    rows = json.loads((tmp_path / "out" / "summary.json").read_text())["rows"]
    assert {(r["generator"], r["method"], r.get("seed")) for r in rows} >= {("LSTM", "mle", None), ("GPT", "mle", 1)}


def test_studies_scored_differently_are_refused(tmp_path):
    lstm = _study(tmp_path / "lstm", [1], 0.29)
    other = _study(tmp_path / "other", [1], 0.33, signature=SIGNATURE.replace("nrefs:10", "nrefs:20"))
    result = _report("--study", f"LSTM={lstm}", "--study", f"X={other}", "--out", tmp_path / "out")
    assert result.returncode == 2 and "not comparable" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
    missing = _report("--study", f"LSTM={tmp_path / 'nowhere'}", "--out", tmp_path / "out")
    assert missing.returncode == 2 and "NAME=DIR" in missing.stderr
