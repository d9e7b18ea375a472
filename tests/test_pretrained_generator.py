"""A pretrained causal language model as G (`seqgan train --generator-from PATH`), for any model family.

Every model here is a tiny random one of two families (GPT-2: byte-level BPE, one <|endoftext|> as start, end
and padding; Llama: a Metaspace BPE with <unk>, <s> != </s>, and an embedding padded past the tokenizer), with
a tokenizer built by `tokenizers` and saved with save_pretrained into tmp_path: nothing is downloaded.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
from pathlib import Path

import pytest
import torch

from seqgan.base.errors import UserError
from seqgan.text.rollout import Rollout
from seqgan.text.scoring import tempered
from tests.conftest import run_cli_quiet
from tests.conftest import snapshot as file_snapshot
from tests.test_interrupt import _signal_after, _start
from tests.test_transformer_generator import slow_completions

pytest.importorskip("transformers")

WORDS = "the a cat dog sat on mat ran red blue big house tree near far".split()
CONTEXT = 40  # positions of every tiny model
WIDTH = 16
LLAMA_ROWS = 128  # the Llama model's embedding rows: more than its tokenizer's ids, as many real models pad it
SHARP_STD = 0.5  # weights that make the models' distributions far from uniform, so equalities mean something
TOLERANCE = 1e-5
MAX_LEN = 12
ROUND_TRIP = ["the cat sat on the mat.", "Hello, world! It's a \"test\" (really)?", "  two  spaces, é ü — ok !"]
TINY = ["--experiment", "text-small", "--seed", "1", "--max-len", str(MAX_LEN),
        "--set", "generator.lr=0.003", "--set", "discriminator.filter_sizes=2,3",
        "--set", "discriminator.num_filters=8,8", "--set", "discriminator.emb_dim=8",
        "--set", "schedule.pretrain_g_epochs=2", "--set", "schedule.pretrain_d_rounds=1",
        "--set", "schedule.adv_epochs=4", "--set", "schedule.eval_every=1", "--set", "schedule.num_negatives=32",
        "--set", "adversarial.num_rollouts=2", "--set", "adversarial.g_batch_size=16",
        "--set", "adversarial.g_lr=0.001", "--set", "schedule.checkpoint_every_s=3600"]


def corpus_lines(n: int = 120, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8))) + rng.choice([".", " !", ", ok."])
            for _ in range(n)]


def gpt2_tokenizer(lines: list[str]):
    """Byte-level BPE as GPT-2's: <|endoftext|> (the last id) starts, ends and pads, and is named as <unk> too
    (which byte-level BPE never produces)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.train_from_iterator(lines, trainers.BpeTrainer(vocab_size=300, show_progress=False,
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.add_special_tokens(["<|endoftext|>"])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                   unk_token="<|endoftext|>")


def llama_tokenizer(lines: list[str]):
    """A SentencePiece-style BPE (Metaspace) as Llama's: <unk> = 0, <s> = 1, </s> = 2, no padding token."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="first")
    tok.train_from_iterator(lines, trainers.BpeTrainer(vocab_size=100, special_tokens=["<unk>", "<s>", "</s>"],
                                                       show_progress=False))
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")


def tiny_model(family: str, tokenizer, rows: int | None = None, context: int = CONTEXT, seed: int = 0):
    """A random 2-layer, width-16 causal LM of `family` for `tokenizer` (rows: its embedding rows)."""
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    if family == "gpt2":
        eos = tokenizer.eos_token_id
        return GPT2LMHeadModel(GPT2Config(vocab_size=rows or len(tokenizer), n_embd=WIDTH, n_layer=2, n_head=2,
                                          n_positions=context, bos_token_id=eos, eos_token_id=eos))
    return LlamaForCausalLM(LlamaConfig(vocab_size=rows or LLAMA_ROWS, hidden_size=WIDTH, intermediate_size=32,
                                        num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                                        max_position_embeddings=context, bos_token_id=tokenizer.bos_token_id,
                                        eos_token_id=tokenizer.eos_token_id))


def save_model(folder: Path, family: str, lines: list[str], rows: int | None = None, context: int = CONTEXT,
               sharp: bool = False) -> Path:
    """A tiny model of `family` and its tokenizer, saved with save_pretrained into `folder`."""
    from seqgan.text.hf_models import quiet_transformers

    tokenizer = (gpt2_tokenizer if family == "gpt2" else llama_tokenizer)(lines)
    model = tiny_model(family, tokenizer, rows, context)
    if sharp:
        gen = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "norm" not in name and ".ln_" not in name:
                    p.normal_(0.0, SHARP_STD, generator=gen)
    with quiet_transformers():
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    return folder


def loaded_generator(folder: Path, max_len: int = MAX_LEN):
    from seqgan.text.pretrained import load_pretrained, pretrained_generator

    pretrained = load_pretrained(str(folder), False, None, needs_weights=True)
    return pretrained, pretrained_generator(pretrained, max_len, str(folder))


def model_log_probs(model, ids_with_start: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """log p(ids[:, t] | ids[:, :t]) for t >= 1, from the transformers model itself."""
    with torch.no_grad():
        logits = model(input_ids=ids_with_start).logits[:, :-1] / temperature
    return torch.log_softmax(logits, dim=-1).gather(2, ids_with_start[:, 1:, None])[..., 0]


def assert_refused(result, tmp_path: Path, before: dict, *words: str) -> None:
    """Exit 2, one line naming `words`, and nothing written under tmp_path."""
    assert result.code == 2 and len(result.err_lines) == 1, result.err
    for word in words:
        assert word in result.err_lines[0], result.err
    assert file_snapshot(tmp_path) == before


# ---------------------------------------------------------------- the generator is the model


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_log_probs_sampling_and_rollouts_are_the_models_own(tmp_path, family):
    pretrained, g = loaded_generator(save_model(tmp_path / family, family, corpus_lines(), sharp=True))
    g.eval()
    assert type(g.model).__name__ == ("GPT2LMHeadModel" if family == "gpt2" else "LlamaForCausalLM")
    assert g.vocab_size == (len(pretrained.tokenizer.get_vocab()) if family == "gpt2" else LLAMA_ROWS)
    ids = torch.randint(0, g.vocab_size, (4, MAX_LEN), generator=torch.Generator().manual_seed(3))
    with_start = torch.cat([torch.full((4, 1), g.start_token), ids], dim=1)
    theirs = model_log_probs(g.model, with_start)
    assert torch.allclose(g.token_log_probs(ids), theirs, atol=TOLERANCE, rtol=0)
    assert theirs.std() > 0.5  # far from uniform: the equality says something
    assert torch.allclose(g.score(ids), -theirs.sum(1), atol=1e-4, rtol=0)
    # tempering scales the logits of any family
    assert torch.allclose(tempered(g, 2.0).token_log_probs(ids), model_log_probs(g.model, with_start, 2.0),
                          atol=TOLERANCE, rtol=0)
    # KV-cached rollouts draw the tokens of a slow, uncached float64 reference
    seqs = g.sample(3, torch.Generator().manual_seed(0))
    u = torch.rand((MAX_LEN - 1) * 2 * 3, MAX_LEN, generator=torch.Generator().manual_seed(1))
    fast = Rollout(g, update_rate=0.0).completions(seqs, 2, torch.Generator(), uniforms=u)
    assert torch.equal(fast, slow_completions(g, seqs, 2, u))


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_the_run_encodes_with_the_models_tokenizer_and_decodes_clean_text(tmp_path, family):
    from text_data.dataset import encode_lines
    from text_data.tokenizer import decode

    lines = corpus_lines()
    pretrained, _g = loaded_generator(save_model(tmp_path / family, family, lines))
    tok, s, hf = pretrained.tokenizer, pretrained.specials, pretrained.hf_tokenizer
    if family == "gpt2":  # one <|endoftext|>, the last id, for start, end and padding
        eos = len(hf) - 1
        assert (s.start, s.eos, s.pad, s.unk) == (eos, eos, eos, None)
    else:
        assert (s.start, s.eos, s.pad, s.unk) == (1, 2, 2, 0)
    for line in lines[:20] + (ROUND_TRIP if family == "gpt2" else []):
        ids = tok.encode(line, add_special_tokens=False).ids
        assert ids == hf.encode(line, add_special_tokens=False)
        assert decode(tok, ids + [s.eos, 5, 6], specials=s) == line  # the tokenizer's own decoder: no re-spacing
    enc = encode_lines(tok, lines[:3], MAX_LEN, specials=s)
    for row, line, length in zip(enc.ids.tolist(), lines[:3], enc.lengths.tolist(), strict=True):
        assert row[length - 1] == s.eos and all(i == s.pad for i in row[length:])
        assert row[:length - 1] == hf.encode(line, add_special_tokens=False)
    # the text of a special token in a corpus line is text, not the token: a line never ends inside
    assert s.eos not in tok.encode("a <|endoftext|> b </s> c", add_special_tokens=False).ids


# ---------------------------------------------------------------- a run made with --generator-from


@pytest.fixture(scope="module")
def pretrained_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrained")
    lines = corpus_lines(150)
    corpus = root / "corpus.txt"
    corpus.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return corpus, save_model(root / "gpt2", "gpt2", lines), save_model(root / "llama", "llama", lines)


@pytest.fixture(scope="module")
def gpt2_run(pretrained_files):
    """A finished run fine-tuning the tiny GPT-2, whose model folder is deleted after training. Read-only."""
    corpus, gpt2, _ = pretrained_files
    source = corpus.parent / "gone"
    shutil.copytree(gpt2, source)
    run = corpus.parent / "run"
    result = run_cli_quiet(["train", "--corpus", corpus, "--generator-from", source, *TINY, "--run-dir", run])
    assert result.code == 0, result.err
    shutil.rmtree(source)  # sampling, evaluating, exporting and resuming need only the run directory
    return run


def test_the_run_fine_tunes_and_keeps_what_rebuilds_the_model(gpt2_run, pretrained_files):
    records = [json.loads(x) for x in (gpt2_run / "metrics.jsonl").read_text().splitlines() if x]
    assert {"pretrain_g", "pretrain_d", "adversarial"} <= {r["phase"] for r in records if r["event"] != "eval"}
    evals = [r["nll_valid"] for r in records if r["event"] == "eval"]
    assert min(evals) < evals[0]  # MLE fine-tuning learned something
    config = json.loads((gpt2_run / "config.json").read_text())["config"]
    assert config["generator"]["kind"] == "pretrained"
    assert config["generator"]["pretrained"] == str(pretrained_files[0].parent / "gone")
    kept = sorted(p.name for p in (gpt2_run / "model").iterdir())
    assert "config.json" in kept and "tokenizer.json" in kept and "source.json" in kept
    assert not [name for name in kept if name.endswith((".safetensors", ".bin"))]  # weights: in checkpoints only
    state = torch.load(gpt2_run / "checkpoints" / "last.pt", weights_only=False)
    arch = state["architecture"]
    assert arch["generator"]["kind"] == "pretrained" and arch["generator"]["model"] == "GPT2LMHeadModel"
    # D's embedding covers the model's vocabulary
    rows = arch["generator"]["vocab_size"]
    assert arch["vocab_size"] == rows and state["pair"]["discriminator"]["embedding.weight"].shape[0] == rows
    samples = (gpt2_run / "samples.txt").read_text(encoding="utf-8").splitlines()
    assert len(samples) == 100 and not any("\u0120" in s for s in samples)  # decoded text, not BPE pieces


def test_sample_evaluate_and_export_without_the_model_folder(gpt2_run, tmp_path, run_cli):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from seqgan.text.hf_models import quiet_transformers
    from seqgan.text.run import load_generator

    a = run_cli(["sample", "--run-dir", gpt2_run, "-n", "5", "--seed", "3"])
    assert a.code == 0 and len(a.out.splitlines()) == 5, a.err
    assert run_cli(["sample", "--run-dir", gpt2_run, "-n", "5", "--seed", "3"]).out == a.out
    prompted = run_cli(["sample", "--run-dir", gpt2_run, "-n", "3", "--top-k", "5", "--prefix", "the cat"])
    assert prompted.code == 0 and all(line.startswith("the cat") for line in prompted.out.splitlines())
    result = run_cli(["evaluate", "--run-dir", gpt2_run, "--json"])
    assert result.code == 0, result.err
    got, final = json.loads(result.out), json.loads((gpt2_run / "metrics.json").read_text())
    assert (got["nll_valid"], got["nll_test"]) == (final["nll_valid"], final["nll_test"])
    assert "tok:pretrained" in got["nll_test_signature"]

    run_dir = tmp_path / "run"  # export writes nothing into the run, but the fixture is read-only: a copy
    shutil.copytree(gpt2_run, run_dir)
    exported = run_cli(["export", "--run-dir", run_dir, "--hf", tmp_path / "hf"])
    assert exported.code == 0, exported.err
    g = load_generator(run_dir).pair.generator.eval()
    with quiet_transformers():
        model = AutoModelForCausalLM.from_pretrained(tmp_path / "hf", local_files_only=True).eval()
        tokenizer = AutoTokenizer.from_pretrained(tmp_path / "hf", local_files_only=True)
    ids = torch.randint(0, g.vocab_size, (3, g.max_len), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = g.token_log_probs(ids)
    with_start = torch.cat([torch.full((3, 1), g.start_token), ids], dim=1)
    assert torch.allclose(model_log_probs(model, with_start), ours, atol=TOLERANCE, rtol=0)
    assert model.generation_config.bos_token_id == g.start_token == tokenizer.eos_token_id
    line = "the big cat, near a tree!"
    assert tokenizer.decode(tokenizer.encode(line, add_special_tokens=False)) == line


def test_an_interrupted_run_resumes_exactly_without_the_model_folder(gpt2_run, pretrained_files, tmp_path,
                                                                      run_cli):
    corpus, gpt2, _ = pretrained_files
    source = corpus.parent / "gone"  # the path the straight run was made from (the same config)
    shutil.copytree(gpt2, source)
    run_dir = tmp_path / "run"
    argv = ["train", "--corpus", corpus, "--generator-from", source, *TINY, "--run-dir", run_dir]
    try:
        proc = _start(argv)
        err = _signal_after(proc, "[adversarial] epoch 1/", 0.0, signal.SIGINT)
    finally:
        shutil.rmtree(source)
    assert proc.returncode == 130 and "checkpoint saved" in err, err
    resumed = run_cli(argv)
    assert resumed.code == 0, resumed.err
    assert any(line.startswith("resuming from adversarial epoch") for line in resumed.err_lines), resumed.err
    for name in ("metrics.jsonl", "metrics.json", "samples.txt"):
        assert (run_dir / name).read_bytes() == (gpt2_run / name).read_bytes(), name


def test_the_human_unk_rule_uses_the_runs_unknown_token(gpt2_run):
    from seqgan.human.draw import UNK_TEXT, unk_text, without_unk

    assert unk_text(gpt2_run) is None  # byte-level BPE has no unknown token: a literal "<unk>" is just text
    assert without_unk(["a <unk> b", "c"], unk_text(gpt2_run)) == ["a <unk> b", "c"]
    assert unk_text(None) == UNK_TEXT and without_unk(["a <unk> b", "c"], UNK_TEXT) == ["c"]


def test_a_run_without_a_checkpoint_takes_the_weights_from_the_same_model_only(gpt2_run, pretrained_files,
                                                                               tmp_path):
    from seqgan.text.pretrained import load_pretrained

    run_dir = tmp_path / "run"
    shutil.copytree(gpt2_run, run_dir)
    shutil.rmtree(run_dir / "checkpoints")  # stopped before its first checkpoint
    with pytest.raises(UserError, match="no longer exists"):
        load_pretrained(str(tmp_path / "absent"), False, run_dir, needs_weights=True)
    changed = save_model(tmp_path / "changed", "gpt2", corpus_lines(seed=5))
    with pytest.raises(UserError, match="holds another model"):
        load_pretrained(str(changed), False, run_dir, needs_weights=True)
    same = pretrained_files[1]
    pretrained = load_pretrained(str(same), False, run_dir, needs_weights=True)
    with torch.no_grad():
        original = load_pretrained(str(same), False, None, needs_weights=True).model
        ids = torch.arange(8).unsqueeze(0)
        assert torch.equal(pretrained.model(ids).logits, original(ids).logits)  # the weights, not random ones


def test_a_llama_run_trains_samples_and_exports(pretrained_files, tmp_path, run_cli):
    from transformers import AutoModelForCausalLM

    from seqgan.human.draw import unk_text
    from seqgan.text.hf_models import quiet_transformers
    from seqgan.text.run import load_generator

    corpus, _, llama = pretrained_files
    short = [*TINY, "--set", "schedule.adv_epochs=1", "--method", "seqgan"]
    result = run_cli(["train", "--corpus", corpus, "--generator-from", llama, *short, "--run-dir", tmp_path / "r"])
    assert result.code == 0, result.err
    assert "warning: generator.lr 0.003 and adversarial.g_lr 0.001" in result.err  # the LSTM's rates: said once
    assert json.loads((tmp_path / "r" / "special_ids.json").read_text()) == {"start": 1, "eos": 2, "pad": 2,
                                                                             "unk": 0}
    g = load_generator(tmp_path / "r").pair.generator.eval()
    assert g.vocab_size == LLAMA_ROWS
    assert unk_text(tmp_path / "r") == "<unk>"  # the human-evaluation rule leaves out texts showing it
    assert run_cli(["export", "--run-dir", tmp_path / "r", "--hf", tmp_path / "hf"]).code == 0
    with quiet_transformers():
        model = AutoModelForCausalLM.from_pretrained(tmp_path / "hf", local_files_only=True).eval()
    ids = torch.randint(0, g.vocab_size, (2, g.max_len), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = g.token_log_probs(ids)
    with_start = torch.cat([torch.full((2, 1), g.start_token), ids], dim=1)
    assert torch.allclose(model_log_probs(model, with_start), ours, atol=TOLERANCE, rtol=0)


# ---------------------------------------------------------------- bad input: one line, exit 2, nothing written


def bad_folders(root: Path, lines: list[str]) -> dict[str, tuple[Path, tuple[str, ...]]]:
    """Folders --generator-from refuses: (folder, words of its one-line error)."""
    from transformers import BertConfig, BertModel, Gemma2Config, Gemma2ForCausalLM

    from seqgan.text.hf_models import quiet_transformers

    (root / "empty").mkdir(parents=True)
    bert = root / "bert"
    tokenizer = gpt2_tokenizer(lines)
    with quiet_transformers():
        BertModel(BertConfig(hidden_size=WIDTH, num_hidden_layers=1, num_attention_heads=2, intermediate_size=WIDTH,
                             vocab_size=len(tokenizer))).save_pretrained(bert)
        tokenizer.save_pretrained(bert)
    small = save_model(root / "small", "gpt2", lines, rows=len(tokenizer) - 10)
    capped = root / "soft-capped"  # Gemma 2 soft-caps its logits: G's head @ hidden would not be the model
    eos = tokenizer.eos_token_id
    with quiet_transformers():
        Gemma2ForCausalLM(Gemma2Config(vocab_size=len(tokenizer), hidden_size=WIDTH, intermediate_size=32,
                                       num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1, head_dim=8,
                                       max_position_embeddings=CONTEXT, final_logit_softcapping=1.0,
                                       bos_token_id=eos, eos_token_id=eos)).save_pretrained(capped)
        tokenizer.save_pretrained(capped)
    return {"no config": (root / "empty", ("config.json",)),
            "not a causal LM": (bert, ("not a causal language model",)),
            "tokenizer of another model": (small, ("token ids", "rows")),
            "missing": (root / "nowhere", ("does not exist",)),
            "logits not from the head": (capped, ("Gemma2ForCausalLM", "LM head"))}


def test_bad_model_folders_are_refused(pretrained_files, tmp_path, run_cli):
    corpus = pretrained_files[0]
    for name, (folder, words) in bad_folders(tmp_path / "models", corpus_lines()).items():
        before = file_snapshot(tmp_path)
        result = run_cli(["train", "--corpus", corpus, "--generator-from", folder, *TINY, "--run-dir",
                          tmp_path / "r"])
        assert_refused(result, tmp_path, before, *words)
        assert not (tmp_path / "r").exists(), name


def test_contradicting_settings_are_refused(pretrained_files, tmp_path, run_cli):
    corpus, gpt2, _ = pretrained_files
    cases = [
        (["--max-len", str(CONTEXT)], ("data.seq_len", f"context of {CONTEXT}", f"--max-len {CONTEXT - 1}")),
        (["--set", "generator.kind=gpt2"], ("generator.kind=pretrained", "not gpt2")),
        (["--set", "generator.layers=4", "--set", "generator.width=32"], ("generator.layers", "generator.width")),
        (["--tokenizer", "bpe"], ("--tokenizer", "the model's tokenizer")),
    ]
    for extra, words in cases:
        before = file_snapshot(tmp_path)
        result = run_cli(["train", "--corpus", corpus, "--generator-from", gpt2, *TINY, *extra,
                          "--run-dir", tmp_path / "r"])
        assert_refused(result, tmp_path, before, *words)
        assert not (tmp_path / "r").exists(), extra
    result = run_cli(["train", "--corpus", corpus, *TINY, "--set", "generator.kind=pretrained",
                      "--run-dir", tmp_path / "r"])
    assert_refused(result, tmp_path, file_snapshot(tmp_path), "--generator-from")


def test_an_existing_run_of_another_model_or_without_one_is_refused(gpt2_run, pretrained_files, tmp_path, run_cli):
    corpus, _, llama = pretrained_files
    lstm_run = tmp_path / "lstm"
    made = run_cli(["train", "--corpus", corpus, *TINY, "--set", "schedule.adv_epochs=0", "--set",
                    "schedule.pretrain_d_rounds=0", "--set", "schedule.pretrain_g_epochs=1", "--run-dir", lstm_run])
    assert made.code == 0, made.err
    other = tmp_path / "other"
    shutil.copytree(gpt2_run, other)
    for run_dir in (lstm_run, other):
        before = file_snapshot(tmp_path)
        result = run_cli(["train", "--corpus", corpus, "--generator-from", llama, *TINY, "--run-dir", run_dir])
        assert_refused(result, tmp_path, before, "generator.pretrained")


def test_lowercase_puts_a_lower_casing_step_before_the_models_tokenizer(tmp_path):
    from seqgan.text.pretrained import load_pretrained

    folder = save_model(tmp_path / "m", "gpt2", corpus_lines())
    pretrained = load_pretrained(str(folder), True, None, needs_weights=True)
    assert pretrained.tokenizer.encode("The CAT").ids == pretrained.tokenizer.encode("the cat").ids
    assert pretrained.hf_tokenizer.encode("The CAT") != pretrained.tokenizer.encode("The CAT").ids  # model/: as it was
    plain = load_pretrained(str(folder), False, None, needs_weights=True)
    assert plain.tokenizer.encode("The CAT").ids != plain.tokenizer.encode("the cat").ids


def test_a_tokenizer_without_an_end_token_is_refused(tmp_path):
    from seqgan.text.hf_models import quiet_transformers
    from seqgan.text.pretrained import load_pretrained

    lines = corpus_lines()
    folder = save_model(tmp_path / "m", "gpt2", lines)
    tokenizer = gpt2_tokenizer(lines)
    tokenizer.eos_token = tokenizer.bos_token = None
    with quiet_transformers():
        tokenizer.save_pretrained(folder)
    with pytest.raises(UserError, match="no end-of-text token") as err:
        load_pretrained(str(folder), False, None, needs_weights=True)
    assert "\n" not in str(err.value)
