"""Text corpora: loading, splitting, tokenizers, encoding, padding masks, and the text CLI path."""

from __future__ import annotations

import json

import pytest
import torch

from seqgan.base.errors import UserError
from seqgan.text.pretrain import mle_loss
from seqgan.text.task import eos_mask
from text_data.corpus import load_corpus, load_lines, split_lines
from text_data.dataset import encode_lines
from text_data.tokenizer import (
    BOS,
    EOS,
    PAD,
    SPECIALS,
    UNK,
    build_tokenizer,
    decode,
    load_tokenizer,
    save_tokenizer,
)

LINES = ["秦川雄帝宅，函谷壮皇居。", "绮殿千寻起，离宫百雉余。", "Héllo wörld, ça va?", "naïve café — déjà vu",
         "the cat sat on the mat .", "Ünïcödé ✓ emoji 🙂 text"]
TINY_TEXT = ["--set", "discriminator.filter_sizes=2,3", "--set", "discriminator.num_filters=8,8",
             "--set", "discriminator.emb_dim=8", "--set", "generator.emb_dim=8", "--set", "generator.hidden_dim=8",
             "--set", "schedule.pretrain_g_epochs=2", "--set", "schedule.pretrain_d_rounds=1",
             "--set", "schedule.adv_epochs=2", "--set", "schedule.num_negatives=32",
             "--set", "adversarial.num_rollouts=2", "--set", "schedule.checkpoint_every_s=0"]


@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_tokenizer_round_trip_unicode(kind, tmp_path):
    tok = build_tokenizer(kind, LINES, vocab_size=400)
    assert [tok.id_to_token(i) for i in range(4)] == SPECIALS
    for line in LINES:
        ids = tok.encode(line, add_special_tokens=False).ids
        assert UNK not in ids
        text = decode(tok, ids + [EOS, 17, 18])  # everything after <eos> is ignored
        assert text == line
        if kind == "word":  # the tokens are the pre-tokenizer's pieces of the line: words and punctuation runs
            pieces = [p for p, _ in tok.pre_tokenizer.pre_tokenize_str(tok.normalizer.normalize_str(line))]
            assert [tok.id_to_token(i) for i in ids] == pieces and "".join(pieces) == "▁" + line.replace(" ", "▁")
    save_tokenizer(tok, tmp_path / "tokenizer.json")
    again = load_tokenizer(tmp_path / "tokenizer.json")
    assert again.encode(LINES[0]).ids == tok.encode(LINES[0]).ids


def test_char_tokenizer_gives_one_token_per_character():
    tok = build_tokenizer("char", LINES[:2], vocab_size=100)
    assert len(tok.encode(LINES[0], add_special_tokens=False).ids) == len(LINES[0]) == 12


def test_vocab_size_must_leave_room_for_specials():
    with pytest.raises(UserError, match="special tokens"):
        build_tokenizer("word", LINES, vocab_size=len(SPECIALS))


def test_split_is_deterministic_and_disjoint():
    lines = [f"line {i}" for i in range(101)]
    a = split_lines(lines, (0.8, 0.1, 0.1), seed=3)
    b = split_lines(lines, (0.8, 0.1, 0.1), seed=3)
    c = split_lines(lines, (0.8, 0.1, 0.1), seed=4)
    assert a == b and a != c
    train, valid, test = a
    assert len(train) == 81 and len(valid) == 10 and len(test) == 10
    assert sorted(train + valid + test) == sorted(lines)  # disjoint and complete


def test_encode_pads_truncates_and_drops():
    tok = build_tokenizer("word", ["a b c d e f g"], vocab_size=50)
    enc = encode_lines(tok, ["a b", "a b c d e f g"], max_len=4)
    a, b = tok.token_to_id("▁a"), tok.token_to_id("▁b")  # word tokens carry the space before them
    assert enc.ids.tolist()[0][:3] == [a, b, EOS] and enc.ids[0, 3] == PAD
    assert enc.ids[1, 3] == EOS and enc.truncated == 1 and enc.lengths.tolist() == [3, 4]
    assert enc.mask().tolist() == [[True, True, True, False], [True] * 4]
    dropped = encode_lines(tok, ["a b", "a b c d e f g"], max_len=4, too_long="drop")
    assert dropped.kept == 1 and dropped.dropped == 1
    with pytest.raises(UserError, match="no line fits"):
        encode_lines(tok, ["a b c d e f g"], max_len=4, too_long="drop")


