"""The Hugging Face side of transformer generators: loading local causal LMs, a run's tokenizer as a transformers
tokenizer, exporting a model, and `seqgan export`. Offline: every model is a tiny random one saved to tmp_path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from seqgan.base.errors import UserError
from seqgan.text import hf_models as H
from tests.conftest import REPO_ROOT
from tests.conftest import snapshot as file_snapshot
from text_data.tokenizer import BOS, EOS, PAD, build_tokenizer, decode, save_tokenizer

pytest.importorskip("transformers")

# lines the run's tokenizers round-trip: punctuation with and without spaces before it, doubled spaces, quotes
LINES = [
    "Hello, world! It's a test.",
    "the cat sat on the mat .",
    "  two  spaces (here) and \"quotes\"",
    "no space:after;punctuation,here.",
    "é ü ñ — ok?",
]
N_POSITIONS = 24
WIDTH = 16
LAYERS = 2
HEADS = 2
LOGPROB_TOLERANCE = 1e-5
NEW_TOKENS = 5


def save_run_tokenizer(folder: Path, kind: str = "word") -> Path:
    """A run's tokenizer.json (trained on LINES) in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tokenizer.json"
    save_tokenizer(build_tokenizer(kind, LINES * 2, vocab_size=500), path)
    return path


def tiny_gpt2(vocab_size: int, seed: int = 0, n_positions: int = N_POSITIONS):
    """A random 2-layer, width-16 GPT2LMHeadModel."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(n_layer=LAYERS, n_embd=WIDTH, n_head=HEADS, n_positions=n_positions, vocab_size=vocab_size,
                        bos_token_id=None, eos_token_id=None)  # GPT-2's own ids (50256) lie outside the vocabulary
    return GPT2LMHeadModel(config).eval()


def saved_model(folder: Path, tokenizer_json: Path, vocab_size: int | None = None) -> Path:
    """A tiny GPT-2 and the run's tokenizer saved with save_pretrained into `folder`."""
    tokenizer = H.hf_tokenizer_from_run(tokenizer_json)
    model = tiny_gpt2(vocab_size or len(tokenizer))
    with H.quiet_transformers():
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    return folder


def token_log_probs(model, ids: torch.Tensor) -> torch.Tensor:
    """log p(ids[:, t] | ids[:, :t]) for t >= 1."""
    with torch.no_grad():
        logits = model(ids).logits.double()
    return logits[:, :-1].log_softmax(-1).gather(-1, ids[:, 1:, None])[..., 0]


def snapshot(folder: Path) -> tuple[dict[str, bytes], list[str]]:
    """Every file's bytes and every path (empty folders too) under `folder`: what "nothing written" compares."""
    return file_snapshot(folder), sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def assert_one_line(err: UserError | str, *words: str) -> None:
    text = str(err)
    assert "\n" not in text.strip(), text
    for word in words:
        assert word in text, text


# --- the run's tokenizer as a transformers tokenizer ---------------------------------------------------------


@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_tokenizer_encodes_and_decodes_as_the_run(tmp_path, kind):
    from tokenizers import Tokenizer

    path = save_run_tokenizer(tmp_path, kind)
    run_tok = Tokenizer.from_file(str(path))
    with_bos = H.hf_tokenizer_from_run(path)
    plain = H.hf_tokenizer_from_run(path, add_bos=False)
    for line in LINES:
        ids = run_tok.encode(line, add_special_tokens=False).ids
        assert decode(run_tok, ids) == line  # the run's own tokenizer round-trips these lines
        assert plain.encode(line) == ids
        assert plain.decode(ids) == line
        assert with_bos.encode(line) == [BOS, *ids]
        assert with_bos.encode(line, add_special_tokens=False) == ids
        assert with_bos.decode(with_bos.encode(line), skip_special_tokens=True) == line
    assert (with_bos.pad_token_id, with_bos.bos_token_id, with_bos.eos_token_id) == (PAD, BOS, EOS)
    assert len(with_bos) == run_tok.get_vocab_size()


def test_tokenizer_from_a_file_that_is_not_a_run_tokenizer(tmp_path):
    bad = tmp_path / "tokenizer.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(UserError) as err:
        H.hf_tokenizer_from_run(bad)
    assert_one_line(err.value, str(bad))


# --- loading a local causal LM -----------------------------------------------------------------------------


