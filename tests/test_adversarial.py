"""seqgan.text.adversarial and seqgan.text.pretrain: policy-gradient step, D step, MLE, on a tiny oracle problem."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest
import torch
from torch.nn import functional as F

from seqgan.core.protocol import GANPair
from seqgan.text.adversarial import SeqGANPair
from seqgan.text.config import (
    AdversarialConfig,
    DiscriminatorConfig,
    ExperimentConfig,
    GeneratorConfig,
    ScheduleConfig,
)
from seqgan.text.oracle import random_oracle
from seqgan.text.pretrain import mle_loss
from tests.conftest import tiny_discriminator, tiny_generator

V, T = 40, 6


def _config(**adv) -> ExperimentConfig:
    return ExperimentConfig(
        generator=GeneratorConfig(emb_dim=8, hidden_dim=16, batch_size=32),
        discriminator=DiscriminatorConfig(filter_sizes=(2, 3), num_filters=(8, 8), emb_dim=8, lr=1e-3),
        schedule=ScheduleConfig(num_negatives=64, adv_d_epochs=2, pretrain_d_epochs=1),
        adversarial=AdversarialConfig(num_rollouts=2, g_batch_size=16, **adv),
    )


@pytest.fixture(scope="module")
def oracle_data():
    oracle = random_oracle(0, V, 8, 8, T)
    train = oracle.sample(256, torch.Generator().manual_seed(1))
    test = oracle.sample(256, torch.Generator().manual_seed(2))
    return oracle, train, test


def _pair(real: torch.Tensor, config: ExperimentConfig | None = None, seed: int = 0) -> SeqGANPair:
    torch.manual_seed(seed)
    g = tiny_generator(vocab=V, max_len=T, std=0.1, seed=seed)
    d = tiny_discriminator(vocab=V, seed=seed)
    return SeqGANPair(g, d, real, config or _config())


def _params(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def _changed(before: list[torch.Tensor], module: torch.nn.Module) -> bool:
    return any(not torch.equal(a, b) for a, b in zip(before, module.parameters()))


def test_pair_satisfies_the_gan_pair_protocol(oracle_data):
    assert isinstance(_pair(oracle_data[1]), GANPair)


@pytest.mark.parametrize("method", ["seqgan", "constant"])
def test_one_policy_gradient_step_changes_g_only(oracle_data, method):
    pair = _pair(oracle_data[1], _config(method=method))
    g_before, d_before = _params(pair.generator), _params(pair.discriminator)
    metrics = pair.policy_gradient_step(torch.Generator().manual_seed(0))
    assert _changed(g_before, pair.generator)
    assert not _changed(d_before, pair.discriminator)
    assert set(metrics) == {"g_reward", "g_pg_loss", "g_grad_norm", "g_sample_nll"}
    if method == "constant":
        assert metrics["g_reward"] == 1.0
    else:
        assert 0.0 < metrics["g_reward"] < 1.0
    # the rollout copy took its delayed step: 0.8 * old (= the initial G) + 0.2 * new G
    for p_roll, p_old, p_new in zip(pair.rollout.net.parameters(), g_before, pair.generator.parameters()):
        assert torch.allclose(p_roll, 0.8 * p_old + 0.2 * p_new.detach(), atol=1e-6)


def test_g_step_dispatches_on_method(oracle_data):
    mle = _pair(oracle_data[1], _config(method="mle"))
    assert "g_mle_nll" in mle.g_step(torch.Generator().manual_seed(0))
    pg = _pair(oracle_data[1], _config(method="seqgan"))
    assert "g_pg_loss" in pg.g_step(torch.Generator().manual_seed(0))


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_policy_gradient_is_eq_37(oracle_data, reduction):
    """With reward 1 everywhere the loss is -sum_t log G(y_t | y_<t) over the sampled batch (or its mean);
    its gradient must equal autograd's on F.cross_entropy of a copy of G."""
    config = _config(method="constant", reduction=reduction)
    config = replace(config, generator=replace(config.generator, grad_clip=0.0))  # no clipping: raw gradients
    pair = _pair(oracle_data[1], config)
    reference = copy.deepcopy(pair.generator)
    gen = torch.Generator().manual_seed(3)
    seqs = reference.sample(config.adversarial.g_batch_size, torch.Generator().set_state(gen.get_state()))
    metrics = pair.policy_gradient_step(gen)

    logits = reference(reference.shift_right(seqs))  # (B, T, V)
    loss = F.cross_entropy(logits.flatten(0, 1), seqs.flatten(), reduction=reduction)
    loss.backward()
    assert metrics["g_pg_loss"] == pytest.approx(loss.item(), rel=1e-5)
    for ours, theirs in zip(pair.generator.parameters(), reference.parameters()):
        assert torch.allclose(ours.grad, theirs.grad, rtol=1e-4, atol=1e-6)


def test_mean_baseline_of_a_constant_reward_gives_no_update(oracle_data):
    pair = _pair(oracle_data[1], _config(method="constant", baseline="mean"))
    before = _params(pair.generator)
    metrics = pair.policy_gradient_step(torch.Generator().manual_seed(0))
    assert metrics["g_pg_loss"] == 0.0
    assert not _changed(before, pair.generator)