def test_eos_mask_keeps_the_eos_and_hides_what_follows():
    ids = torch.tensor([[5, 6, EOS, 7, 8], [5, 5, 5, 5, 5], [EOS, 9, EOS, 9, 9]])
    assert eos_mask(ids).tolist() == [[True, True, True, False, False], [True] * 5,
                                      [True, False, False, False, False]]


def test_padding_gets_no_gradient():
    from seqgan.text.generator import LSTMGenerator

    g = LSTMGenerator(20, 8, 8, 6, BOS, EOS, PAD).init_normal_(0.1, torch.Generator().manual_seed(0))
    ids = torch.tensor([[5, 6, EOS, PAD, PAD, PAD]])
    changed = ids.clone()
    changed[0, 3:] = torch.tensor([7, 8, 9])  # different tokens only where the mask is False
    mask = eos_mask(ids)
    grads = []
    for x in (ids, changed):
        g.zero_grad()
        mle_loss(g, x, mask).backward()
        grads.append([p.grad.clone() for p in g.parameters()])
    for a, b in zip(*grads):
        assert torch.equal(a, b)


def test_padding_gets_no_reward(monkeypatch):
    from seqgan.text.adversarial import SeqGANPair
    from seqgan.text.config import ExperimentConfig, apply_overrides
    from seqgan.text.run import build_models

    cfg = apply_overrides(ExperimentConfig(), ["adversarial.num_rollouts=2", "adversarial.g_batch_size=4"])
    g, d = build_models(cfg, 20, 6, torch.device("cpu"), BOS, EOS, PAD)
    pair = SeqGANPair(g, d, torch.randint(4, 20, (8, 6)), cfg, eos_mask)
    seen = {}
    import seqgan.text.adversarial as adv

    real = adv.weighted_nll

    def spy(h, w, b, targets, row_weights, *a):
        seen["targets"], seen["weights"] = targets.clone(), row_weights.clone()
        return real(h, w, b, targets, row_weights, *a)

    monkeypatch.setattr(adv, "weighted_nll", spy)
    monkeypatch.setattr(g, "sample", lambda n, gen, temperature=1.0: torch.tensor([[5, EOS, PAD, PAD, PAD, PAD]] * n))
    pair.policy_gradient_step(torch.Generator().manual_seed(0))
    weights = seen["weights"].view(4, 6)
    assert (weights[:, 2:] == 0).all() and (weights[:, :2] != 0).all()


def test_load_lines_errors(tmp_path):
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "blank.txt").write_text("  \n\t\n")
    (tmp_path / "bin.txt").write_bytes(b"abc\x00\x01\x02")
    (tmp_path / "latin.txt").write_bytes("café\n".encode("latin-1"))
    (tmp_path / "t.csv").write_text("a,b\n1,2\n")
    for name, pattern in [("empty.txt", "no usable lines"), ("blank.txt", "no usable lines"),
                          ("bin.txt", "binary"), ("latin.txt", "not valid UTF-8"), ("missing.txt", "does not exist")]:
        with pytest.raises(UserError, match=pattern):
            load_lines(tmp_path / name)
    with pytest.raises(UserError, match="columns are: a, b"):
        load_lines(tmp_path / "t.csv", "text")


def test_tabular_and_folder_corpora(tmp_path):
    (tmp_path / "t.jsonl").write_text("\n".join(json.dumps({"body": f"row {i}"}) for i in range(5)) + "\n")
    assert load_lines(tmp_path / "t.jsonl", "body") == [f"row {i}" for i in range(5)]
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("one\ntwo\n")
    (folder / "b.txt").write_text("three\n")
    assert load_lines(folder) == ["one", "two", "three"]


def test_named_corpus_missing_says_where(tmp_path):
    with pytest.raises(UserError, match="not found at"):
        load_corpus("poems", data_dir=str(tmp_path))


@pytest.fixture
def corpus_file(tmp_path):
    import random

    rng = random.Random(0)
    words = "the a cat dog sat on mat ran red blue big house tree near far".split()
    path = tmp_path / "my.txt"
    path.write_text("".join(" ".join(rng.choice(words) for _ in range(rng.randint(3, 9))) + " .\n"
                            for _ in range(200)))
    return path