def test_load_causal_lm_gives_the_saved_model_and_tokenizer(tmp_path, capfd):
    tokenizer_json = save_run_tokenizer(tmp_path / "run")
    folder = saved_model(tmp_path / "model", tokenizer_json)
    original = tiny_gpt2(len(H.hf_tokenizer_from_run(tokenizer_json)))
    capfd.readouterr()
    model, tokenizer = H.load_causal_lm(folder, device="cpu")
    assert capfd.readouterr().err == ""  # no load report or progress bar
    assert type(model).__name__ == "GPT2LMHeadModel" and not model.training
    ids = torch.tensor([tokenizer.encode(LINES[0])])
    assert torch.equal(model(ids).logits, original(ids).logits)
    assert tokenizer.decode(ids[0], skip_special_tokens=True) == LINES[0]


def bad_model_dirs(tmp_path: Path) -> dict[str, tuple[Path, tuple[str, ...]]]:
    """Each bad input of load_causal_lm: (path, words its one-line error must contain)."""
    from transformers import BertConfig, BertModel

    tokenizer_json = save_run_tokenizer(tmp_path / "run")
    vocab = len(H.hf_tokenizer_from_run(tokenizer_json))
    cases: dict[str, tuple[Path, tuple[str, ...]]] = {}
    cases["missing"] = (tmp_path / "nowhere", ("does not exist",))
    a_file = tmp_path / "a-file"
    a_file.write_text("x", encoding="utf-8")
    cases["file"] = (a_file, ("is a file",))
    (tmp_path / "empty").mkdir()
    cases["no config"] = (tmp_path / "empty", ("config.json",))
    bert_dir = tmp_path / "bert"
    bert = BertModel(BertConfig(hidden_size=WIDTH, num_hidden_layers=1, num_attention_heads=HEADS,
                                intermediate_size=WIDTH, vocab_size=vocab))
    with H.quiet_transformers():
        bert.save_pretrained(bert_dir)
        H.hf_tokenizer_from_run(tokenizer_json).save_pretrained(bert_dir)
    cases["encoder-only"] = (bert_dir, ("BertModel", "not a causal language model"))
    distil = tmp_path / "distilbert"  # an encoder-only family with no causal-LM class at all: refused from its config
    distil.mkdir()
    (distil / "config.json").write_text(json.dumps({"model_type": "distilbert"}), encoding="utf-8")
    cases["encoder-only config"] = (distil, ("'distilbert'", "not a causal language model"))
    headless = tmp_path / "headless"  # a bert config without a saved class: the LM head would be random
    bert_config = json.loads((bert_dir / "config.json").read_text(encoding="utf-8"))
    del bert_config["architectures"]
    headless.mkdir()
    (headless / "config.json").write_text(json.dumps(bert_config), encoding="utf-8")
    for name in ("model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        (headless / name).write_bytes((bert_dir / name).read_bytes())
    cases["head missing"] = (headless, ("lack", "random"))
    small_vocab = saved_model(tmp_path / "small-vocab", tokenizer_json, vocab_size=vocab - 1)
    cases["vocabulary"] = (small_vocab, ("token ids", f"{vocab - 1} rows"))
    no_tok = saved_model(tmp_path / "no-tokenizer", tokenizer_json)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (no_tok / name).unlink()
    cases["no tokenizer"] = (no_tok, ("tokenizer",))
    no_weights = saved_model(tmp_path / "no-weights", tokenizer_json)
    (no_weights / "model.safetensors").unlink()
    cases["no weights"] = (no_weights, ("weights",))
    return cases


def test_load_causal_lm_refuses_bad_input_in_one_line(tmp_path):
    for name, (path, words) in bad_model_dirs(tmp_path).items():
        before = snapshot(tmp_path)
        with pytest.raises(UserError, match=".") as err:
            H.load_causal_lm(path, device="cpu")
            pytest.fail(f"{name}: no error")
        assert_one_line(err.value, *words)
        assert snapshot(tmp_path) == before, f"{name}: something was written"


def test_check_context(tmp_path):
    model = tiny_gpt2(vocab_size=10)
    H.check_context(model, N_POSITIONS)
    with pytest.raises(UserError) as err:
        H.check_context(model, N_POSITIONS + 1)
    assert_one_line(err.value, str(N_POSITIONS + 1), str(N_POSITIONS))
    assert H.context_size(object()) is None


# --- export ------------------------------------------------------------------------------------------------


def test_export_loads_with_the_same_log_probs_and_samples_in_a_pipeline(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

    tokenizer_json = save_run_tokenizer(tmp_path / "run")
    tokenizer = H.hf_tokenizer_from_run(tokenizer_json)
    model = tiny_gpt2(len(tokenizer))
    out = H.export_hf(model, tokenizer_json, tmp_path / "hf")
    assert out == tmp_path / "hf"
    assert (model.config.bos_token_id, model.config.eos_token_id) == (None, None)  # the caller's config unchanged
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary folder left

    with H.quiet_transformers():
        exported = AutoModelForCausalLM.from_pretrained(out, local_files_only=True).eval()
        loaded_tok = AutoTokenizer.from_pretrained(out, local_files_only=True)
    ids = torch.tensor([loaded_tok.encode(line) for line in LINES[:2]][0:1])
    gen = torch.Generator().manual_seed(0)
    random_ids = torch.randint(len(tokenizer), (3, N_POSITIONS), generator=gen)
    for batch in (ids, random_ids):
        assert torch.allclose(token_log_probs(exported, batch), token_log_probs(model, batch),
                              atol=LOGPROB_TOLERANCE, rtol=0)
    for line in LINES:
        assert loaded_tok.encode(line) == tokenizer.encode(line)
        assert loaded_tok.decode(loaded_tok.encode(line), skip_special_tokens=True) == line
    assert (exported.config.bos_token_id, exported.config.eos_token_id, exported.config.pad_token_id) == (
        BOS, EOS, PAD)
    assert exported.generation_config.eos_token_id == EOS and exported.generation_config.do_sample

    with H.quiet_transformers():
        generator = pipeline("text-generation", model=str(out), device="cpu")
        results = generator(["the", ""], max_new_tokens=NEW_TOKENS, max_length=None)
    texts = [r[0]["generated_text"] for r in results]
    assert texts[0].startswith("the") and all(isinstance(t, str) for t in texts)
    with H.quiet_transformers():  # unconditional samples start from <bos> and are made of the run's tokens
        sampled = exported.generate(torch.tensor([[BOS]]), max_new_tokens=NEW_TOKENS, do_sample=True)
    assert sampled.shape[1] > 1 and int(sampled.max()) < len(tokenizer)


def test_export_refuses_bad_destinations_in_one_line(tmp_path):
    tokenizer_json = save_run_tokenizer(tmp_path / "run")
    model = tiny_gpt2(len(H.hf_tokenizer_from_run(tokenizer_json)))
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine", encoding="utf-8")
    a_file = tmp_path / "a-file"
    a_file.write_text("x", encoding="utf-8")
    run_dir = tmp_path / "a-run"  # a run directory: its config.json as `seqgan train` writes it
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps({"config": {}, "version": "0"}), encoding="utf-8")
    cases = {full: "files in it", a_file: "is a file", tmp_path / "no" / "parent": "does not exist",
             run_dir / "hf": "run directory", tmp_path / "run" / "tokenizer.json": "is a file"}
    for out, words in cases.items():
        before = snapshot(tmp_path)
        with pytest.raises(UserError) as err:
            H.export_hf(model, tokenizer_json, out)
        assert_one_line(err.value, "--hf", words)
        assert snapshot(tmp_path) == before
    wrong_vocab = tiny_gpt2(len(H.hf_tokenizer_from_run(tokenizer_json)) + 1)
    before = snapshot(tmp_path)
    with pytest.raises(UserError) as err:
        H.export_hf(wrong_vocab, tokenizer_json, tmp_path / "hf")
    assert_one_line(err.value, "rows")
    assert snapshot(tmp_path) == before and not (tmp_path / "hf").exists()


def test_export_into_an_empty_folder(tmp_path):
    tokenizer_json = save_run_tokenizer(tmp_path / "run")
    (tmp_path / "hf").mkdir()
    H.export_hf(tiny_gpt2(len(H.hf_tokenizer_from_run(tokenizer_json))), tokenizer_json, tmp_path / "hf")
    assert (tmp_path / "hf" / "config.json").is_file() and (tmp_path / "hf" / "tokenizer.json").is_file()


# --- seqgan export -----------------------------------------------------------------------------------------


def fake_run(folder: Path, generator: dict) -> Path:
    """A run directory's config.json with the given generator section (enough for the kind check)."""
    folder.mkdir(parents=True)
    config = {"config": {"generator": generator, "data": {"corpus": "x.txt"}}, "version": "0", "argv": []}
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    save_run_tokenizer(folder)
    return folder


@pytest.mark.parametrize("generator", [{"emb_dim": 32}, {"kind": "lstm"}])
def test_export_cli_refuses_lstm_runs(tmp_path, run_cli, generator):
    run_dir = fake_run(tmp_path / "run", generator)
    before = snapshot(tmp_path)
    result = run_cli(["export", "--run-dir", run_dir, "--hf", tmp_path / "hf"])
    assert result.code == 2 and len(result.err_lines) == 1
    assert result.err_lines[0].endswith("the LSTM generator cannot be exported to the Hugging Face format; only "
                                        "transformer runs can (generator.kind=gpt2 or --generator-from)")
    assert snapshot(tmp_path) == before and not (tmp_path / "hf").exists()


def test_export_cli_bad_input_is_one_line(tmp_path, run_cli):
    gpt_run = fake_run(tmp_path / "gpt", {"kind": "gpt2"})
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine", encoding="utf-8")
    no_tokenizer = fake_run(tmp_path / "oracle", {"kind": "gpt2"})
    (no_tokenizer / "tokenizer.json").unlink()
    (tmp_path / "not-a-run").mkdir()
    cases = [
        (["--run-dir", tmp_path / "missing", "--hf", tmp_path / "hf"], "not a folder"),
        (["--run-dir", tmp_path / "not-a-run", "--hf", tmp_path / "hf"], "config.json"),
        (["--run-dir", gpt_run, "--hf", tmp_path / "full"], "files in it"),
        (["--run-dir", gpt_run, "--hf", gpt_run / "hf"], "run directory"),
        (["--run-dir", no_tokenizer, "--hf", tmp_path / "hf"], "tokenizer.json"),
        (["--run-dir", gpt_run], "--hf"),
    ]
    for argv, words in cases:
        before = snapshot(tmp_path)
        result = run_cli(["export", *argv])
        assert result.code == 2 and len(result.err_lines) == 1, (argv, result.err)
        assert words in result.err_lines[0], (argv, result.err)
        assert snapshot(tmp_path) == before and not (tmp_path / "hf").exists()


def test_export_cli_parses_without_torch_or_transformers():
    code = ("import sys, argparse; from seqgan.text import export_cli; "
            "export_cli.register(argparse.ArgumentParser().add_subparsers()); "
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def transformer_generator_available() -> bool:
    try:
        import seqgan.text.transformer_generator  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not transformer_generator_available(),
                    reason="the GPT-style generator (seqgan.text.transformer_generator) is not in the tree yet")
def test_export_cli_exports_a_gpt2_run(tmp_path, run_cli):
    from transformers import AutoModelForCausalLM, pipeline

    from seqgan.text.run import load_generator

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(LINES * 8) + "\n", encoding="utf-8")
    run_dir = tmp_path / "run"
    train = run_cli(["train", "--run-dir", run_dir, "--experiment", "text-small", "--corpus", corpus,
                     "--tokenizer", "word", "--set", "generator.kind=gpt2", "--set", "schedule.pretrain_g_epochs=1",
                     "--set", "schedule.pretrain_d_epochs=1", "--set", "schedule.adv_epochs=1", "--device", "cpu"])
    assert train.code == 0, train.err
    result = run_cli(["export", "--run-dir", run_dir, "--hf", tmp_path / "hf"])
    assert result.code == 0, result.err
    g = load_generator(run_dir).pair.generator
    with H.quiet_transformers():
        exported = AutoModelForCausalLM.from_pretrained(tmp_path / "hf", local_files_only=True).eval()
        texts = pipeline("text-generation", model=str(tmp_path / "hf"), device="cpu")("", max_new_tokens=NEW_TOKENS)
    # G's own log G(y_t | <bos>, y_<t) equal the exported model's on <bos> followed by the same ids
    ids = torch.randint(g.vocab_size, (2, g.max_len), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = g.eval().token_log_probs(ids).double()
    with_bos = torch.cat([torch.full_like(ids[:, :1], BOS), ids], dim=1)
    assert torch.allclose(token_log_probs(exported, with_bos), expected, atol=LOGPROB_TOLERANCE, rtol=0)
    assert exported.config.n_positions == with_bos.shape[1]  # the whole sequence fits the exported context
    assert isinstance(texts[0]["generated_text"], str)
