"""baselines/: scheduled sampling and PG-BLEU, against teacher forcing, a slow reference and nltk."""

from __future__ import annotations

import json

import pytest
import torch
from nltk.translate.bleu_score import sentence_bleu

from baselines.pg_bleu import BleuReward, reference_subset, strip_sequences
from baselines.scheduled_sampling import omega_for_epoch, scheduled_sampling_inputs, scheduled_sampling_loss
from seqgan.base.errors import UserError
from seqgan.text.config import AdversarialConfig, ExperimentConfig, apply_overrides
from seqgan.text.pretrain import mle_loss
from seqgan.text.sampling import reference_sample
from tests.conftest import TINY, tiny_generator
from tests.test_adversarial import _changed, _config, _pair, _params, oracle_data  # noqa: F401

V, T = 40, 6


def test_omega_falls_by_the_decay_per_epoch_and_stops_at_zero():
    assert omega_for_epoch(1) == pytest.approx(0.998)
    assert omega_for_epoch(50) == pytest.approx(0.9)
    assert omega_for_epoch(10, start=0.5, decay=0.1) == 0.0


def test_omega_one_is_teacher_forcing():
    model = tiny_generator(vocab=V, max_len=T)
    ids = model.sample(8, torch.Generator().manual_seed(1))
    _, inputs = scheduled_sampling_inputs(model, ids, 1.0, torch.Generator().manual_seed(2))
    assert torch.equal(inputs, model.shift_right(ids))
    loss = scheduled_sampling_loss(model, ids, 1.0, torch.Generator().manual_seed(2))
    assert loss.item() == pytest.approx(mle_loss(model, ids).item(), rel=1e-5)


def test_omega_zero_feeds_g_its_own_samples_like_a_slow_reference():
    """Every input after the start token is G's draw from its distribution at the previous step."""
    model = tiny_generator(vocab=V, max_len=T, std=1.0)
    ids = torch.randint(0, V, (5, T), generator=torch.Generator().manual_seed(3))
    gen = torch.Generator().manual_seed(4)
    _, inputs = scheduled_sampling_inputs(model, ids, 0.0, gen)
    draws = torch.rand(2, 5, T, generator=torch.Generator().manual_seed(4))  # the same draws, replayed
    token = torch.full((5,), model.start_token)
    state = None
    with torch.no_grad():
        for t in range(T):
            assert torch.equal(inputs[:, t], token)
            out, state = model.lstm(model.embedding(token).unsqueeze(1), state)
            token = reference_sample(model.out(out[:, 0]), draws[1, :, t])


def test_coins_are_drawn_per_token_not_per_sequence():
    model = tiny_generator(vocab=V, max_len=T)
    ids = torch.full((400, T), 7)  # G's own samples are almost never all 7, so a 7 input marks a true token
    _, inputs = scheduled_sampling_inputs(model, ids, 0.5, torch.Generator().manual_seed(5))
    true_input = inputs[:, 1:] == 7  # (400, T-1)
    assert true_input.float().mean().item() == pytest.approx(0.5, abs=0.05)
    mixed_rows = (true_input.any(1) & ~true_input.all(1)).float().mean().item()
    assert mixed_rows > 0.8  # per-graph coins would make every row all-true or all-false


def test_scheduled_sampling_epoch_trains_g_and_counts_epochs(oracle_data):  # noqa: F811
    pair = _pair(oracle_data[1], _config(method="ss", ss_decay=0.1))
    before = _params(pair.generator)
    first = pair.g_step(torch.Generator().manual_seed(0))
    second = pair.g_step(torch.Generator().manual_seed(1))
    assert _changed(before, pair.generator)
    assert (first["ss_omega"], second["ss_omega"]) == pytest.approx((0.9, 0.8))
    assert pair.state_dict()["ss_epochs"] == 2


def test_bleu_reward_equals_nltk_on_ids_and_stops_at_eos():
    gen = torch.Generator().manual_seed(0)
    refs = torch.randint(3, 9, (30, 8), generator=gen)
    hyps = torch.randint(3, 9, (12, 8), generator=gen)
    hyps[0, 4:] = torch.tensor([2, 0, 0, 0])  # EOS (2) then padding
    reward = BleuReward(refs, n=3, smoothing="none", eos_token=2)
    got = reward(hyps)
    ref_lists = strip_sequences(refs, 2)
    for row, value in zip(strip_sequences(hyps, 2), got.tolist()):
        assert value == pytest.approx(sentence_bleu(ref_lists, row, weights=(1 / 3,) * 3), abs=1e-6)
    assert strip_sequences(hyps, 2)[0] == hyps[0, :4].tolist()


def test_reference_subset_is_a_seeded_fraction():
    real = torch.arange(100).unsqueeze(1).repeat(1, 3)
    a, b = reference_subset(real, 0.4, 7), reference_subset(real, 0.4, 7)
    assert torch.equal(a, b) and a.shape == (40, 3)
    assert len(set(a[:, 0].tolist())) == 40 and not torch.equal(a, reference_subset(real, 0.4, 8))


def test_pg_bleu_step_rewards_bleu_and_updates_g(oracle_data):  # noqa: F811
    oracle, train, _ = oracle_data
    pair = _pair(train, _config(method="pg-bleu", bleu_n=2, bleu_smoothing="method1"))
    before, d_before = _params(pair.generator), _params(pair.discriminator)
    metrics = pair.g_step(torch.Generator().manual_seed(0))
    assert 0.0 < metrics["g_reward"] < 1.0
    assert _changed(before, pair.generator) and not _changed(d_before, pair.discriminator)
    seqs = pair.generator.sample(4, torch.Generator().manual_seed(1))
    rewards = pair.rollout.rewards(seqs, 2, pair.reward_fn, torch.Generator().manual_seed(2))
    assert torch.allclose(rewards[:, -1], pair.reward_fn(seqs))


def test_bad_method_and_schedule_values_are_refused():
    with pytest.raises(UserError, match="pg-bleu"):
        AdversarialConfig(method="pgbleu")
    with pytest.raises(UserError, match="ss_start"):
        apply_overrides(ExperimentConfig(), ["adversarial.ss_start=1.5"])


@pytest.mark.parametrize("method", ["ss", "pg-bleu"])
def test_baseline_run_resumed_equals_a_straight_run(run_cli, tmp_path, method):
    """omega's epoch count and the BLEU references survive a resume: extending 2 -> 4 epochs = 4 straight."""
    straight, split = tmp_path / "straight", tmp_path / "split"
    base = ["train", *TINY, "--method", method, "--seed", "3"]
    assert run_cli([*base, "--run-dir", straight, "--set", "schedule.adv_epochs=4"]).code == 0
    assert run_cli([*base, "--run-dir", split, "--set", "schedule.adv_epochs=2"]).code == 0
    assert run_cli([*base, "--run-dir", split, "--set", "schedule.adv_epochs=4"]).code == 0

    def train_records(run_dir):
        lines = (run_dir / "metrics.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines]

    assert train_records(split) == train_records(straight)
