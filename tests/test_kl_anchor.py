"""adversarial.kl_coef and adversarial.entropy_coef: a KL anchor to the pretrained G and an entropy bonus in
SeqGAN's policy-gradient step (seqgan.text.adversarial.AnchorPenalty), for both generator kinds.

Off (the default) the step is plain SeqGAN to the bit and makes no reference copy; on, the penalty equals a slow
reference computed with log_softmax over the full logits, keeps G near the pretrained G, raises the entropy, and
survives an interrupt and resume exactly.
"""

from __future__ import annotations

import copy
import json
import os
import random
import signal
from dataclasses import replace

import pytest
import torch
from torch.nn import functional as F

from seqgan.base.errors import UserError
from seqgan.core.checkpoint import load_checkpoint
from seqgan.text import adversarial
from seqgan.text.adversarial import SeqGANPair, frozen_copy
from seqgan.text.config import (
    AdversarialConfig,
    DataConfig,
    DiscriminatorConfig,
    ExperimentConfig,
    GeneratorConfig,
    ScheduleConfig,
)
from seqgan.text.fused import weighted_nll
from seqgan.text.generator import LSTMGenerator
from seqgan.text.pretrain import clipped_step
from seqgan.text.run import build_models
from seqgan.text.task import build_text_task
from seqgan.text.transformer_generator import GPTGenerator
from tests.conftest import TINY, snapshot, tiny_discriminator

V, T = 40, 7
START, EOS, PAD = 1, 2, 0
KINDS = ("lstm", "gpt2")
PLAIN_KEYS = {"generator", "discriminator", "rollout", "g_mle_opt", "g_pg_opt", "d_opt", "ss_epochs"}


def _generator(kind: str, seed: int = 0):
    """A small G of either kind with an EOS (so the padding mask matters) and weights far from uniform."""
    gen = torch.Generator().manual_seed(seed)
    if kind == "lstm":
        return LSTMGenerator(V, 8, 16, T, START, EOS, PAD).init_normal_(0.5, gen)
    g = GPTGenerator(V, T, layers=2, heads=2, width=16, start_token=START, eos_token=EOS, pad_token=PAD, seed=seed)
    with torch.no_grad():
        for name, p in g.named_parameters():
            if ".ln_" not in name:
                p.normal_(0.0, 0.3, generator=gen)
    return g


def _mask(ids: torch.Tensor) -> torch.Tensor:
    """False after the first EOS (what a text task's mask_fn gives)."""
    is_eos = (ids == EOS).long()
    return (is_eos.cumsum(dim=1) - is_eos) == 0


def _config(kind: str = "lstm", **adv) -> ExperimentConfig:
    return ExperimentConfig(
        generator=GeneratorConfig(kind=kind, batch_size=32),
        discriminator=DiscriminatorConfig(filter_sizes=(2, 3), num_filters=(8, 8), emb_dim=8, lr=1e-3),
        schedule=ScheduleConfig(num_negatives=64),
        adversarial=AdversarialConfig(num_rollouts=2, g_batch_size=16, **adv),
    )


def _pair(kind: str, config: ExperimentConfig, seed: int = 0) -> SeqGANPair:
    real = _generator(kind, seed + 100).sample(64, torch.Generator().manual_seed(seed))
    torch.manual_seed(seed)
    return SeqGANPair(_generator(kind, seed), tiny_discriminator(vocab=V, seed=seed), real, config, _mask)


def _plain_seqgan_step(pair: SeqGANPair, gen: torch.Generator) -> None:
    """SeqGAN's policy-gradient step as it was before the anchor existed (the reference for kl = entropy = 0)."""
    adv = pair.config.adversarial
    if not pair.g_pg_opt.state and adv.rollout_start == "pretrained":
        pair.rollout.sync_()
    seqs = pair.generator.sample(adv.g_batch_size, gen)
    q = pair.rollout.rewards(seqs, adv.num_rollouts, pair.reward_fn, gen) * pair.mask_fn(seqs)
    pair.generator.train()
    weight, bias, h_bound = pair.generator.output_layer()
    loss, _ = weighted_nll(pair.generator.features(seqs).flatten(0, 1), weight, bias, seqs.flatten(), q.flatten(),
                           h_bound)
    clipped_step(pair.generator, pair.g_pg_opt, loss, pair.config.generator.grad_clip)
    pair.rollout.update_()


