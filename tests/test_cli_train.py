"""`seqgan train / sample / evaluate / experiments / oracle-study` end to end, resume after a kill, bad input."""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import pytest

from seqgan.core.checkpoint import load_checkpoint
from tests.conftest import TINY, CliResult, kill_cli_when, snapshot

COMPARED = ["metrics.jsonl", "metrics.json", "samples.txt"]


def assert_one_line_error(result: CliResult, command: str, *needles: str) -> str:
    """Exit code 2, exactly one non-empty stderr line naming the problem, no traceback."""
    assert result.code == 2, (result.code, result.err)
    assert len(result.err_lines) == 1, result.err
    line = result.err_lines[0]
    assert "Traceback" not in result.err
    assert line.startswith(f"seqgan {command}: error: "), line
    for needle in needles:
        assert needle in line, (needle, line)
    return line


def _adversarial_epochs(run_dir: Path) -> list[int]:
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x]
    return [r["epoch"] for r in records if r["phase"] == "adversarial" and r["event"] == "train"]


# ---------------------------------------------------------------- experiments


def test_experiments_lists_presets(run_cli):
    result = run_cli(["experiments"])
    assert result.code == 0
    for name in ("oracle-paper", "oracle", "oracle-tiny"):
        assert any(line.startswith(name + " ") for line in result.out.splitlines()), name
    keys = run_cli(["experiments", "--keys"])
    assert keys.code == 0
    assert "  schedule.adv_epochs = 200" in keys.out
    assert "  discriminator.filter_sizes = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20)" in keys.out


@pytest.mark.parametrize("command", ["train", "sample", "evaluate", "experiments", "oracle-study"])
def test_help_everywhere(run_cli, command):
    result = run_cli([command, "--help"])
    assert result.code == 0 and "usage: seqgan " + command in result.out


# ---------------------------------------------------------------- train, sample, evaluate


def test_train_writes_a_complete_run_dir(tiny_run):
    names = {p.name for p in tiny_run.iterdir()}
    assert {"config.json", "metrics.jsonl", "timing.jsonl", "metrics.json", "samples.txt", "checkpoints"} <= names
    assert {p.name for p in (tiny_run / "checkpoints").iterdir() if not p.name.startswith("eval-")} == {
        "last.pt", "pretrain_g.pt", "pretrain_d.pt", "adversarial.pt"}
    # a generator snapshot after every evaluation (oracle-tiny evaluates every 2 epochs and at phase ends)
    assert {"eval-pretrain_g-2.pt", "eval-adversarial-2.pt", "eval-adversarial-3.pt"} <= {
        p.name for p in (tiny_run / "checkpoints").iterdir()}
    config = json.loads((tiny_run / "config.json").read_text())
    assert config["config"]["name"] == "oracle-tiny" and config["config"]["schedule"]["adv_epochs"] == 3
    final = json.loads((tiny_run / "metrics.json").read_text())
    assert final["nll_oracle_signature"].startswith("nll-oracle|oracle:random-lstm-seed1|n:256|")
    assert final["nll_test_signature"].startswith("nll-test|test:oracle-samples-seed")
    assert 0 < final["nll_test"] < 6 and 0 < final["nll_oracle"] < 10
    samples = (tiny_run / "samples.txt").read_text().splitlines()
    assert len(samples) == 100 and all(len(s.split()) == 10 for s in samples)
    assert all(0 <= int(tok) < 200 for s in samples for tok in s.split())
    assert _adversarial_epochs(tiny_run) == [1, 2, 3]
    records = [json.loads(x) for x in (tiny_run / "metrics.jsonl").read_text().splitlines()]
    assert records[0]["phase"] == "init" and records[-1]["event"] == "eval"
    assert records[-1]["nll_oracle"] == final["nll_oracle"]


def test_config_json_records_the_command_line(tiny_run):
    argv = json.loads((tiny_run / "config.json").read_text())["argv"]
    assert "--run-dir" in argv and "oracle-tiny" in argv


