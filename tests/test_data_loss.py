"""No command destroys what a user has: an output onto a study database, onto a run's own files, or a training run
into a folder of the user's files is refused with exit code 2 and one stderr line, and every file keeps its bytes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from seqgan.base.errors import UserError
from seqgan.base.outputs import check_output_file, check_run_dir
from tests.conftest import TINY, checksums, run_cli_quiet
from tests.test_cli_train import assert_one_line_error


@pytest.fixture(scope="module")
def study_template(tmp_path_factory) -> Path:
    """A folder with a small study (study.db) and the two text files it was made from."""
    folder = tmp_path_factory.mktemp("study")
    (folder / "machine.txt").write_text("".join(f"machine line {i}\n" for i in range(10)))
    (folder / "human.txt").write_text("".join(f"human line {i}\n" for i in range(10)))
    result = run_cli_quiet(["human-eval", "create", "--study", folder / "study.db", "--system",
                            f"m={folder / 'machine.txt'}", "--real", folder / "human.txt", "--per-system", "3"])
    assert result.code == 0, result.err
    return folder


@pytest.fixture
def study_dir(study_template, tmp_path, monkeypatch) -> Path:
    """A private copy of the study folder, as the working directory."""
    folder = tmp_path / "work"
    shutil.copytree(study_template, folder)
    monkeypatch.chdir(folder)
    return folder


# 1. an answers sheet or item sheet written over the study database itself
@pytest.mark.parametrize("argv", [
    ["results", "--study", "study.db", "--csv", "study.db"],
    ["results", "--study", "study.db", "--csv", "./study.db"],
    ["results", "--study", "study.db", "--csv", "link.db"],  # a symbolic link to the study
    ["results", "--study", "study.db", "--csv", "hard.csv"],  # a hard link: the same file under another name
    ["results", "--study", "study.db", "--csv", "study.db-wal"],
    ["export", "--study", "study.db", "--out", "study.db"],
    ["export", "--study", "study.db", "--out", "../work/study.db"],
    ["export", "--study", "study.db", "--out", "link.db"],
    ["export", "--study", "study.db", "--out", "hard.csv"],
    ["export", "--study", "hard.csv", "--out", "study.db"],
    ["export", "--study", "study.db", "--out", "copy.db"],  # another study: not an input, still a database
])
def test_an_output_onto_a_study_database_is_refused(study_dir, run_cli, argv):
    (study_dir / "link.db").symlink_to(study_dir / "study.db")
    os.link(study_dir / "study.db", study_dir / "hard.csv")
    shutil.copyfile(study_dir / "study.db", study_dir / "copy.db")
    before = checksums(study_dir)
    result = run_cli(["human-eval", *argv])
    assert_one_line_error(result, "human-eval")
    assert checksums(study_dir) == before
    assert run_cli(["human-eval", "results", "--study", "study.db"]).code == 0  # still a readable study


def test_sheets_beside_the_study_are_written_and_an_old_sheet_is_replaced(study_dir, run_cli):
    (study_dir / "sheet.csv").write_text("an old sheet\n")
    db = checksums(study_dir)["study.db"]
    assert run_cli(["human-eval", "export", "--study", "study.db", "--out", "sheet.csv"]).code == 0
    printed = run_cli(["human-eval", "export", "--study", "study.db"]).out
    # CSV rows end in CRLF (RFC 4180), in the file and on stdout alike
    assert (study_dir / "sheet.csv").read_bytes().decode() == printed and printed.startswith("item_id,text\r\n")
    assert run_cli(["human-eval", "results", "--study", "study.db", "--csv", "answers.csv"]).code == 0
    assert (study_dir / "answers.csv").read_text().startswith("rater,")
    assert checksums(study_dir)["study.db"] == db
    assert not list(study_dir.glob("*.tmp"))  # written through a temporary file that was renamed


# 2. samples written over a file the run directory owns
RUN_FILES = ["config.json", "samples.txt", "metrics.jsonl", "metrics.json", "run.log", "checkpoints/last.pt"]


@pytest.mark.parametrize("target", [*RUN_FILES, "checkpoints/new.txt", "metrics-extra.jsonl", "link-to-config", "."])
def test_sample_out_onto_a_run_file_is_refused(copy_run, tmp_path, run_cli, target):
    if target == "link-to-config":  # a link outside the run that points at the run's config.json
        link = tmp_path / "link-to-config"
        link.symlink_to(copy_run / "config.json")
        out = link
    else:
        out = copy_run / target
    before = checksums(tmp_path)
    result = run_cli(["sample", "--run-dir", copy_run, "-n", "3", "--out", out])
    assert_one_line_error(result, "sample", "--out")
    assert checksums(tmp_path) == before


def test_sample_out_as_a_new_file_beside_the_run_is_written(copy_run, tmp_path, run_cli):
    before = checksums(copy_run)
    result = run_cli(["sample", "--run-dir", copy_run, "-n", "3", "--out", copy_run / "samples-t1.txt"])
    assert result.code == 0, result.err
    assert len((copy_run / "samples-t1.txt").read_text().splitlines()) == 3
    after = checksums(copy_run)
    assert {k: v for k, v in after.items() if k != "samples-t1.txt"} == before
    # a hard link to the run's config.json elsewhere is an ordinary name: it is replaced through a rename, which
    # gives it a new file and leaves the run's config.json as it was
    os.link(copy_run / "config.json", tmp_path / "hard.json")
    assert run_cli(["sample", "--run-dir", copy_run, "-n", "3", "--out", tmp_path / "hard.json"]).code == 0
    assert len((tmp_path / "hard.json").read_text().splitlines()) == 3 and checksums(copy_run) == after


# 3. training into a folder that holds the user's files and is not a run
USER_FILES = {"data/train.txt": "my corpus\n", "samples.txt": "my samples\n", "metrics.jsonl": "{}\n",
              "tokenizer.json": "{}\n", "notes.md": "# notes\n"}


@pytest.fixture
def user_folder(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "project"
    for name, text in USER_FILES.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    monkeypatch.chdir(folder)
    return folder


@pytest.mark.parametrize("argv", [
    ["train", *TINY, "--run-dir", "."],
    ["train", *TINY, "--run-dir", "../project"],
    ["train", *TINY, "--run-dir", "data"],
    ["image-train", "--dataset", "mnist", "--run-dir", "."],
])
def test_train_into_a_folder_that_is_not_a_run_is_refused(user_folder, tmp_path, run_cli, argv):
    before = checksums(tmp_path)
    result = run_cli(argv)
    assert_one_line_error(result, argv[0], "--run-dir", "config.json")
    assert checksums(tmp_path) == before


def test_train_in_a_corpus_folder_with_a_config_json_that_is_not_ours_is_refused(user_folder, tmp_path, run_cli):
    (user_folder / "config.json").write_text('{"learning_rate": 0.1}\n')
    before = checksums(tmp_path)
    assert_one_line_error(run_cli(["train", *TINY, "--run-dir", "."]), "train", "config.json")
    assert checksums(tmp_path) == before


def test_a_run_directory_resumes_and_new_or_empty_folders_are_accepted(copy_run, tmp_path, run_cli):
    before = checksums(copy_run / "checkpoints")
    result = run_cli(["train", *TINY, "--seed", "1", "--run-dir", copy_run])  # finished: resumes, nothing to do
    assert result.code == 0, result.err
    assert checksums(copy_run / "checkpoints") == before
    (tmp_path / "empty").mkdir()
    (tmp_path / "killed" / "checkpoints").mkdir(parents=True)  # what a run killed before its config.json leaves
    for folder in ("new", "empty", "killed"):
        assert check_run_dir(tmp_path / folder) == tmp_path / folder
    (tmp_path / "killed" / "checkpoints" / "x.pt").write_bytes(b"")
    with pytest.raises(UserError, match="no config.json"):
        check_run_dir(tmp_path / "killed")


def test_an_unrelated_existing_output_is_replaced_and_a_folder_is_not(tmp_path):
    (tmp_path / "old.txt").write_text("old\n")
    assert check_output_file(tmp_path / "old.txt", "--out") == tmp_path / "old.txt"
    for bad, needle in ((tmp_path, "is a folder"), (tmp_path / "old.txt" / "x", "is a file, not a folder"),
                        (tmp_path / "no" / "x.txt", "does not exist")):
        with pytest.raises(UserError, match=needle):
            check_output_file(bad, "--out")
    with pytest.raises(UserError, match="--in"):
        check_output_file(tmp_path / "old.txt", "--out", [("--in", str(tmp_path / "old.txt"))])