def _refuse(*args, **kwargs):
    raise AssertionError("the KL anchor / entropy bonus was used with both coefficients at 0")


# ---------------------------------------------------------------- off: plain SeqGAN


@pytest.mark.parametrize("kind", KINDS)
def test_zero_coefficients_are_plain_seqgan_to_the_bit(kind, monkeypatch):
    """kl_coef = entropy_coef = 0: the same parameters bit for bit as the step without the anchor, no reference
    copy, no extra checkpoint entry, no extra metric, and the penalty code is never reached."""
    monkeypatch.setattr(adversarial, "frozen_copy", _refuse)
    monkeypatch.setattr(adversarial.AnchorPenalty, "apply", _refuse)
    ours, plain = _pair(kind, _config(kind, kl_coef=0.0, entropy_coef=0.0)), _pair(kind, _config(kind))
    gen_ours, gen_plain = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    for _ in range(3):
        metrics = ours.policy_gradient_step(gen_ours)
        _plain_seqgan_step(plain, gen_plain)
    assert set(metrics) == {"g_reward", "g_pg_loss", "g_grad_norm", "g_sample_nll"}
    for a, b in zip(ours.state_dict()["generator"].values(), plain.state_dict()["generator"].values(), strict=True):
        assert torch.equal(a, b)
    assert torch.equal(gen_ours.get_state(), gen_plain.get_state())
    assert ours.kl_reference is None and set(ours.state_dict()) == PLAIN_KEYS


def test_an_entropy_bonus_alone_makes_no_reference():
    pair = _pair("lstm", _config(entropy_coef=0.1))
    metrics = pair.policy_gradient_step(torch.Generator().manual_seed(0))
    assert "g_entropy" in metrics and "g_kl" not in metrics
    assert pair.kl_reference is None and set(pair.state_dict()) == PLAIN_KEYS


def test_a_plain_run_checkpoint_has_no_reference(tiny_run):
    state = load_checkpoint(tiny_run / "checkpoints" / "last.pt")
    assert set(state["pair"]) == PLAIN_KEYS
    records = [json.loads(x) for x in (tiny_run / "metrics.jsonl").read_text().splitlines() if x]
    assert not any("g_kl" in r or "g_entropy" in r for r in records)


# ---------------------------------------------------------------- the penalty against a slow reference


def _slow_penalty(g, ref, seqs, mask, kl_coef, entropy_coef, reduction):
    """(loss, mean KL, mean entropy) from log_softmax over G's and the reference's full logits (B, T, V)."""
    logp = torch.log_softmax(g(g.shift_right(seqs)), dim=-1)
    with torch.no_grad():
        logq = torch.log_softmax(ref(ref.shift_right(seqs)), dim=-1)
    p = logp.exp()
    kl = (p * (logp - logq)).sum(-1)  # (B, T)
    entropy = -(p * logp).sum(-1)
    w = mask.float() / (seqs.numel() if reduction == "mean" else 1)
    loss = (w * (kl_coef * kl - entropy_coef * entropy)).sum()
    return loss, kl[mask].mean().item(), entropy[mask].mean().item()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_penalty_and_gradients_equal_a_slow_full_softmax_reference(kind, reduction):
    """KL(G || G_ref) and the entropy per position, over the whole vocabulary, padding after EOS left out."""
    kl_coef, entropy_coef = 0.7, 0.3
    pair = _pair(kind, _config(kind, kl_coef=kl_coef, entropy_coef=entropy_coef, reduction=reduction))
    pair.kl_reference = frozen_copy(_generator(kind, seed=9))  # a reference G has moved away from
    g = pair.generator.train()
    seqs = g.sample(300, torch.Generator().manual_seed(1))  # > CHUNK_ROWS real positions: several blocks
    mask = _mask(seqs)
    assert 0 < mask.sum() < mask.numel()  # some padding after EOS
    slow_g = copy.deepcopy(g)
    penalty, metrics = pair.anchor_penalty(seqs, g.features(seqs), mask)
    penalty.backward()
    want, want_kl, want_entropy = _slow_penalty(slow_g, pair.kl_reference, seqs, mask, kl_coef, entropy_coef,
                                                reduction)
    want.backward()
    assert penalty.item() == pytest.approx(want.item(), rel=1e-5)
    assert metrics["g_kl"] == pytest.approx(want_kl, rel=1e-5) and want_kl > 0.1
    assert metrics["g_entropy"] == pytest.approx(want_entropy, rel=1e-5)
    for (name, ours), theirs in zip(g.named_parameters(), slow_g.parameters(), strict=True):
        scale = theirs.grad.abs().max().item()
        assert torch.allclose(ours.grad, theirs.grad, rtol=1e-4, atol=1e-5 * scale), name
    assert all(p.grad is None for p in pair.kl_reference.parameters())  # the reference is frozen