def test_same_seed_same_run_different_seed_different(tiny_run, tmp_path, run_cli):
    again = run_cli(["train", *TINY, "--seed", "1", "--run-dir", tmp_path / "again"])
    assert again.code == 0, again.err
    for name in COMPARED:
        assert (tmp_path / "again" / name).read_bytes() == (tiny_run / name).read_bytes(), name
    other = run_cli(["train", *TINY, "--seed", "2", "--run-dir", tmp_path / "other"])
    assert other.code == 0, other.err
    assert (tmp_path / "other" / "metrics.jsonl").read_bytes() != (tiny_run / "metrics.jsonl").read_bytes()
    assert (tmp_path / "other" / "samples.txt").read_bytes() != (tiny_run / "samples.txt").read_bytes()


def test_sample_is_seeded(tiny_run, tmp_path, run_cli):
    a = run_cli(["sample", "--run-dir", tiny_run, "-n", "7", "--seed", "4"])
    b = run_cli(["sample", "--run-dir", tiny_run, "-n", "7", "--seed", "4"])
    c = run_cli(["sample", "--run-dir", tiny_run, "-n", "7", "--seed", "5"])
    assert a.code == b.code == c.code == 0
    assert a.out == b.out and a.out != c.out
    rows = a.out.splitlines()
    assert len(rows) == 7 and all(len(r.split()) == 10 for r in rows)
    out = tmp_path / "s.txt"
    d = run_cli(["sample", "--run-dir", tiny_run, "-n", "7", "--seed", "4", "--out", out])
    assert d.code == 0 and d.out == "" and out.read_text() == a.out
    cold = run_cli(["sample", "--run-dir", tiny_run, "-n", "7", "--seed", "4", "--temperature", "0.2"])
    assert cold.code == 0 and cold.out != a.out
    early = run_cli(["sample", "--run-dir", tiny_run, "-n", "7", "--seed", "4", "--checkpoint", "pretrain_g"])
    assert early.code == 0 and early.out != a.out and len(early.out.splitlines()) == 7


def test_evaluate_matches_the_final_metrics(copy_run, run_cli):
    result = run_cli(["evaluate", "--run-dir", copy_run, "--json"])
    assert result.code == 0, result.err
    got = json.loads(result.out)
    final = json.loads((copy_run / "metrics.json").read_text())
    for key in ("nll_oracle", "nll_oracle_signature", "nll_test", "nll_test_signature"):
        assert got[key] == final[key], key
    assert json.loads((copy_run / "eval-last-t1.json").read_text()) == got
    text = run_cli(["evaluate", "--run-dir", copy_run])
    assert text.code == 0
    assert text.out.startswith("NLL-oracle ") and "NLL-test " in text.out
    hot = run_cli(["evaluate", "--run-dir", copy_run, "--json", "--temperature", "2"])
    assert json.loads(hot.out)["nll_oracle"] > got["nll_oracle"]  # hotter samples are less likely under the oracle
    assert json.loads(hot.out)["nll_test"] == got["nll_test"]


def _evals(run_dir: Path) -> list[dict]:
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x]
    return [r for r in records if r["event"] == "eval" and r["phase"] != "init"]


def test_checkpoint_selection_best_last_and_epochs(tiny_run, run_cli):
    def sample(checkpoint: str) -> str:
        result = run_cli(["sample", "--run-dir", tiny_run, "-n", "5", "--seed", "3", "--checkpoint", checkpoint])
        assert result.code == 0, result.err
        return result.out

    last = sample("last")
    assert sample("adversarial:3") == last == sample("3")  # the last evaluated epoch is the end of the run
    assert sample("adversarial:2") != last
    assert sample("pretrain_g:3") == sample("pretrain_g")  # the snapshot at a phase's end equals its checkpoint
    # best: the evaluation with the lowest NLL-test (the oracle has no validation split), computed here by hand
    evals = _evals(tiny_run)
    best = min(evals, key=lambda r: r["nll_test"])
    assert sample("best") == sample(f"{best['phase']}:{best['epoch']}")
    # evaluating a snapshot reproduces the NLL-test logged at that epoch
    result = run_cli(["evaluate", "--run-dir", tiny_run, "--checkpoint", "best", "--json"])
    assert result.code == 0, result.err
    assert json.loads(result.out)["nll_test"] == pytest.approx(best["nll_test"], abs=1e-6)
    assert (tiny_run / "eval-best-t1.json").is_file()
    (tiny_run / "eval-best-t1.json").unlink()  # keep the shared run as the fixture made it


