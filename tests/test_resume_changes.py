"""A resume that changes settings says so, one note per change; one that gives a phase fewer epochs than the run
already trained is refused (it would rewrite config.json to claim fewer epochs than were trained)."""

from __future__ import annotations

import json

from tests.conftest import TINY
from tests.test_cli_train import assert_one_line_error


def _adv_epochs(run_dir) -> int:
    return json.loads((run_dir / "config.json").read_text())["config"]["schedule"]["adv_epochs"]


def test_train_notes_each_resumable_change(copy_run, run_cli):
    """TINY trained 3 adversarial epochs; a longer schedule and another evaluation interval resume, and say so."""
    result = run_cli(["train", *TINY, "--seed", "1", "--set", "schedule.adv_epochs=4", "--set", "schedule.eval_every=1",
                      "--run-dir", copy_run])
    assert result.code == 0, result.err
    notes = [line for line in result.err_lines if line.endswith("(resumable change)")]
    assert notes == ["note: schedule.adv_epochs 3 -> 4 (resumable change)",
                     "note: schedule.eval_every 2 -> 1 (resumable change)"], result.err  # oracle-tiny evaluates every 2
    assert "note: schedule.adv_epochs 3 -> 4 (resumable change)" in (copy_run / "run.log").read_text()
    assert _adv_epochs(copy_run) == 4
    same = run_cli(["train", *TINY, "--seed", "1", "--set", "schedule.adv_epochs=4", "--set", "schedule.eval_every=1",
                    "--run-dir", copy_run])
    assert not any("resumable change" in line for line in same.err_lines), same.err  # nothing changed this time


def test_train_refuses_to_shorten_what_a_run_already_trained(copy_run, run_cli):
    config = (copy_run / "config.json").read_bytes()
    result = run_cli(["train", *TINY, "--seed", "1", "--set", "schedule.adv_epochs=2", "--run-dir", copy_run])
    assert_one_line_error(result, "train", "already trained 3 epochs of adversarial", "schedule.adv_epochs 3 -> 2")
    assert (copy_run / "config.json").read_bytes() == config  # still says what the run trained
    assert _adv_epochs(copy_run) == 3


def test_image_train_notes_changes_and_refuses_to_shorten(tiny_mnist, tmp_path, run_cli):
    from tests.test_image_train import TINY as TINY_IMAGE

    args = ["image-train", *TINY_IMAGE, "--loss", "ns", "--data-dir", tiny_mnist, "--run-dir", tmp_path / "run"]
    assert run_cli([*args, "--set", "schedule.epochs=2"]).code == 0
    config = (tmp_path / "run" / "config.json").read_bytes()
    shorter = run_cli([*args, "--set", "schedule.epochs=1"])
    assert_one_line_error(shorter, "image-train", "already trained 2 epochs of adversarial", "schedule.epochs 2 -> 1")
    assert (tmp_path / "run" / "config.json").read_bytes() == config
    longer = run_cli([*args, "--set", "schedule.epochs=3"])
    assert longer.code == 0, longer.err
    assert "note: schedule.epochs 2 -> 3 (resumable change)" in longer.err_lines, longer.err