@pytest.mark.parametrize("kind", KINDS)
def test_the_step_adds_the_penalty_to_eq_37(kind):
    """With reward 1 (method constant) and no clipping, the step's gradient is that of
    -sum log G(y_t) + kl_coef * sum KL - entropy_coef * sum H, all from full-softmax log probabilities."""
    config = _config(kind, method="constant", kl_coef=2.0, entropy_coef=0.5)
    config = replace(config, generator=replace(config.generator, grad_clip=0.0))
    pair = _pair(kind, config)
    pair.kl_reference = frozen_copy(_generator(kind, seed=9))
    slow_g = copy.deepcopy(pair.generator).train()
    gen = torch.Generator().manual_seed(3)
    seqs = slow_g.sample(16, torch.Generator().set_state(gen.get_state()))
    metrics = pair.policy_gradient_step(gen)
    mask = _mask(seqs)
    nll = F.cross_entropy(slow_g(slow_g.shift_right(seqs)).flatten(0, 1), seqs.flatten(), reduction="none")
    penalty, want_kl, want_entropy = _slow_penalty(slow_g, pair.kl_reference, seqs, mask, 2.0, 0.5, "sum")
    ((nll * mask.flatten()).sum() + penalty).backward()
    assert metrics["g_kl"] == pytest.approx(want_kl, rel=1e-5)
    assert metrics["g_entropy"] == pytest.approx(want_entropy, rel=1e-5)
    for ours, theirs in zip(pair.generator.parameters(), slow_g.parameters(), strict=True):
        assert torch.allclose(ours.grad, theirs.grad, rtol=1e-4, atol=1e-5 * theirs.grad.abs().max().item())


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("start", ["pretrained", "initial"])
def test_the_reference_is_g_at_the_first_policy_gradient_step(kind, start):
    """Taken when the first policy-gradient step comes (after pretraining), frozen, never taken again, in eval
    mode, without gradients; its KL at that first step is 0."""
    pair = _pair(kind, _config(kind, kl_coef=1.0, rollout_start=start))
    pair.mle_epoch(torch.Generator().manual_seed(0))  # "pretraining"
    pretrained = [p.detach().clone() for p in pair.generator.parameters()]
    assert pair.kl_reference is None
    first = pair.policy_gradient_step(torch.Generator().manual_seed(1))
    reference = pair.kl_reference
    assert first["g_kl"] == pytest.approx(0.0, abs=1e-6)
    for _ in range(2):
        later = pair.policy_gradient_step(torch.Generator().manual_seed(2))
    assert pair.kl_reference is reference and not reference.training
    assert all(torch.equal(a, b) and not b.requires_grad for a, b in zip(pretrained, reference.parameters()))
    assert later["g_kl"] > 0


# ---------------------------------------------------------------- checkpoints