@pytest.mark.parametrize("checkpoint,needle", [("adversarial:1", "no snapshot for adversarial:1"),
                                               ("99", "no snapshot for adversarial:99"),
                                               ("warmup:2", "use last, best"), ("x:y", "use last, best")])
def test_bad_checkpoint_names(tiny_run, run_cli, checkpoint, needle):
    before = snapshot(tiny_run)
    line = assert_one_line_error(run_cli(["sample", "--run-dir", tiny_run, "--checkpoint", checkpoint]),
                                 "sample", needle)
    if "no snapshot" in needle:
        assert "adversarial:2" in line  # lists what exists
    assert snapshot(tiny_run) == before


def test_best_before_any_evaluation(tmp_path, run_cli):
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "metrics.jsonl").write_text("")
    from seqgan.base.errors import UserError
    from seqgan.text.run import resolve_checkpoint

    with pytest.raises(UserError, match="no evaluations yet"):
        resolve_checkpoint(run_dir, "best")


def test_rerunning_a_finished_run_is_a_no_op(copy_run, run_cli):
    before = snapshot(copy_run)
    result = run_cli(["train", *TINY, "--seed", "1", "--run-dir", copy_run])
    assert result.code == 0, result.err
    after = snapshot(copy_run)
    for name in [*COMPARED, "checkpoints/last.pt", "checkpoints/adversarial.pt"]:
        assert after[name] == before[name], name


def test_extending_a_finished_run_trains_the_extra_epochs(copy_run, run_cli):
    result = run_cli(["train", "--experiment", "oracle-tiny", "--set", "schedule.adv_epochs=5", "--seed", "1",
                      "--run-dir", copy_run])
    assert result.code == 0, result.err
    assert _adversarial_epochs(copy_run) == [1, 2, 3, 4, 5]


# ---------------------------------------------------------------- kill and resume


KILL_ARGS = ["--experiment", "oracle-tiny", "--seed", "3", "--set", "schedule.adv_epochs=60",
             "--set", "adversarial.num_rollouts=2", "--set", "eval.num_samples=64"]


def _kill_once_adversarial(run_dir: Path, min_epochs: int = 2, timeout: float = 240.0) -> None:
    """Start `seqgan train` in a subprocess and SIGKILL it once metrics.jsonl shows adversarial epochs."""
    returncode = kill_cli_when(["train", *KILL_ARGS, "--run-dir", run_dir], run_dir / "metrics.jsonl",
                               '"phase": "adversarial", "epoch"', min_epochs, timeout, poll_s=0.005)
    assert returncode == -signal.SIGKILL


