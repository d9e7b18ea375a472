"""The max length of a text run: sized from the training split (data.seq_len=0, text-small's default) or set
with --max-len; the same on every rebuild; a warning when more than 5% of a split's lines do not fit."""

from __future__ import annotations

import json
import math

import pytest
import torch

from seqgan.base.errors import UserError
from seqgan.text.config import apply_overrides
from seqgan.text.presets import get_preset
from seqgan.text.task import build_text_task, loss_notes
from tests.test_text_data import TINY_TEXT

CPU = torch.device("cpu")


def write_corpus(path, lengths: list[int]):
    """One line per length, that many distinct-ish words (each word is one word token)."""
    path.write_text("".join(" ".join(f"w{(i + j) % 7}" for j in range(n)) + "\n" for i, n in enumerate(lengths)))
    return path


def text_config(corpus, *overrides: str):
    return apply_overrides(get_preset("text-small"), [f"data.corpus={corpus}", *overrides])


def percentile_higher(values: list[int], q: float) -> int:
    """Hand-computed reference: the smallest observed value at or above rank q/100 * (n - 1)."""
    ordered = sorted(values)
    return ordered[math.ceil(q / 100 * (len(ordered) - 1))]


def test_text_small_sizes_the_max_length_from_the_training_split(tmp_path):
    lengths = [i % 10 + 1 for i in range(200)] + [50]  # 1..10 words, and one far longer line
    task = build_text_task(text_config(write_corpus(tmp_path / "c.txt", lengths)), None, None, CPU)
    train_lengths = [len(line.split()) for line in task.splits.train]
    assert task.seq_len == percentile_higher(train_lengths, 99) + 1 == 11  # one 50-word line is under 1%
    assert task.train.ids.shape[1] == 11
    assert task.architecture_tag()["seq_len"] == 11
    note = next(n for n in task.notes if n.startswith("max length"))
    assert "max length 11 tokens (<eos> included)" in note and f"of {len(train_lengths)} training" in note
    assert not any(n.startswith("warning") for n in task.notes)


def test_auto_length_is_the_same_when_rebuilt_from_the_run_dir(tmp_path):
    corpus = write_corpus(tmp_path / "c.txt", [3 + (i * 7) % 23 for i in range(300)])
    config = text_config(corpus)
    first = build_text_task(config, None, None, CPU)
    run = tmp_path / "run"
    first.save(run)
    corpus.write_text("a different corpus\n" * 50)  # a rebuild reads the run dir, not the corpus
    again = build_text_task(config, None, run, CPU)
    assert again.seq_len == first.seq_len and torch.equal(again.train.ids, first.train.ids)
    assert torch.equal(again.test.ids, first.test.ids)


def test_explicit_max_len_wins_and_warns_above_five_percent(tmp_path):
    corpus = write_corpus(tmp_path / "c.txt", [i % 10 + 1 for i in range(200)])
    task = build_text_task(text_config(corpus, "data.seq_len=8"), None, None, CPU)
    assert task.seq_len == 8 and task.train.ids.shape[1] == 8
    assert not any(n.startswith("max length") for n in task.notes)
    too_long = sum(len(line.split()) > 7 for line in task.splits.train)  # lengths 8, 9, 10: 30%
    assert task.train.truncated == too_long
    warnings = [n for n in task.notes if n.startswith("warning")]
    share = max((enc.truncated + enc.dropped) / len(getattr(task.splits, name))
                for name, enc in (("train", task.train), ("valid", task.valid), ("test", task.test)))
    assert len(warnings) == 1 and f"{share:.1%}" in warnings[0] and "--max-len" in warnings[0]


def test_the_warning_starts_above_five_percent():
    assert not [n for n in loss_notes({"train": (5, 0, 100)}, 20, "set") if n.startswith("warning")]
    notes = loss_notes({"train": (5, 0, 100), "test": (0, 2, 30)}, 20, "auto")
    assert notes[:2] == ["train: 5 lines truncated and 0 dropped at max length 20 (of 100)",
                         "test: 0 lines truncated and 2 dropped at max length 20 (of 30)"]
    assert notes[2].startswith("warning: 6.7% of the test lines (2 of 30) do not fit in 20 tokens") and len(notes) == 3
    assert "were dropped; the length fits 99% of the training lines" in notes[2]
    assert loss_notes({"train": (0, 0, 100)}, 20, "cap") == []


def test_auto_length_is_capped(tmp_path):
    task = build_text_task(text_config(write_corpus(tmp_path / "c.txt", [300] * 20)), None, None, CPU)
    assert task.seq_len == 256
    assert any("capped at 256" in n for n in task.notes)
    warning = next(n for n in task.notes if n.startswith("warning"))
    assert "100.0% of the train lines" in warning and "cap" in warning


def test_named_presets_keep_their_paper_lengths():
    assert {name: get_preset(name).data.seq_len for name in ("poems", "obama", "coco", "text-small")} == {
        "poems": 25, "obama": 40, "coco": 38, "text-small": 0}


def test_auto_length_needs_a_corpus():
    from seqgan.text.run import build_oracle_task

    with pytest.raises(UserError, match="--corpus"):
        build_oracle_task(get_preset("text-small"), None, CPU)


def test_train_reports_the_length_and_warns_once_on_stderr(tmp_path, run_cli):
    corpus = write_corpus(tmp_path / "c.txt", [i % 10 + 1 for i in range(200)])
    run = tmp_path / "run"
    result = run_cli(["train", "--corpus", corpus, "--experiment", "text-small", "--max-len", "4",
                      "--run-dir", run, *TINY_TEXT, "--set", "schedule.adv_epochs=0",
                      "--set", "schedule.early_stop_patience=0"])
    assert result.code == 0, result.err
    warnings = [line for line in result.err_lines if "warning" in line]
    assert len(warnings) == 1 and "--max-len" in warnings[0]
    notes = json.loads((run / "config.json").read_text())["notes"]
    assert any(n.startswith("warning") for n in notes)
    assert "warning" in (run / "run.log").read_text()
