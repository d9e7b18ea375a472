"""SeqGAN's adversarial training (Algorithm 1) as a GANPair, with a pluggable reward.

`g_step` is one policy-gradient update (Eq. 37-38) on a fresh batch of G's samples with per-token rewards
Q (B, T) from Monte Carlo rollouts (Eq. 33-34), followed by the rollout network's delayed update.
`d_step` draws fresh negatives and trains D on them and as many real sequences (Eq. 35).
The reward is chosen by name from REWARDS: the discriminator (SeqGAN), or the constant 1 (a control that
shows what the policy gradient does without any signal from D), or BLEU against part of the training data
(PG-BLEU). The MLE and scheduled-sampling baselines replace the policy-gradient step by a training epoch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from seqgan.text.config import ExperimentConfig
from seqgan.text.fused import weighted_nll
from seqgan.text.generator_api import TextGenerator
from seqgan.text.pretrain import clipped_step, discriminator_epoch, mle_epoch
from seqgan.text.rollout import Rollout, ScoreFn


class DiscriminatorReward:
    """D's probability that a sequence is real, in eval mode (no dropout); shares prefix work when it can."""

    def __init__(self, discriminator: nn.Module) -> None:
        self.discriminator = discriminator

    def __call__(self, seqs: torch.Tensor) -> torch.Tensor:
        return self.discriminator.prob_real(seqs)

    def completions(self, done: torch.Tensor, seqs: torch.Tensor) -> torch.Tensor:
        """(T-1, N, B) scores of rollout completions (T-1, N, B, T) of `seqs` (B, T)."""
        if hasattr(self.discriminator, "prob_real_completions"):
            return self.discriminator.prob_real_completions(done, seqs)
        return self.discriminator.prob_real(done.flatten(0, 2)).view(done.shape[:3])


def discriminator_reward(pair: SeqGANPair) -> ScoreFn:
    """D's probability that a sequence is real (SeqGAN's reward)."""
    return DiscriminatorReward(pair.discriminator)


def constant_reward(pair: SeqGANPair) -> ScoreFn:
    """Reward 1 for every sequence: policy gradient with no information from D."""
    return lambda seqs: torch.ones(seqs.shape[0], device=seqs.device)


def bleu_reward(pair: SeqGANPair) -> ScoreFn:
    """BLEU-n of a sequence against a seeded part of the training data (PG-BLEU's reward)."""
    from baselines.pg_bleu import BleuReward, reference_subset  # imports numpy-side BLEU only when used

    adv = pair.config.adversarial
    refs = reference_subset(pair.real, adv.bleu_ref_fraction, pair.config.seed)
    return BleuReward(refs, adv.bleu_n, adv.bleu_smoothing, pair.generator.eos_token)


REWARDS: dict[str, Callable[[SeqGANPair], ScoreFn]] = {
    "seqgan": discriminator_reward,
    "constant": constant_reward,
    "pg-bleu": bleu_reward,
}