def test_the_reference_is_checkpointed_and_restored():
    config = _config(kl_coef=1.0)
    a = _pair("lstm", config)
    for seed in range(2):
        a.policy_gradient_step(torch.Generator().manual_seed(seed))
    state = copy.deepcopy(a.state_dict())
    assert set(state) == PLAIN_KEYS | {"kl_reference"}
    b = _pair("lstm", config, seed=1)
    b.load_state_dict(state)
    assert all(torch.equal(p, q) for p, q in zip(a.kl_reference.parameters(), b.kl_reference.parameters()))
    assert a.policy_gradient_step(torch.Generator().manual_seed(5)) == b.policy_gradient_step(
        torch.Generator().manual_seed(5))
    # a checkpoint without a reference (before the first policy-gradient step, or from before kl_coef existed)
    # loads, and the next step takes one
    del state["kl_reference"]
    c = _pair("lstm", config, seed=1)
    c.load_state_dict(state)
    assert c.kl_reference is None
    loaded = [p.detach().clone() for p in c.generator.parameters()]
    c.policy_gradient_step(torch.Generator().manual_seed(5))
    assert all(torch.equal(p, q) for p, q in zip(loaded, c.kl_reference.parameters(), strict=True))
    assert "kl_reference" in c.state_dict()
    # a run with kl_coef=0 ignores a stored reference and stores none
    d = _pair("lstm", _config(), seed=1)
    d.load_state_dict(copy.deepcopy(b.state_dict()))
    assert d.kl_reference is None and set(d.state_dict()) == PLAIN_KEYS