def test_train_sample_resume_on_a_text_file(tmp_path, corpus_file, run_cli):
    run = tmp_path / "run"
    args = ["train", "--corpus", corpus_file, "--tokenizer", "word", "--experiment", "text-small",
            "--run-dir", run, *TINY_TEXT]
    first = run_cli(args)
    assert first.code == 0, first.err
    assert (run / "tokenizer.json").is_file() and (run / "data" / "test.txt").is_file()
    metrics = (run / "metrics.jsonl").read_bytes()
    assert run_cli(args).code == 0 and (run / "metrics.jsonl").read_bytes() == metrics  # finished: a no-op
    out = run_cli(["sample", "--run-dir", run, "-n", "5", "--seed", "3"])
    again = run_cli(["sample", "--run-dir", run, "-n", "5", "--seed", "3"])
    assert out.code == 0 and out.out == again.out
    lines = out.out.splitlines()
    vocab = set(corpus_file.read_text().split()) | {"<unk>"}  # a 2-epoch model may still emit <unk>
    assert len(lines) == 5 and all(set(line.split()) <= vocab for line in lines)
    assert sum(len(line.split()) for line in lines) > 5
    assert "nll_test" in json.loads((run / "metrics.json").read_text())


@pytest.mark.parametrize("extra, pattern", [
    (["--vocab-size", "3"], "special tokens"),
    (["--max-len", "2", "--too-long", "drop"], "no line fits"),
    (["--text-field", "body"], "applies to .csv"),
    (["--split", "0.5,0.5"], "three non-negative fractions"),
])
def test_text_bad_input_exits_2_with_one_line(tmp_path, corpus_file, run_cli, extra, pattern):
    result = run_cli(["train", "--corpus", corpus_file, "--experiment", "text-small", "--run-dir",
                      tmp_path / "r", *TINY_TEXT, *extra])
    assert result.code == 2 and len(result.err_lines) == 1 and pattern in result.err
    assert "Traceback" not in result.err and not (tmp_path / "r").exists()


def test_corrupt_tokenizer_is_refused(tmp_path, corpus_file, run_cli):
    run = tmp_path / "run"
    assert run_cli(["train", "--corpus", corpus_file, "--experiment", "text-small", "--run-dir", run,
                    *TINY_TEXT]).code == 0
    (run / "tokenizer.json").write_text("{not json")
    result = run_cli(["sample", "--run-dir", run, "-n", "2"])
    assert result.code == 2 and len(result.err_lines) == 1 and "tokenizer" in result.err


def test_human_eval_draws_from_real_text_run_dirs(tmp_path, corpus_file, run_cli):
    """`human-eval create --system NAME=RUN_DIR --real test` on two real (tiny) trained text runs."""
    from seqgan.human.store import Study

    runs = []
    for seed in (1, 2):
        run = tmp_path / f"run{seed}"
        assert run_cli(["train", "--corpus", corpus_file, "--experiment", "text-small", "--seed", seed,
                        "--run-dir", run, *TINY_TEXT]).code == 0
        runs.append(run)
    db = tmp_path / "study.db"
    result = run_cli(["human-eval", "create", "--study", db, "--per-system", "3", "--seed", "5",
                      "--system", f"mle={runs[0]}", "--system", f"seqgan={runs[1]}", "--real", "test"])
    assert result.code == 0, result.err
    test_lines = set((runs[0] / "data" / "test.txt").read_text().splitlines())
    with Study.open(db) as study:
        items = study.items()
        assert len(items) == 9
        assert {text for _, system, text in items if system == "real"} <= test_lines