def test_killed_run_resumes_to_the_same_metrics(tmp_path, run_cli):
    killed = tmp_path / "killed"
    _kill_once_adversarial(killed)
    state = load_checkpoint(killed / "checkpoints" / "last.pt")
    assert 0 < state["position"]["completed"].get("adversarial", 0) < 60  # mid-way, in adversarial
    assert not (killed / "metrics.json").exists()
    resumed = run_cli(["train", *KILL_ARGS, "--run-dir", killed])
    assert resumed.code == 0, resumed.err
    whole = run_cli(["train", *KILL_ARGS, "--run-dir", tmp_path / "whole"])
    assert whole.code == 0, whole.err
    assert _adversarial_epochs(killed) == list(range(1, 61))
    for name in COMPARED:
        assert (killed / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name


def test_resume_from_a_mid_run_checkpoint_in_process(copy_run, tmp_path, run_cli):
    """Roll a finished run back to its end of pretraining (as a kill right after that save would leave it):
    a re-run redoes the adversarial phase and writes the same metrics.jsonl."""
    reference = (copy_run / "metrics.jsonl").read_bytes()
    shutil.copyfile(copy_run / "checkpoints" / "pretrain_d.pt", copy_run / "checkpoints" / "last.pt")
    (copy_run / "metrics.json").unlink()
    with open(copy_run / "metrics.jsonl", "ab") as fh:
        fh.write(b'{"phase": "adversarial", "epoch": 1, "event": "train", "junk": tru')  # half-written line
    result = run_cli(["train", *TINY, "--seed", "1", "--run-dir", copy_run])
    assert result.code == 0, result.err
    assert (copy_run / "metrics.jsonl").read_bytes() == reference


# ---------------------------------------------------------------- oracle-study


def test_oracle_study_end_to_end(tmp_path, run_cli):
    out = tmp_path / "study"
    result = run_cli(["oracle-study", "--experiment", "oracle-tiny", "--seeds", "1", "--methods",
                      "mle,constant,seqgan", "--out", out, "--set", "schedule.adv_epochs=2"])
    assert result.code == 0, result.err
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["table"]) == ["random", "mle", "constant", "seqgan"]
    assert (out / "table.md").read_text() in result.out
    pretrain = (out / "seed1" / "pretrain" / "metrics.jsonl").read_text()
    init = json.loads(pretrain.splitlines()[0])
    assert summary["table"]["random"]["nll_oracle"][0] == init["nll_oracle"]
    for method in ("mle", "constant", "seqgan"):
        run_dir = out / "seed1" / method
        text = (run_dir / "metrics.jsonl").read_text()
        assert text.startswith(pretrain)  # every method branches off the same pretraining
        adv = [json.loads(x) for x in text[len(pretrain):].splitlines() if '"train"' in x]
        assert [r["epoch"] for r in adv] == [1, 2]
        final = json.loads((run_dir / "metrics.json").read_text())
        assert summary["table"][method]["nll_oracle"][0] == final["nll_oracle"]
    adv = lambda m: [json.loads(x) for x in (out / "seed1" / m / "metrics.jsonl").read_text().splitlines()  # noqa
                     if '"adversarial"' in x and '"train"' in x]
    assert all("g_mle_nll" in r for r in adv("mle"))
    assert all(r["g_reward"] == 1.0 and "d_loss" not in r for r in adv("constant"))
    assert all("d_loss" in r and r["g_reward"] < 1.0 for r in adv("seqgan"))
    # a branched run can be sampled at its inherited pretraining epochs (and so at "best", wherever it is)
    early = [run_cli(["sample", "--run-dir", out / "seed1" / name, "-n", "3", "--checkpoint", "pretrain_g:2"])
             for name in ("pretrain", "seqgan")]
    assert early[0].code == early[1].code == 0 and early[0].out == early[1].out
    assert run_cli(["sample", "--run-dir", out / "seed1" / "mle", "--checkpoint", "best"]).code == 0


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("extra,needles", [
    (["--experiment", "nope"], ["unknown experiment 'nope'", "oracle-tiny"]),
    (["--experiment", "oracle-tiny", "--set", "schedule.adv_epoch=3"], ["schedule.adv_epochs"]),
    (["--experiment", "oracle-tiny", "--set", "schedule.adv_epochs=many"], ["schedule.adv_epochs=many", "int"]),
    (["--experiment", "oracle-tiny", "--set", "generator.lr=1e-2x"], ["generator.lr", "float"]),
    (["--experiment", "oracle-tiny", "--set", "schedule.adv_epochs"], ["KEY=VALUE"]),
    (["--experiment", "oracle-tiny", "--set", "adversarial.num_rollouts=0"], ["num_rollouts"]),
    (["--experiment", "oracle-tiny", "--set", "data.oracle=original", "--data-dir", "/nonexistent"],
     ["/nonexistent", "--data-dir"]),
    (["--experiment", "oracle-tiny", "--init-from", "/nonexistent/run"], ["--init-from"]),
])
def test_bad_train_input_exits_2_and_writes_nothing(tmp_path, run_cli, extra, needles):
    run_dir = tmp_path / "new"
    result = run_cli(["train", *extra, "--run-dir", run_dir])
    assert_one_line_error(result, "train", *needles)
    assert not run_dir.exists()


def test_missing_data_env_var_is_honoured(tmp_path, run_cli, monkeypatch):
    monkeypatch.setenv("SEQGAN_DATA", str(tmp_path / "empty"))
    result = run_cli(["train", "--experiment", "oracle", "--set", "data.oracle=original", "--run-dir",
                      tmp_path / "new"])
    assert_one_line_error(result, "train", str(tmp_path / "empty"))
    assert not (tmp_path / "new").exists()


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:3000])