def test_resume_after_an_interrupt_equals_a_straight_run(tmp_path, run_cli, monkeypatch):
    """SIGINT during the second policy-gradient step: the checkpoint holds the reference, and the resumed run
    ends byte-identical to an uninterrupted one (a reference re-taken at the resume would change g_kl)."""
    args = ["train", *TINY, "--seed", "1", "--set", "adversarial.kl_coef=0.5", "--set",
            "adversarial.entropy_coef=0.05", "--set", "schedule.checkpoint_every_s=3600"]
    whole = run_cli([*args, "--run-dir", tmp_path / "whole"])
    assert whole.code == 0, whole.err
    calls, real_step = [], SeqGANPair.policy_gradient_step

    def signalling_step(self, gen):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(self, gen)

    monkeypatch.setattr(SeqGANPair, "policy_gradient_step", signalling_step)
    stopped = run_cli([*args, "--run-dir", tmp_path / "broken"])
    assert stopped.code == 130 and "checkpoint saved" in stopped.err, stopped.err
    assert len(calls) == 2
    assert "kl_reference" in load_checkpoint(tmp_path / "broken" / "checkpoints" / "last.pt")["pair"]
    monkeypatch.setattr(SeqGANPair, "policy_gradient_step", real_step)
    resumed = run_cli([*args, "--run-dir", tmp_path / "broken"])
    assert resumed.code == 0, resumed.err
    for name in ("metrics.jsonl", "metrics.json", "samples.txt"):
        assert (tmp_path / "broken" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
    records = [json.loads(x) for x in (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines() if x]
    kls = [r["g_kl"] for r in records if "g_kl" in r]
    assert len(kls) == 3 and kls[0] == pytest.approx(0.0, abs=1e-6) and max(kls) > 0
    assert all(r["g_entropy"] > 0 for r in records if "g_kl" in r)


def test_resuming_with_another_coefficient_is_refused(copy_run, run_cli):
    before = snapshot(copy_run)
    for key in ("kl_coef", "entropy_coef"):
        result = run_cli(["train", *TINY, "--seed", "1", "--set", f"adversarial.{key}=0.5", "--run-dir", copy_run])
        assert result.code == 2 and len(result.err_lines) == 1, result.err
        assert f"adversarial.{key}: 0.0 -> 0.5" in result.err and "different configuration" in result.err
    assert snapshot(copy_run) == before


# ---------------------------------------------------------------- what the terms do to G


WORDS = "the a cat dog sat on mat ran red blue big house tree near far".split()


@pytest.fixture(scope="module")
def text_start(tmp_path_factory):
    """A small text task and the state of a pair after 5 MLE epochs and 2 D rounds on it (the "pretrained" G)."""
    rng = random.Random(0)
    corpus = tmp_path_factory.mktemp("kl") / "my.txt"
    corpus.write_text("".join(" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8))) + " .\n"
                              for _ in range(150)))
    config = _text_config(str(corpus))
    task = build_text_task(config, None, None, torch.device("cpu"))
    pair = _text_pair(task, config)
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        pair.mle_epoch(gen)
    for _ in range(2):
        pair.d_step(gen)
    return task, config, copy.deepcopy(pair.state_dict()), gen.get_state()


def _text_config(corpus: str, **adv) -> ExperimentConfig:
    return ExperimentConfig(
        name="kl", seed=1, data=DataConfig(corpus=corpus, seq_len=0),
        generator=GeneratorConfig(emb_dim=16, hidden_dim=32, batch_size=32),
        discriminator=DiscriminatorConfig(filter_sizes=(2, 3), num_filters=(8, 8), emb_dim=8),
        schedule=ScheduleConfig(num_negatives=64),
        adversarial=AdversarialConfig(num_rollouts=2, g_batch_size=16, g_lr=0.005, **adv))


def _text_pair(task, config: ExperimentConfig) -> SeqGANPair:
    torch.manual_seed(0)
    g, d = build_models(config, task.vocab_size, task.seq_len, torch.device("cpu"), task.start_token,
                        task.eos_token, task.pad_token)
    return SeqGANPair(g, d, task.train.ids, config, task.mask_fn)


def _seqgan_steps(text_start, steps: int, **adv) -> tuple[SeqGANPair, float, float]:
    """(pair, NLL-test of the pretrained G, NLL-test after `steps` SeqGAN steps from it)."""
    task, config, state, gen_state = text_start
    config = replace(config, adversarial=replace(config.adversarial, **adv))
    pair = _text_pair(task, config)
    pair.load_state_dict(copy.deepcopy(state))
    start = task.evaluate(pair.generator, config)["nll_test"]
    gen = torch.Generator().set_state(gen_state)
    for _ in range(steps):
        pair.policy_gradient_step(gen)
    return pair, start, task.evaluate(pair.generator, config)["nll_test"]


def test_a_large_kl_coef_keeps_nll_test_at_the_pretrained_gs(text_start):
    """20 SeqGAN steps at a learning rate that moves an unanchored G's NLL-test by more than 0.01: with
    kl_coef=100 it stays within 0.01 of the reference G's (the pretrained G's)."""
    _, start, free = _seqgan_steps(text_start, 20)
    pair, start_anchored, anchored = _seqgan_steps(text_start, 20, kl_coef=100.0)
    assert start_anchored == start  # the same pretrained G, which is the reference
    assert abs(free - start) > 0.01, (start, free)  # without the anchor the test could not fail
    assert abs(anchored - start) < 0.01, (start, anchored)


def _entropy(generator, ids: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean entropy of G's next-token distributions at the real positions of ids (full log_softmax)."""
    with torch.no_grad():
        logp = torch.log_softmax(generator(generator.shift_right(ids)), dim=-1)
    return (-(logp.exp() * logp).sum(-1))[mask].mean().item()


def test_an_entropy_bonus_raises_the_entropy(text_start):
    task = text_start[0]
    ids, mask = task.test.ids, task.mask_fn(task.test.ids)
    plain, _, _ = _seqgan_steps(text_start, 10)
    bonus, _, _ = _seqgan_steps(text_start, 10, entropy_coef=1.0)
    start = _text_pair(task, text_start[1])
    start.load_state_dict(copy.deepcopy(text_start[2]))
    h_start, h_plain, h_bonus = (_entropy(p.generator, ids, mask) for p in (start, plain, bonus))
    assert h_bonus > h_plain + 0.05 and h_bonus > h_start, (h_start, h_plain, h_bonus)


# ---------------------------------------------------------------- bad values


@pytest.mark.parametrize("key", ["kl_coef", "entropy_coef"])
@pytest.mark.parametrize("value", [-1.0, float("nan"), float("inf")])
def test_bad_coefficients_are_refused(key, value):
    with pytest.raises(UserError, match=f"adversarial.{key} must be a finite number >= 0"):
        AdversarialConfig(**{key: value})


@pytest.mark.parametrize("setting", ["adversarial.kl_coef=-0.1", "adversarial.entropy_coef=nan",
                                     "adversarial.kl_coef=inf", "adversarial.entropy_coef=much"])
def test_bad_coefficients_exit_2_with_one_line(tmp_path, run_cli, setting):
    result = run_cli(["train", *TINY, "--set", setting, "--run-dir", tmp_path / "run"])
    assert result.code == 2 and len(result.err_lines) == 1, result.err
    assert setting.split("=")[0] in result.err
    assert not (tmp_path / "run").exists()