class SeqGANPair:
    """G, D, the rollout policy, their optimizers, and SeqGAN's update rules.

    Args:
        generator: G (the LSTM or the transformer policy).
        discriminator: D (CNN or RNN classifier).
        real: (N, T) real training sequences.
        config: the experiment config.
        mask_fn: maps ids (B, T) to a bool mask (False on padding), or None when nothing is padded.
    """

    def __init__(self, generator: TextGenerator, discriminator: nn.Module, real: torch.Tensor,
                 config: ExperimentConfig, mask_fn: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        self.generator, self.discriminator, self.real, self.config = generator, discriminator, real, config
        self.mask_fn = mask_fn
        g, d, adv = config.generator, config.discriminator, config.adversarial
        # fused Adam: one kernel over all parameters; D's 7M-parameter update is a large part of a D epoch
        self.g_mle_opt = torch.optim.Adam(generator.parameters(), lr=g.lr, fused=True)
        self.g_pg_opt = torch.optim.Adam(generator.parameters(), lr=adv.g_lr, fused=True)
        self.d_opt = torch.optim.Adam(discriminator.parameters(), lr=d.lr, fused=True)
        self.rollout = Rollout(generator, adv.rollout_update_rate)
        self.real_mask = None if mask_fn is None else mask_fn(real)
        self.reward_fn: ScoreFn | None = REWARDS[adv.method](self) if adv.method in REWARDS else None
        self.ss_epochs = 0  # scheduled-sampling epochs done (omega's schedule); checkpointed

    # ---- generator -------------------------------------------------------------------------------
    def mle_epoch(self, gen: torch.Generator) -> dict[str, float]:
        """One MLE epoch over the real data (pretraining, and the MLE baseline's adversarial phase)."""
        g = self.config.generator
        return mle_epoch(self.generator, self.g_mle_opt, self.real, g.batch_size, g.grad_clip, gen, self.real_mask)

    def scheduled_sampling_epoch(self, gen: torch.Generator) -> dict[str, float]:
        """One epoch of scheduled sampling over the real data; omega falls with every epoch."""
        from baselines.scheduled_sampling import omega_for_epoch, scheduled_sampling_loss

        g, adv = self.config.generator, self.config.adversarial
        omega = omega_for_epoch(self.ss_epochs + 1, adv.ss_start, adv.ss_decay)
        metrics = mle_epoch(self.generator, self.g_mle_opt, self.real, g.batch_size, g.grad_clip, gen,
                            self.real_mask, lambda m, ids, mask: scheduled_sampling_loss(m, ids, omega, gen, mask))
        self.ss_epochs += 1  # only once the epoch is whole: a Ctrl-C can pause it, and the resume redoes this call
        return {"g_ss_nll": metrics["g_mle_nll"], "ss_omega": omega}

    def g_step(self, gen: torch.Generator) -> dict[str, float]:
        """One adversarial-phase G update: an MLE or scheduled-sampling epoch for those baselines, else a
        policy-gradient step (SeqGAN, constant reward, PG-BLEU)."""
        method = self.config.adversarial.method
        if method == "mle":
            return self.mle_epoch(gen)
        if method == "ss":
            return self.scheduled_sampling_epoch(gen)
        return self.policy_gradient_step(gen)

    def policy_gradient_step(self, gen: torch.Generator) -> dict[str, float]:
        """Sample a batch, get per-token rewards, take one step on sum_t Q_t * -log G(y_t | Y_{1:t-1})."""
        adv = self.config.adversarial
        if not self.g_pg_opt.state and adv.rollout_start == "pretrained":
            # first policy-gradient step of this run (the optimizer has no state yet; checkpointed, so a resume
            # does not copy again): rollouts start from the pretrained G, not from G's random initialisation
            self.rollout.sync_()
        seqs = self.generator.sample(adv.g_batch_size, gen)  # (B, T)
        if adv.method == "constant":
            rewards = torch.ones(seqs.shape, device=seqs.device)  # what rollouts of a constant reward give
        else:
            rewards = self.rollout.rewards(seqs, adv.num_rollouts, self.reward_fn, gen)  # (B, T)
        mean_reward = rewards.mean().item()
        q = rewards - rewards.mean(dim=0, keepdim=True) if adv.baseline == "mean" else rewards  # (B, T)
        if self.mask_fn is not None:
            q = q * self.mask_fn(seqs)  # padding after EOS gets no gradient and no reward
        if adv.reduction == "mean":
            q = q / seqs.numel()
        self.generator.train()
        hidden = self.generator.features(seqs)  # (B, T, H)
        weight, bias, h_bound = self.generator.output_layer()
        loss, nll = weighted_nll(hidden.flatten(0, 1), weight, bias, seqs.flatten(), q.flatten(),
                                 h_bound)  # Eq. 37 as a loss: -sum Q log G
        grad_norm = clipped_step(self.generator, self.g_pg_opt, loss, self.config.generator.grad_clip)
        self.rollout.update_()  # delayed update of the rollout policy
        return {"g_reward": mean_reward, "g_pg_loss": loss.item(), "g_grad_norm": grad_norm,
                "g_sample_nll": nll.mean().item()}

    # ---- discriminator ---------------------------------------------------------------------------
    def d_step(self, gen: torch.Generator, epochs: int | None = None) -> dict[str, float]:
        """Fresh negatives from G, as many real positives, then `epochs` D epochs (Algorithm 1, 12-15)."""
        sched, d = self.config.schedule, self.config.discriminator
        epochs = sched.adv_d_epochs if epochs is None else epochs
        n = sched.num_negatives
        negatives = self.generator.sample(n, gen)
        if n >= self.real.shape[0]:
            positives = self.real
        else:
            positives = self.real[torch.randperm(self.real.shape[0], generator=gen, device=gen.device)[:n]]
        metrics: dict[str, float] = {}
        for _ in range(epochs):
            metrics = discriminator_epoch(self.discriminator, self.d_opt, positives, negatives, d.batch_size,
                                          d.l2_reg, gen)
        return metrics

    def pretrain_d_step(self, gen: torch.Generator) -> dict[str, float]:
        """A D pretraining round: fresh negatives, `pretrain_d_epochs` epochs."""
        return self.d_step(gen, self.config.schedule.pretrain_d_epochs)

    # ---- GANPair plumbing ------------------------------------------------------------------------
    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """n sequences from G."""
        return self.generator.sample(n, gen)

    def state_dict(self) -> dict:
        """Models, rollout copy and optimizers."""
        return {"generator": self.generator.state_dict(), "discriminator": self.discriminator.state_dict(),
                "rollout": self.rollout.net.state_dict(), "g_mle_opt": self.g_mle_opt.state_dict(),
                "g_pg_opt": self.g_pg_opt.state_dict(), "d_opt": self.d_opt.state_dict(),
                "ss_epochs": self.ss_epochs}

    def load_state_dict(self, state: dict) -> None:
        """Inverse of `state_dict`."""
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.rollout.net.load_state_dict(state["rollout"])
        self.g_mle_opt.load_state_dict(state["g_mle_opt"])
        self.g_pg_opt.load_state_dict(state["g_pg_opt"])
        self.d_opt.load_state_dict(state["d_opt"])
        self.ss_epochs = int(state.get("ss_epochs", 0))