def test_corrupt_checkpoint_refused_by_sample_and_evaluate(copy_run, run_cli):
    _truncate(copy_run / "checkpoints" / "last.pt")
    before = snapshot(copy_run)
    for command in (["sample", "-n", "3"], ["evaluate"]):
        line = assert_one_line_error(run_cli([*command, "--run-dir", copy_run]), command[0], "last.pt",
                                     "corrupt or truncated", "re-run the `seqgan train` command")
        assert "--checkpoint" in line
    assert snapshot(copy_run) == before
    # what the message says works: another checkpoint samples, and a re-run of train repairs last.pt
    assert run_cli(["sample", "--run-dir", copy_run, "-n", "3", "--checkpoint", "adversarial"]).code == 0
    result = run_cli(["train", *TINY, "--seed", "1", "--run-dir", copy_run])
    assert result.code == 0, result.err
    assert result.err_lines[0].startswith("note: checkpoint ") and "last.pt is corrupt or truncated" in result.err
    assert "resuming from adversarial.pt, the end of phase adversarial" in result.err_lines[0]
    assert (copy_run / "checkpoints" / "last.pt").read_bytes() == before["checkpoints/adversarial.pt"]
    for name in COMPARED:  # nothing left to train: the run's files are as they were
        assert (copy_run / name).read_bytes() == before[name], name
    assert run_cli(["sample", "--run-dir", copy_run, "-n", "3"]).code == 0


@pytest.mark.parametrize("damage", ["corrupt", "missing"])
def test_train_resumes_from_the_newest_readable_phase_checkpoint(tiny_run, copy_run, run_cli, damage):
    """last.pt unreadable (or deleted) and the adversarial phase unfinished: the re-run continues from the end of
    D pretraining, keeping metrics.jsonl up to it and its snapshots, and ends as the uninterrupted run."""
    ckpts = copy_run / "checkpoints"
    (ckpts / "adversarial.pt").unlink()
    (copy_run / "metrics.json").unlink()
    if damage == "corrupt":
        _truncate(ckpts / "last.pt")
    else:
        (ckpts / "last.pt").unlink()
    kept = {p.name: p.stat().st_mtime_ns for p in ckpts.glob("eval-pretrain_*.pt")}
    result = run_cli(["train", *TINY, "--seed", "1", "--run-dir", copy_run])
    assert result.code == 0, result.err
    note = result.err_lines[0]
    assert note.startswith("note: ") and ("corrupt" if damage == "corrupt" else "is missing") in note
    assert note.endswith("resuming from pretrain_d.pt, the end of phase pretrain_d"), note
    # the adversarial phase had not begun, so it "starts" (it used to say "resuming from adversarial epoch 0/3")
    assert "starting adversarial training (3 epochs)" in result.err_lines  # pretraining is not redone
    assert {p.name: p.stat().st_mtime_ns for p in ckpts.glob("eval-pretrain_*.pt")} == kept
    for name in COMPARED:
        assert (copy_run / name).read_bytes() == (tiny_run / name).read_bytes(), name
    load_checkpoint(ckpts / "last.pt")


def test_corrupt_checkpoint_without_a_phase_checkpoint(tiny_run, copy_run, run_cli):
    ckpts = copy_run / "checkpoints"
    for name in ("pretrain_g", "pretrain_d", "adversarial"):
        (ckpts / f"{name}.pt").unlink()
    _truncate(ckpts / "last.pt")
    before = snapshot(copy_run)
    assert_one_line_error(run_cli(["train", *TINY, "--seed", "1", "--run-dir", copy_run]), "train", "last.pt",
                          "no readable phase checkpoint", "delete")
    assert snapshot(copy_run) == before
    (ckpts / "last.pt").unlink()  # as the message says: the run is trained again from its start
    result = run_cli(["train", *TINY, "--seed", "1", "--run-dir", copy_run])
    assert result.code == 0, result.err
    assert result.err_lines[0] == "starting oracle-tiny seed 1 on cpu"
    for name in COMPARED:
        assert (copy_run / name).read_bytes() == (tiny_run / name).read_bytes(), name


def test_resume_with_a_different_architecture(copy_run, run_cli):
    before = snapshot(copy_run)
    result = run_cli(["train", *TINY, "--seed", "1", "--set", "generator.hidden_dim=8", "--run-dir", copy_run])
    assert_one_line_error(result, "train", "generator.hidden_dim")
    assert snapshot(copy_run) == before


