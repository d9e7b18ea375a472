"""Human-written items of a study drawn with a text run go through the run's encode -> truncate -> decode path,
like its samples, and <unk> is escaped once on the rating page, whichever source an item came from."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch

from seqgan.human.sources import real_texts
from seqgan.text.config import ExperimentConfig, apply_overrides
from seqgan.text.presets import get_preset
from seqgan.text.task import build_text_task
from text_data.tokenizer import EOS, PAD, UNK, load_tokenizer

TRAIN = ["the cat sat on the mat.", "the dog sat (on the mat).", "a cat ran to the dog, then sat.",
         "on the mat the cat sat; the dog ran."] * 10


def text_run(folder: Path, *overrides: str) -> Path:
    """A text run directory as `seqgan train` leaves it, without the training: config, split, tokenizer."""
    corpus = folder / "corpus.txt"
    corpus.write_text("".join(line + "\n" for line in TRAIN))
    config = apply_overrides(get_preset("text-small"), [f"data.corpus={corpus}", *overrides])
    run = folder / "run"
    build_text_task(config, None, None, torch.device("cpu")).save(run)
    (run / "config.json").write_text(json.dumps({"config": config.to_dict()}))
    return run


def machine_text(run: Path, ids: list[int]) -> str:
    """What a sample of G with these ids shows: the run's own decoding of a padded (1, T) row."""
    config = ExperimentConfig.from_dict(json.loads((run / "config.json").read_text())["config"])
    task = build_text_task(config, None, run, torch.device("cpu"))
    row = ids + [EOS] + [PAD] * (task.seq_len - len(ids) - 1)
    return task.decode(torch.tensor([row]))[0]


def ids_of(run: Path, line: str) -> list[int]:
    return load_tokenizer(run / "tokenizer.json").encode(line, add_special_tokens=False).ids


def test_a_real_line_shows_exactly_as_a_sample_with_the_same_ids(tmp_path):
    run = text_run(tmp_path)
    real = tmp_path / "real.txt"
    line = "the zebra sat (on the mat)."  # "zebra" is not in the run's vocabulary
    real.write_text(line + "\n")
    [shown] = real_texts(str(real), str(run), 1, seed=0)
    assert shown == "the <unk> sat (on the mat)."  # hand-written: the word becomes <unk>, spacing kept
    ids = ids_of(run, line)
    assert UNK in ids and shown == machine_text(run, ids)


def test_real_lines_are_cut_where_a_sample_must_end(tmp_path):
    run = text_run(tmp_path, "data.seq_len=5")
    real = tmp_path / "real.txt"
    real.write_text("the cat sat on the mat.\n")
    assert real_texts(str(real), str(run), 1, seed=0) == ["the cat sat on"]  # 4 tokens + <eos>


def test_real_test_split_goes_through_the_run(tmp_path):
    run = text_run(tmp_path, "data.seq_len=4")
    test_lines = (run / "data" / "test.txt").read_text().splitlines()
    shown = real_texts("test", str(run), 4, seed=3)
    cut = {" ".join(line.split()[:3]).rstrip(".,;") for line in test_lines}  # 3 words: none ends in punctuation
    assert set(shown) <= cut and len(shown) == 4


def test_without_a_text_run_the_lines_are_kept_as_written(tmp_path):
    real = tmp_path / "real.txt"
    real.write_text("anything <goes> here\n")
    assert real_texts(str(real), None, 1, seed=0) == ["anything <goes> here"]


class SampleText(HTMLParser):
    """The text a browser shows inside <div class="sample">."""

    def __init__(self) -> None:
        super().__init__()
        self.inside, self.text = False, ""

    def handle_starttag(self, tag, attrs) -> None:
        self.inside = self.inside or dict(attrs).get("class") == "sample"

    def handle_endtag(self, tag) -> None:
        if tag == "div":
            self.inside = False

    def handle_data(self, data) -> None:
        if self.inside:
            self.text += data


def test_unk_is_escaped_once_for_real_and_machine_items(tmp_path):
    """A study whose model wrote exactly the ids of the real lines: both sources show the same strings, and
    the page shows them as stored (<unk> escaped once: "&lt;unk&gt;" in the source, "<unk>" on screen)."""
    pytest.importorskip("flask")
    from seqgan.human.app import create_app
    from seqgan.human.store import Study, SystemSpec

    run = text_run(tmp_path)
    lines = ["the zebra sat on the mat.", "the dog sat (on the sofa)."]
    real_file = tmp_path / "real.txt"
    real_file.write_text("".join(line + "\n" for line in lines))
    real = real_texts(str(real_file), str(run), 2, seed=0)
    samples = [machine_text(run, ids_of(run, line)) for line in lines]
    assert sorted(real) == sorted(samples) == ["the <unk> sat on the mat.", "the dog sat (on the <unk>)."]
    db = tmp_path / "s.db"
    specs = [SystemSpec("model", str(run)), SystemSpec("real", str(real_file), is_real=True)]
    with Study.create(db, specs, {"model": samples, "real": real}, seed=0) as study:
        token = study.add_raters(1)[0].token
        organiser = study.organiser_token
        stored = sorted(text for _code, _system, text in study.items())
    client = create_app(db).test_client()
    shown = []
    for _ in range(4):
        html = client.get(f"/r/{token}").get_data(as_text=True)
        assert "&lt;unk&gt;" in html and "&amp;" not in html  # escaped once, never twice
        parser = SampleText()
        parser.feed(html)
        shown.append(parser.text)
        code = html.split('name="item" value="')[1][:10]
        client.post(f"/r/{token}/answer", data={"item": code, "answer": "human"})
    assert sorted(shown) == stored
    page = client.get(f"/o/{organiser}").get_data(as_text=True)
    assert 'id="real-note"' in page and "unknown words show as &lt;unk&gt; in both" in page