def test_one_d_step_changes_d_only(oracle_data):
    pair = _pair(oracle_data[1])
    g_before, d_before = _params(pair.generator), _params(pair.discriminator)
    metrics = pair.d_step(torch.Generator().manual_seed(0))
    assert _changed(d_before, pair.discriminator)
    assert not _changed(g_before, pair.generator)
    assert set(metrics) == {"d_loss", "d_accuracy"} and 0 <= metrics["d_accuracy"] <= 1


def test_d_steps_learn_to_tell_a_bad_g_from_the_oracle(oracle_data):
    """Untrained G (near-uniform) vs. the oracle's samples: a few D rounds push accuracy well above chance."""
    oracle, train, test = oracle_data
    config = _config()
    pair = _pair(train, replace(config, discriminator=replace(config.discriminator, lr=1e-2)))
    gen = torch.Generator().manual_seed(0)
    for _ in range(8):
        pair.d_step(gen)
    fake = pair.generator.sample(256, torch.Generator().manual_seed(11))
    d = pair.discriminator
    accuracy = ((d.prob_real(test) > 0.5).float().mean() + (d.prob_real(fake) <= 0.5).float().mean()) / 2
    assert accuracy.item() > 0.7


def test_mle_epochs_lower_the_nll(oracle_data):
    oracle, train, test = oracle_data
    pair = _pair(train)
    gen = torch.Generator().manual_seed(0)

    def test_nll() -> float:
        return (pair.generator.score(test).sum() / test.numel()).item()

    start = test_nll()
    train_nll = [pair.mle_epoch(gen)["g_mle_nll"] for _ in range(5)]
    end = test_nll()
    assert train_nll[-1] < train_nll[0] - 0.1
    assert end < start - 0.1
    assert start == pytest.approx(torch.log(torch.tensor(float(V))).item(), abs=0.2)  # starts near uniform


def test_mle_loss_with_mask_ignores_padding():
    g = tiny_generator(vocab=V, max_len=T)
    ids = torch.randint(0, V, (4, T), generator=torch.Generator().manual_seed(0))
    mask = torch.ones(4, T, dtype=torch.bool)
    mask[:, 3:] = False
    logits = g(g.shift_right(ids))
    want = F.cross_entropy(logits[:, :3].flatten(0, 1), ids[:, :3].flatten())
    assert mle_loss(g, ids, mask).item() == pytest.approx(want.item(), rel=1e-5)
    assert mle_loss(g, ids).item() == pytest.approx(F.cross_entropy(logits.flatten(0, 1), ids.flatten()).item(),
                                                    rel=1e-5)


def test_state_dict_round_trip(oracle_data):
    a = _pair(oracle_data[1], seed=0)
    a.policy_gradient_step(torch.Generator().manual_seed(0))
    a.d_step(torch.Generator().manual_seed(0))
    b = _pair(oracle_data[1], seed=1)
    b.load_state_dict(copy.deepcopy(a.state_dict()))
    for x, y in [(a.generator, b.generator), (a.discriminator, b.discriminator), (a.rollout.net, b.rollout.net)]:
        assert all(torch.equal(p, q) for p, q in zip(x.state_dict().values(), y.state_dict().values()))
    # the same next step from both (optimizer moments restored too)
    ma = a.policy_gradient_step(torch.Generator().manual_seed(5))
    mb = b.policy_gradient_step(torch.Generator().manual_seed(5))
    assert ma == mb


@pytest.mark.parametrize("start", ["pretrained", "initial"])
def test_rollout_policy_starts_from_the_pretrained_g(oracle_data, start):
    """Rollouts of the first policy-gradient step come from G as pretrained (the paper builds the rollout
    network after pretraining); rollout_start=initial keeps G's random initialisation, as versions <= 0.1.0 did.
    Checked through the delayed update: after one PG step, rollout = 0.8 * start + 0.2 * new G."""
    pair = _pair(oracle_data[1], _config(rollout_start=start))
    initial = _params(pair.generator)
    pair.mle_epoch(torch.Generator().manual_seed(0))  # "pretraining" moves G away from its initialisation
    pretrained = _params(pair.generator)
    assert _changed(initial, pair.generator)
    pair.policy_gradient_step(torch.Generator().manual_seed(1))
    origin = pretrained if start == "pretrained" else initial
    for p_roll, p_start, p_new in zip(pair.rollout.net.parameters(), origin, pair.generator.parameters()):
        assert torch.allclose(p_roll, 0.8 * p_start + 0.2 * p_new.detach(), atol=1e-6)
    # a second step (or a resumed run, whose optimizer state is restored) does not copy G again
    after_one = _params(pair.rollout.net)
    pair.policy_gradient_step(torch.Generator().manual_seed(2))
    for p_roll, p_prev, p_new in zip(pair.rollout.net.parameters(), after_one, pair.generator.parameters()):
        assert torch.allclose(p_roll, 0.8 * p_prev + 0.2 * p_new.detach(), atol=1e-6)