def test_prefix_top_k_top_p_and_jsonl_sampling(tmp_path, corpus_file, run_cli):
    """--prefix continues the prompt; --top-k 1 is greedy; --top-p keeps the nucleus; jsonl log-probabilities
    are G's own score of the sampled ids."""
    from seqgan.text.run import load_run

    run = tmp_path / "run"
    assert run_cli(["train", "--corpus", corpus_file, "--tokenizer", "word", "--experiment", "text-small",
                    "--run-dir", run, *TINY_TEXT]).code == 0
    prompted = run_cli(["sample", "--run-dir", run, "-n", "6", "--seed", "1", "--prefix", "the big cat"])
    assert prompted.code == 0, prompted.err
    assert all(line.startswith("the big cat") for line in prompted.out.splitlines())
    greedy = [run_cli(["sample", "--run-dir", run, "-n", "4", "--seed", str(s), "--top-k", "1"]).out
              for s in (1, 2)]
    assert len(set(greedy[0].splitlines())) == 1 and greedy[0] == greedy[1]  # argmax at every step, any seed
    narrow = run_cli(["sample", "--run-dir", run, "-n", "4", "--seed", "1", "--top-p", "1e-6"]).out
    assert narrow == greedy[0]  # a tiny nucleus holds only the most likely token
    records = [json.loads(x) for x in run_cli(["sample", "--run-dir", run, "-n", "3", "--seed", "4",
                                               "--format", "jsonl"]).out.splitlines()]
    assert [sorted(r) for r in records] == [["ids", "logprob", "text"]] * 3
    loaded = load_run(run)
    T = loaded.task.seq_len  # jsonl ids stop at <eos>: pad them back to score the batch
    ids = torch.tensor([r["ids"] + [loaded.task.pad_token] * (T - len(r["ids"])) for r in records])
    want = -loaded.pair.generator.score(ids, loaded.task.mask_fn(ids))
    assert [r["logprob"] for r in records] == pytest.approx(want.tolist(), abs=1e-4)
    too_long = run_cli(["sample", "--run-dir", run, "--prefix", " ".join(["the"] * 40)])
    assert too_long.code == 2 and len(too_long.err_lines) == 1 and "--prefix" in too_long.err


def test_text_run_stopped_early_and_resumed_matches_a_straight_run(tmp_path, corpus_file, run_cli):
    """A text run stopped after its first adversarial epoch and resumed (re-using its saved split and
    tokenizer) writes the same metrics as one that ran straight through."""
    base = ["train", "--corpus", corpus_file, "--tokenizer", "word", "--experiment", "text-small", *TINY_TEXT,
            "--set", "schedule.checkpoint_every_s=0"]
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    assert run_cli([*base, "--run-dir", straight]).code == 0
    assert run_cli([*base, "--run-dir", stopped, "--set", "schedule.adv_epochs=1"]).code == 0
    tokenizer = (stopped / "tokenizer.json").read_bytes()
    resumed = run_cli([*base, "--run-dir", stopped])
    assert resumed.code == 0, resumed.err
    assert (stopped / "tokenizer.json").read_bytes() == tokenizer
    def train_records(run_dir):
        return [r for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())
                if r["event"] == "train"]

    # the stopped run also evaluated at its old end (adversarial epoch 1); training itself is the same
    assert train_records(stopped) == train_records(straight)
    assert json.loads((stopped / "metrics.json").read_text()) == json.loads((straight / "metrics.json").read_text())


def test_a_run_resumes_with_its_own_settings_when_the_preset_defaults_change(tmp_path, corpus_file, run_cli):
    """Re-running a run's command resumes it with the settings stored in the run: only what the command sets
    explicitly changes them. A run made by an older version (an explicit length, no early stopping, another
    pretraining length) is simulated by its config.json; the re-run must extend it, not refuse it."""
    run = tmp_path / "run"
    made = ["train", "--corpus", corpus_file, "--tokenizer", "word", "--experiment", "text-small",
            "--run-dir", run, *TINY_TEXT, "--max-len", "12", "--set", "schedule.early_stop_patience=0"]
    assert run_cli(made).code == 0
    stored = json.loads((run / "config.json").read_text())["config"]
    # the same command without the flags that only restated the old preset's defaults
    again = ["train", "--corpus", corpus_file, "--tokenizer", "word", "--experiment", "text-small",
             "--run-dir", run, "--set", "schedule.adv_epochs=3"]
    result = run_cli(again)
    assert result.code == 0, result.err
    now = json.loads((run / "config.json").read_text())["config"]
    assert now["data"]["seq_len"] == 12 and now["schedule"]["early_stop_patience"] == 0
    assert now["schedule"]["adv_epochs"] == 3 and stored["schedule"]["adv_epochs"] == 2
    assert now["generator"] == stored["generator"]
    # another preset is still another run
    other = run_cli(["train", "--corpus", corpus_file, "--experiment", "coco", "--run-dir", run])
    assert other.code == 2 and "different configuration" in other.err