def test_checkpoint_not_matching_config_json(copy_run, run_cli):
    config_path = copy_run / "config.json"
    data = json.loads(config_path.read_text())
    data["config"]["generator"]["hidden_dim"] = 8
    config_path.write_text(json.dumps(data))
    before = snapshot(copy_run)
    assert_one_line_error(run_cli(["sample", "--run-dir", copy_run, "-n", "2"]), "sample", "architecture")
    assert snapshot(copy_run) == before


def test_unreadable_config_json(copy_run, run_cli):
    (copy_run / "config.json").write_text("{not json")
    before = snapshot(copy_run)
    assert_one_line_error(run_cli(["train", *TINY, "--seed", "1", "--run-dir", copy_run]), "train", "config.json")
    assert_one_line_error(run_cli(["sample", "--run-dir", copy_run]), "sample", "config.json")
    assert snapshot(copy_run) == before


def test_sample_on_a_folder_that_is_not_a_run(tmp_path, run_cli):
    (tmp_path / "notes.txt").write_text("hi")
    assert_one_line_error(run_cli(["sample", "--run-dir", tmp_path]), "sample", "not a run directory")
    assert_one_line_error(run_cli(["evaluate", "--run-dir", tmp_path]), "evaluate", "not a run directory")
    assert_one_line_error(run_cli(["sample", "--run-dir", tmp_path / "missing"]), "sample", "not a run directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("extra,needle", [(["-n", "0"], "-n"), (["-n", "-3"], "-n"),
                                          (["--temperature", "0"], "--temperature"),
                                          (["--temperature", "-1"], "--temperature"),
                                          (["--checkpoint", "nope"], "nope")])
def test_bad_sample_arguments(tiny_run, run_cli, extra, needle):
    before = snapshot(tiny_run)
    assert_one_line_error(run_cli(["sample", "--run-dir", tiny_run, *extra]), "sample", needle)
    assert snapshot(tiny_run) == before


def test_evaluate_temperature_zero(tiny_run, run_cli):
    before = snapshot(tiny_run)
    assert_one_line_error(run_cli(["evaluate", "--run-dir", tiny_run, "--temperature", "0"]), "evaluate",
                          "--temperature")
    assert snapshot(tiny_run) == before


def test_run_dir_pointing_at_a_file(tmp_path, run_cli):
    path = tmp_path / "file.txt"
    path.write_text("keep me")
    assert_one_line_error(run_cli(["train", *TINY, "--run-dir", path]), "train", "is a file")
    assert_one_line_error(run_cli(["sample", "--run-dir", path]), "sample")
    assert path.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


@pytest.mark.parametrize("extra,needle", [(["--methods", "mle,bogus"], "bogus"), (["--seeds", "1,x"], "--seeds"),
                                          (["--experiment", "nope"], "nope")])
def test_bad_oracle_study_input(tmp_path, run_cli, extra, needle):
    out = tmp_path / "study"
    result = run_cli(["oracle-study", "--experiment", "oracle-tiny", *extra, "--out", out])
    assert_one_line_error(result, "oracle-study", needle)
    assert not out.exists()


def test_unknown_device(tmp_path, run_cli):
    result = run_cli(["train", *TINY, "--device", "foo", "--run-dir", tmp_path / "new"])
    assert_one_line_error(result, "train", "foo")


@pytest.mark.parametrize("where", ["missing/x.txt", "."])
def test_sample_out_in_a_bad_place(tiny_run, tmp_path, run_cli, where):
    result = run_cli(["sample", "--run-dir", tiny_run, "-n", "2", "--out", tmp_path / where])
    assert_one_line_error(result, "sample", "--out")


@pytest.mark.parametrize("method", ["mle", "constant"])
def test_d_precision_does_not_touch_the_controls(tmp_path, run_cli, method):
    """MLE and constant-reward G never read D, and D's precision draws no extra randomness: their G is the
    same with an fp32 or a bf16 D (so control runs made before D went bf16 stay valid)."""
    curves = []
    for precision in ("fp32", "bf16"):
        run_dir = tmp_path / precision
        result = run_cli(["train", *TINY, "--seed", "2", "--run-dir", run_dir, "--method", method,
                          "--set", f"discriminator.precision={precision}"])
        assert result.code == 0, result.err
        records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x]
        curves.append([{k: v for k, v in r.items() if not k.startswith("d_")} for r in records])
        assert any("d_loss" in r for r in records)  # D did train, in both precisions
    assert curves[0] == curves[1]
