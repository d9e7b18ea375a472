"""seqgan.text.transformer_generator and lm_rollout: the GPT-style G behind the one generator interface.

Its likelihoods are the `transformers` model's own, its KV-cached sampling and rollouts draw exactly the tokens
of slow references that recompute every prefix, and a tiny text run with it trains, resumes after SIGINT
byte-identically, samples and evaluates.
"""

from __future__ import annotations

import copy
import json
import random
import signal

import pytest
import torch

from seqgan.text.generator import LSTMGenerator
from seqgan.text.generator_api import TextGenerator
from seqgan.text.rollout import Rollout
from seqgan.text.sampling import reference_sample
from seqgan.text.scoring import tempered
from seqgan.text.transformer_generator import GPTGenerator
from tests.conftest import run_cli_quiet, tiny_generator
from tests.test_interrupt import _signal_after, _start

V, T, B, N = 40, 6, 3, 2
START, EOS, PAD = 1, 2, 0
SHARP_STD = 0.5  # weights large enough that G's distributions are far from uniform (the equalities then mean much)


def tiny_gpt(max_len: int = T, seed: int = 0, eos: int | None = None) -> GPTGenerator:
    """A 2-layer, width-16 GPTGenerator with N(0, SHARP_STD^2) weights (layer norms left as built), in eval mode."""
    g = GPTGenerator(V, max_len, layers=2, heads=2, width=16, start_token=START, eos_token=eos,
                     pad_token=PAD if eos is not None else None, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in g.named_parameters():
            if ".ln_" not in name:
                p.normal_(0.0, SHARP_STD, generator=gen)
    return g.eval()


def _hf_log_probs(g: GPTGenerator, ids: torch.Tensor) -> torch.Tensor:
    """log G(y_t | y_<t) (B, T) from the transformers model itself: log_softmax of its logits."""
    logits = g.model(input_ids=g.shift_right(ids)).logits  # (B, T, V)
    return torch.log_softmax(logits, dim=-1).gather(2, ids.unsqueeze(2)).squeeze(2)


def test_both_generators_implement_the_interface():
    assert isinstance(tiny_gpt(), TextGenerator)
    assert isinstance(tiny_generator(), TextGenerator)


def test_teacher_forced_log_probs_equal_the_transformers_model():
    g = tiny_gpt()
    ids = torch.randint(0, V, (4, T), generator=torch.Generator().manual_seed(3))
    ours, theirs = g.token_log_probs(ids), _hf_log_probs(g, ids)
    assert ours.shape == (4, T)
    assert torch.allclose(ours, theirs, atol=1e-5, rtol=0)
    assert theirs.std() > 0.5  # far from a uniform model, so the comparison says something
    mask = torch.arange(T).expand(4, T) < torch.tensor([[2], [6], [4], [1]])
    assert torch.allclose(g.score(ids, mask), -(theirs * mask).sum(1), atol=1e-4, rtol=0)
    assert torch.allclose(g.score(ids), -theirs.sum(1), atol=1e-4, rtol=0)


def test_gradients_flow_through_the_fused_output_layer():
    g = tiny_gpt().train()
    ids = torch.randint(0, V, (4, T), generator=torch.Generator().manual_seed(4))
    g.token_log_probs(ids).sum().backward()
    ours = {name: p.grad.clone() for name, p in g.named_parameters()}
    g.zero_grad()
    _hf_log_probs(g, ids).sum().backward()
    for name, p in g.named_parameters():
        assert torch.allclose(ours[name], p.grad, atol=1e-4, rtol=1e-4), name


def _slow_sample(g: GPTGenerator, n: int, uniforms: torch.Tensor) -> torch.Tensor:
    """No cache: the whole prefix through the float64 model at every token, then plain inverse-CDF sampling."""
    m64 = copy.deepcopy(g).double()
    out = torch.full((n, 0), START, dtype=torch.long)
    for t in range(g.max_len):
        inputs = torch.cat([torch.full((n, 1), START), out], dim=1)
        logits = m64.model(input_ids=inputs).logits[:, -1]  # (n, V)
        out = torch.cat([out, reference_sample(logits, uniforms[:, t]).unsqueeze(1)], dim=1)
    return g.pad_after_eos(out)


def test_cached_sampling_is_seeded_and_equals_uncached_sampling():
    g = tiny_gpt(eos=EOS)
    a = g.sample(8, torch.Generator().manual_seed(5))
    assert torch.equal(a, g.sample(8, torch.Generator().manual_seed(5)))
    uniforms = torch.rand(8, T, generator=torch.Generator().manual_seed(5))  # what `sample` drew up front
    assert torch.equal(a, _slow_sample(g, 8, uniforms))
    assert not torch.equal(a, g.sample(8, torch.Generator().manual_seed(6)))
    # top-k 0, top-p 1 and no prefix: the filtered path draws the same tokens
    assert torch.equal(a, g.sample_filtered(8, torch.Generator().manual_seed(5)))
    prompted = g.sample_filtered(8, torch.Generator().manual_seed(5), top_k=3, prefix=[7, 9])
    assert (prompted[:, :2] == torch.tensor([7, 9])).all()


def test_dropout_only_in_training_passes():
    """With generator.dropout > 0, sampling, rollouts and scoring stay exact and seeded in train mode."""
    g = GPTGenerator(V, T, layers=2, heads=2, width=16, dropout=0.5, start_token=START, seed=0).train()
    ids = g.sample(4, torch.Generator().manual_seed(1))
    u = torch.rand((T - 1) * N * 4, T, generator=torch.Generator().manual_seed(2))
    drawn = (ids, g.score(ids), g.complete_prefixes(ids, N, u))
    assert g.training  # the mode is put back
    g.eval()
    assert torch.equal(drawn[0], g.sample(4, torch.Generator().manual_seed(1)))
    assert torch.equal(drawn[1], g.score(ids)) and torch.equal(drawn[2], g.complete_prefixes(ids, N, u))
    g.train()
    assert not torch.equal(g.features(ids), g.features(ids))  # training passes do drop


def test_tempering_divides_the_logits_and_keeps_the_embeddings():
    g = tiny_gpt()
    hot = tempered(g, 2.0)
    ids = torch.randint(0, V, (3, T), generator=torch.Generator().manual_seed(8))
    logits = g.model(input_ids=g.shift_right(ids)).logits
    expected = torch.log_softmax(logits / 2.0, dim=-1).gather(2, ids.unsqueeze(2)).squeeze(2)
    assert torch.allclose(hot.token_log_probs(ids), expected, atol=1e-5, rtol=0)
    assert torch.equal(hot.model.transformer.wte.weight, g.model.transformer.wte.weight)


def slow_completions(net: GPTGenerator, seqs: torch.Tensor, n: int, uniforms: torch.Tensor) -> torch.Tensor:
    """Loops over t, i, b and every generated token; the whole prefix goes through the float64 model again at
    each token (no cache); tokens from reference_sample with uniforms[row, s-1], row = ((t-1) * n + i) * B + b."""
    m64 = copy.deepcopy(net).double()
    batch, length = seqs.shape
    out = torch.empty(length - 1, n, batch, length, dtype=torch.long)
    for t in range(1, length):
        for i in range(n):
            for b in range(batch):
                row = ((t - 1) * n + i) * batch + b
                seq = seqs[b, :t].tolist()
                for s in range(t + 1, length + 1):  # draw token s (1-based)
                    logits = m64.model(input_ids=torch.tensor([[net.start_token, *seq]])).logits[:, -1]
                    seq.append(int(reference_sample(logits, uniforms[row, s - 1:s])[0]))
                out[t - 1, i, b] = net.pad_after_eos(torch.tensor([seq]))[0]
    return out


@pytest.mark.parametrize("eos", [None, EOS])
def test_cached_rollouts_equal_a_slow_reference(eos):
    g = tiny_gpt(eos=eos)
    seqs = g.sample(B, torch.Generator().manual_seed(0))
    u = torch.rand((T - 1) * N * B, T, generator=torch.Generator().manual_seed(1))
    fast = Rollout(g, update_rate=0.0).completions(seqs, N, torch.Generator(), uniforms=u)
    assert fast.shape == (T - 1, N, B, T)
    assert torch.equal(fast, slow_completions(g, seqs, N, u))
    for t in range(1, T):  # prefixes are kept
        assert torch.equal(fast[t - 1, :, :, :t], seqs[:, :t].expand(N, B, t))
    # the continuations depend on the prefix: other sequences with the same draws complete differently
    other = g.sample(B, torch.Generator().manual_seed(7))
    assert not torch.equal(g.complete_prefixes(other, N, u)[:, :, :, -1], fast[:, :, :, -1])


def test_delayed_rollout_policy_for_the_transformer():
    g, target = tiny_gpt(seed=0), tiny_gpt(seed=1)
    roll = Rollout(g, update_rate=0.8)
    start = [p.clone() for p in roll.net.parameters()]
    with torch.no_grad():
        for p, q in zip(g.parameters(), target.parameters(), strict=True):
            p.copy_(q)
    roll.update_()
    for old, new, live in zip(start, roll.net.parameters(), g.parameters(), strict=True):
        assert torch.allclose(new, 0.8 * old + 0.2 * live, atol=1e-6)
    roll.sync_()
    assert all(torch.equal(a, b) for a, b in zip(roll.net.parameters(), g.parameters(), strict=True))
    assert roll.net.zero_bias.abs().sum() == 0  # the head's zero bias is a buffer, never trained


def test_the_lstm_features_and_output_layer_give_its_log_probs():
    """The LSTM through the interface's pieces: the same numbers as its own token_log_probs, bit for bit."""
    g: LSTMGenerator = tiny_generator()
    ids = torch.randint(0, 40, (3, 6), generator=torch.Generator().manual_seed(2))
    weight, bias, bound = g.output_layer()
    assert bound == 1.0 and weight is g.out.weight and bias is g.out.bias
    logits = g.features(ids) @ weight.t() + bias
    assert torch.equal(g.features(ids), g.lstm(g.embedding(g.shift_right(ids)))[0])
    assert torch.allclose(torch.log_softmax(logits, -1).gather(2, ids.unsqueeze(2)).squeeze(2),
                          g.token_log_probs(ids), atol=1e-5)


# ---------------------------------------------------------------- a tiny text run with generator.kind=gpt2

WORDS = "the a cat dog sat on mat ran red blue big house tree near far".split()
GPT_TINY = ["--experiment", "text-small", "--seed", "1",
            "--set", "generator.kind=gpt2", "--set", "generator.layers=2", "--set", "generator.heads=2",
            "--set", "generator.width=16", "--set", "generator.lr=0.003",
            "--set", "discriminator.filter_sizes=2,3", "--set", "discriminator.num_filters=8,8",
            "--set", "discriminator.emb_dim=8", "--set", "schedule.pretrain_g_epochs=3",
            "--set", "schedule.pretrain_d_rounds=1", "--set", "schedule.adv_epochs=8",
            "--set", "schedule.eval_every=1", "--set", "schedule.num_negatives=32",
            "--set", "adversarial.num_rollouts=2", "--set", "adversarial.g_batch_size=16",
            "--set", "adversarial.g_lr=0.001", "--set", "schedule.checkpoint_every_s=3600"]


@pytest.fixture(scope="module")
def gpt_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("gpt")
    rng = random.Random(0)
    corpus = root / "my.txt"
    corpus.write_text("".join(" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8))) + " .\n"
                              for _ in range(150)))
    return corpus


@pytest.fixture(scope="module")
def gpt_run(gpt_corpus):
    """A finished tiny text run with the transformer G. Read-only."""
    run = gpt_corpus.parent / "run"
    result = run_cli_quiet(["train", "--corpus", gpt_corpus, *GPT_TINY, "--run-dir", run])
    assert result.code == 0, result.err
    return run


def test_a_gpt_run_trains_through_every_phase(gpt_run):
    records = [json.loads(x) for x in (gpt_run / "metrics.jsonl").read_text().splitlines() if x]
    steps = {r["phase"] for r in records if r["event"] != "eval"}
    assert {"pretrain_g", "pretrain_d", "adversarial"} <= steps
    assert any("g_reward" in r for r in records) and any("d_accuracy" in r for r in records)
    evals = [r["nll_valid"] for r in records if r["event"] == "eval"]
    assert min(evals) < evals[0]  # MLE pretraining learned something
    arch = torch.load(gpt_run / "checkpoints" / "last.pt", weights_only=False)["architecture"]["generator"]
    assert arch["kind"] == "gpt2" and (arch["layers"], arch["heads"], arch["width"]) == (2, 2, 16)


def test_sigint_during_the_adversarial_phase_resumes_byte_identically(gpt_run, gpt_corpus, tmp_path, run_cli):
    run_dir = tmp_path / "run"
    argv = ["train", "--corpus", gpt_corpus, *GPT_TINY, "--run-dir", run_dir]
    proc = _start(argv)
    err = _signal_after(proc, "[adversarial] epoch 1/", 0.0, signal.SIGINT)
    assert proc.returncode == 130, err
    assert "checkpoint saved" in err and "Traceback" not in err
    resumed = run_cli(argv)
    assert resumed.code == 0, resumed.err
    assert "resuming" in resumed.err_lines[0]
    assert any(line.startswith("resuming from adversarial epoch") for line in resumed.err_lines), resumed.err
    for name in ("metrics.jsonl", "metrics.json", "samples.txt"):
        assert (run_dir / name).read_bytes() == (gpt_run / name).read_bytes(), name


def test_sample_and_evaluate_load_the_gpt_run(gpt_run, run_cli):
    a = run_cli(["sample", "--run-dir", gpt_run, "-n", "6", "--seed", "3"])
    assert a.code == 0, a.err
    assert len(a.out.splitlines()) == 6
    assert run_cli(["sample", "--run-dir", gpt_run, "-n", "6", "--seed", "3"]).out == a.out
    prompted = run_cli(["sample", "--run-dir", gpt_run, "-n", "4", "--seed", "3", "--top-k", "3",
                        "--prefix", "the cat"])
    assert prompted.code == 0 and all(line.startswith("the cat") for line in prompted.out.splitlines())
    result = run_cli(["evaluate", "--run-dir", gpt_run, "--json"])
    assert result.code == 0, result.err
    got, final = json.loads(result.out), json.loads((gpt_run / "metrics.json").read_text())
    assert (got["nll_valid"], got["nll_test"]) == (final["nll_valid"], final["nll_test"])


def test_a_checkpoint_of_the_other_kind_is_refused(gpt_run, tmp_path, run_cli):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(gpt_run, run_dir)
    config_path = run_dir / "config.json"
    stored = json.loads(config_path.read_text())
    stored["config"]["generator"]["kind"] = "lstm"  # an LSTM built for a transformer's checkpoint
    config_path.write_text(json.dumps(stored))
    result = run_cli(["sample", "--run-dir", run_dir, "-n", "2"])
    assert result.code == 2 and len(result.err_lines) == 1, result.err
    assert "architecture" in result.err


@pytest.mark.parametrize("omega", [0.0, 0.5, 1.0])
def test_scheduled_sampling_on_a_transformer_equals_a_teacher_forced_pass_over_its_inputs(omega):
    """The step-by-step cached unroll gives the states one teacher-forced pass gives on the same mixed inputs,
    every input is the true previous token or the token G samples there from its own distribution (with the
    uniform drawn for it), and the loss reaches every block; omega = 1 is MLE."""
    from baselines.scheduled_sampling import scheduled_sampling_inputs, scheduled_sampling_loss
    from seqgan.text.pretrain import mle_loss

    g = tiny_gpt(max_len=8)
    ids = torch.randint(3, V, (5, 8), generator=torch.Generator().manual_seed(4))
    states, inputs = scheduled_sampling_inputs(g, ids, omega, torch.Generator().manual_seed(9))
    draws = torch.rand(2, 5, 8, generator=torch.Generator().manual_seed(9))  # the coins and uniforms it drew
    with torch.no_grad():
        reference = g.hidden(inputs)  # (B, T, H): one pass, no cache
    assert torch.allclose(states, reference, atol=1e-5)
    assert (inputs[:, 0] == START).all()
    sampler = g.sampler()
    for t in range(1, 8):
        keep = draws[0, :, t] < omega
        assert torch.equal(inputs[keep, t], ids[keep, t - 1])
        own = (~keep).nonzero().squeeze(1)
        if own.numel():
            assert torch.equal(inputs[own, t], sampler.sample(reference[own, t - 1], draws[1, own, t - 1]))
    assert (inputs[:, 1:] != ids[:, :-1]).any() == (omega < 1.0)
    g.zero_grad()
    loss = scheduled_sampling_loss(g, ids, omega, torch.Generator().manual_seed(9))
    loss.backward()
    first_block = next(p for name, p in g.named_parameters() if ".h.0." in name and p.grad is not None)
    assert first_block.grad.abs().sum() > 0
    if omega == 1.0:
        assert loss.item() == pytest.approx(mle_loss(g, ids).item(), abs=1e-5)


def test_scheduled_sampling_trains_a_transformer_run(gpt_corpus, tmp_path, run_cli):
    result = run_cli(["train", "--corpus", gpt_corpus, *GPT_TINY, "--method", "ss", "--set", "schedule.adv_epochs=2",
                      "--run-dir", tmp_path / "r"])
    assert result.code == 0, result.err
    records = [json.loads(x) for x in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines() if x]
    adversarial = [r for r in records if r["phase"] == "adversarial" and r["event"] == "train"]
    assert len(adversarial) == 2 and all("g_ss_nll" in r and r["ss_omega"] < 1.0 for r in adversarial)
