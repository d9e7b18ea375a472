"""SeqGAN's adversarial training (Algorithm 1) as a GANPair, with a pluggable reward.

`g_step` is one policy-gradient update (Eq. 37-38) on a fresh batch of G's samples with per-token rewards
Q (B, T) from Monte Carlo rollouts (Eq. 33-34), followed by the rollout network's delayed update.
`d_step` draws fresh negatives and trains D on them and as many real sequences (Eq. 35).
The reward is chosen by name from REWARDS: the discriminator (SeqGAN), or the constant 1 (a control that
shows what the policy gradient does without any signal from D), or BLEU against part of the training data
(PG-BLEU). The MLE and scheduled-sampling baselines replace the policy-gradient step by a training epoch.
Optionally (`adversarial.kl_coef`, `adversarial.entropy_coef`; off by default) the policy-gradient loss also
gets a KL anchor to the pretrained G and an entropy bonus (`AnchorPenalty`).

Under torchrun (`seqgan.core.distributed`) every process samples the whole batch from the shared generator and
takes its rows' rollouts, scores and loss (`shared_policy_gradient`); D's epochs and the MLE epochs are split the
same way (`seqgan.text.pretrain`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

from seqgan.base.errors import UserError
from seqgan.core.distributed import is_distributed, shard, sum_tensor
from seqgan.text.config import ExperimentConfig
from seqgan.text.fused import CHUNK_ROWS, weighted_nll
from seqgan.text.generator_api import TextGenerator
from seqgan.text.pretrain import clipped_step, discriminator_epoch, mle_epoch, shared_step
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


class AnchorPenalty(torch.autograd.Function):
    """loss = sum_r w[r] * (kl_coef * KL_r - entropy_coef * H_r), exactly over the full vocabulary, where
    p_r = softmax(h_r @ weight.T + bias) is G's next-token distribution at row r, q_r the reference's,
    KL_r = KL(p_r || q_r) and H_r the entropy of p_r. Returns (loss, (R, 2) per-row [KL_r, H_r]).

    As `fused.WeightedNLL`, the row weights are known up front, so each (rows x V) block becomes its gradient
    while it is in cache: dKL_r/dz_j = p_j (log p_j - log q_j - KL_r), dH_r/dz_j = -p_j (log p_j + H_r).
    A term whose coefficient is 0 is not computed (its column of the returned rows stays 0).
    """

    @staticmethod
    def forward(ctx, h, weight, bias, ref_h, ref_weight, ref_bias, row_weights, kl_coef,  # noqa: D102
                entropy_coef):
        rows_stats = h.new_zeros(h.shape[0], 2)
        grad_h, grad_w, grad_b = torch.empty_like(h), torch.zeros_like(weight), torch.zeros_like(bias)
        loss = h.new_zeros(())
        for lo in range(0, h.shape[0], CHUNK_ROWS):
            rows = slice(lo, lo + CHUNK_ROWS)
            logp = torch.log_softmax(torch.addmm(bias, h[rows], weight.t()), dim=1)  # (r, V)
            p = logp.exp()
            dz = torch.zeros_like(logp)  # d(KL or -H)/dlogits / p, then times p and the row weight
            term = h.new_zeros(logp.shape[0])  # kl_coef * KL_r - entropy_coef * H_r
            if kl_coef > 0:
                diff = logp - torch.log_softmax(torch.addmm(ref_bias, ref_h[rows], ref_weight.t()), dim=1)
                kl = (p * diff).sum(dim=1)
                dz.add_(diff - kl.unsqueeze(1), alpha=kl_coef)
                rows_stats[rows, 0], term = kl, term + kl_coef * kl
            if entropy_coef > 0:
                entropy = -(p * logp).sum(dim=1)
                dz.add_(logp + entropy.unsqueeze(1), alpha=entropy_coef)
                rows_stats[rows, 1], term = entropy, term - entropy_coef * entropy
            g = row_weights[rows]
            dz.mul_(p).mul_(g.unsqueeze(1))
            loss += (g * term).sum()
            torch.mm(dz, weight, out=grad_h[rows])  # (r, H)
            grad_w.addmm_(dz.t(), h[rows])  # (V, H)
            grad_b += dz.sum(dim=0)
        ctx.grads = (grad_h, grad_w, grad_b)
        ctx.mark_non_differentiable(rows_stats)
        return loss, rows_stats

    @staticmethod
    def backward(ctx, grad_loss, _grad_rows):  # noqa: D102
        grad_h, grad_w, grad_b = (g * grad_loss for g in ctx.grads)
        ctx.grads = None
        return grad_h, grad_w, grad_b, None, None, None, None, None, None


def frozen_copy(generator: TextGenerator) -> TextGenerator:
    """A copy of G that no optimizer moves: eval mode (no dropout), no gradients (the KL anchor's reference)."""
    reference = copy.deepcopy(generator)
    for p in reference.parameters():
        p.grad = None  # deepcopy copies gradients left by G's last step: the reference never needs them
    reference.requires_grad_(False)
    reference.eval()
    return reference


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
        if adv.method == "ss" and is_distributed():
            raise UserError("adversarial.method=ss (scheduled sampling) trains in one process only: its coins are "
                            "drawn per row of each batch, which processes cannot share; run it without torchrun")
        # fused Adam: one kernel over all parameters; D's 7M-parameter update is a large part of a D epoch
        self.g_mle_opt = torch.optim.Adam(generator.parameters(), lr=g.lr, fused=True)
        self.g_pg_opt = torch.optim.Adam(generator.parameters(), lr=adv.g_lr, fused=True)
        self.d_opt = torch.optim.Adam(discriminator.parameters(), lr=d.lr, fused=True)
        self.rollout = Rollout(generator, adv.rollout_update_rate)
        self.real_mask = None if mask_fn is None else mask_fn(real)
        self.reward_fn: ScoreFn | None = REWARDS[adv.method](self) if adv.method in REWARDS else None
        self.ss_epochs = 0  # scheduled-sampling epochs done (omega's schedule); checkpointed
        # frozen G of the first policy-gradient step, made only when adversarial.kl_coef > 0; checkpointed
        self.kl_reference: TextGenerator | None = None

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
        """Sample a batch, get per-token rewards, take one step on sum_t Q_t * -log G(y_t | Y_{1:t-1}), plus the
        KL anchor and entropy bonus (`anchor_penalty`) when adversarial.kl_coef or entropy_coef is > 0."""
        adv = self.config.adversarial
        if not self.g_pg_opt.state and adv.rollout_start == "pretrained":
            # first policy-gradient step of this run (the optimizer has no state yet; checkpointed, so a resume
            # does not copy again): rollouts start from the pretrained G, not from G's random initialisation
            self.rollout.sync_()
        if adv.kl_coef > 0 and self.kl_reference is None:
            # the KL anchor's reference: G as it is at the run's first policy-gradient step (the pretrained G,
            # the moment the rollout policy is synced above; from a checkpoint the stored reference is loaded)
            self.kl_reference = frozen_copy(self.generator)
        seqs = self.generator.sample(adv.g_batch_size, gen)  # (B, T)
        if is_distributed():  # every process sampled the whole batch; each takes its rows from here
            return self.shared_policy_gradient(seqs, gen)
        if adv.method == "constant":
            rewards = torch.ones(seqs.shape, device=seqs.device)  # what rollouts of a constant reward give
        else:
            rewards = self.rollout.rewards(seqs, adv.num_rollouts, self.reward_fn, gen)  # (B, T)
        mean_reward = rewards.mean().item()
        q = rewards - rewards.mean(dim=0, keepdim=True) if adv.baseline == "mean" else rewards  # (B, T)
        mask = None if self.mask_fn is None else self.mask_fn(seqs)  # (B, T) bool
        if mask is not None:
            q = q * mask  # padding after EOS gets no gradient and no reward
        if adv.reduction == "mean":
            q = q / seqs.numel()
        self.generator.train()
        hidden = self.generator.features(seqs)  # (B, T, H)
        weight, bias, h_bound = self.generator.output_layer()
        loss, nll = weighted_nll(hidden.flatten(0, 1), weight, bias, seqs.flatten(), q.flatten(),
                                 h_bound)  # Eq. 37 as a loss: -sum Q log G
        total, extra = loss, {}
        if adv.kl_coef > 0 or adv.entropy_coef > 0:  # off (the default): plain SeqGAN, nothing else computed
            penalty, extra = self.anchor_penalty(seqs, hidden, mask)
            total = loss + penalty
        grad_norm = clipped_step(self.generator, self.g_pg_opt, total, self.config.generator.grad_clip)
        self.rollout.update_()  # delayed update of the rollout policy
        return {"g_reward": mean_reward, "g_pg_loss": loss.item(), "g_grad_norm": grad_norm,
                "g_sample_nll": nll.mean().item(), **extra}

    def shared_policy_gradient(self, seqs: torch.Tensor, gen: torch.Generator) -> dict[str, float]:
        """The rest of `policy_gradient_step` in one process of a torchrun job, from the batch `seqs` (B, T) that
        every process sampled alike: this process's rows get their rollouts (from the uniforms one process would
        draw for them), D's scores and their part of the loss; rewards, the loss terms and the gradients are
        summed over the processes, so the step and its metrics are the one-process step's.
        """
        adv = self.config.adversarial
        B = seqs.shape[0]
        rows = shard(B)
        mine = seqs[rows]  # (b, T)
        if adv.method == "constant":
            rewards = torch.ones(mine.shape, device=seqs.device)
        else:
            rewards = self.rollout.rewards(seqs, adv.num_rollouts, self.reward_fn, gen, rows=rows)  # (b, T)
        column_sums = sum_tensor(rewards.sum(dim=0), "adding up rewards")  # (T,) over all B rows
        q = rewards - column_sums / B if adv.baseline == "mean" else rewards  # (b, T)
        mask = None if self.mask_fn is None else self.mask_fn(mine)  # (b, T) bool
        if mask is not None:
            q = q * mask  # padding after EOS gets no gradient and no reward
        if adv.reduction == "mean":
            q = q / seqs.numel()  # the whole batch's size, as in one process
        self.generator.train()
        total, sums = None, [0.0] * 5  # this process's [loss, sample NLL, KL, entropy, anchored rows]
        if mine.shape[0]:
            hidden = self.generator.features(mine)  # (b, T, H)
            weight, bias, h_bound = self.generator.output_layer()
            total, nll = weighted_nll(hidden.flatten(0, 1), weight, bias, mine.flatten(), q.flatten(), h_bound)
            sums[:2] = [total.item(), nll.sum().item()]
            if adv.kl_coef > 0 or adv.entropy_coef > 0:
                penalty, per_row = self.anchor_terms(mine, hidden, mask, seqs.numel())
                total = total + penalty
                sums[2:] = [*per_row.sum(dim=0).tolist(), per_row.shape[0]]
        grad_norm, (loss, nll_sum, kl, entropy, anchored) = shared_step(
            self.generator, self.g_pg_opt, total, self.config.generator.grad_clip, sums)
        self.rollout.update_()  # delayed update of the rollout policy
        metrics = {"g_reward": column_sums.sum().item() / seqs.numel(), "g_pg_loss": loss, "g_grad_norm": grad_norm,
                   "g_sample_nll": nll_sum / seqs.numel()}
        if adv.kl_coef > 0:
            metrics["g_kl"] = kl / max(anchored, 1.0)
        if adv.entropy_coef > 0:
            metrics["g_entropy"] = entropy / max(anchored, 1.0)
        return metrics

    def anchor_penalty(self, seqs: torch.Tensor, hidden: torch.Tensor,
                       mask: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, float]]:
        """The KL anchor and entropy bonus of a policy-gradient step (`anchor_terms`), and their metrics (g_kl,
        g_entropy: means over the real positions, in nats)."""
        adv = self.config.adversarial
        penalty, per_row = self.anchor_terms(seqs, hidden, mask)
        metrics = {}
        if adv.kl_coef > 0:
            metrics["g_kl"] = per_row[:, 0].mean().item()  # mean per-token KL to the reference, in nats
        if adv.entropy_coef > 0:
            metrics["g_entropy"] = per_row[:, 1].mean().item()  # mean per-position entropy, in nats
        return penalty, metrics

    def anchor_terms(self, seqs: torch.Tensor, hidden: torch.Tensor, mask: torch.Tensor | None,
                     numel: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The KL anchor and entropy bonus of a policy-gradient step, and the per-position [KL, entropy] (R, 2)
        of its real positions.

        loss = sum over real positions (b, t) of w * (kl_coef * KL(G(.|y_<t) || G_ref(.|y_<t))
        - entropy_coef * H(G(.|y_<t))), with the policy-gradient term's token weight w (1, or 1/(B*T) with
        reduction=mean). The exact per-position KL over the vocabulary is chosen over the reward-shaping form
        Q_t - kl_coef * (log G(y_t) - log G_ref(y_t)) of Ziegler et al. (2019): for a fixed prefix its
        gradient is that form's expectation over y_t (grad KL = E_{y~G}[(log G(y) - log G_ref(y)) grad log G(y)]),
        without its sampling noise; summed over the positions of G's samples, its value is an unbiased
        estimate of the sequence-level KL(G || G_ref) (the chain rule of KL), and it is 0 only where G equals
        G_ref. What it leaves out is the score-function term of how a token changes the KL of later positions.

        Args:
            seqs: (B, T) the step's samples.
            hidden: (B, T, H) G's teacher-forced features of seqs (with gradient).
            mask: (B, T) bool, False on padding after EOS, or None (nothing padded).
            numel: B * T of the whole batch when seqs is one process's share of it (reduction=mean divides by it).
        """
        adv = self.config.adversarial
        rows = hidden.flatten(0, 1)  # (B*T, H)
        keep = None if mask is None else mask.flatten().nonzero().squeeze(1)
        if keep is not None:  # only real positions: padding after EOS gets no penalty, as it gets no reward
            rows = rows.index_select(0, keep)
        ref_h = ref_weight = ref_bias = None
        if adv.kl_coef > 0:
            with torch.no_grad():
                ref_h = self.kl_reference.features(seqs).flatten(0, 1)  # (B*T, H')
                ref_h = ref_h if keep is None else ref_h.index_select(0, keep)
                ref_weight, ref_bias, _ = self.kl_reference.output_layer()
        token_weight = 1.0 / (numel or seqs.numel()) if adv.reduction == "mean" else 1.0
        weights = torch.full((rows.shape[0],), token_weight, dtype=rows.dtype, device=rows.device)
        weight, bias, _ = self.generator.output_layer()
        return AnchorPenalty.apply(rows, weight, bias, ref_h, ref_weight, ref_bias, weights, adv.kl_coef,
                                   adv.entropy_coef)

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
        """Models, rollout copy and optimizers; the KL anchor's reference once it exists (kl_coef > 0 only)."""
        state = {"generator": self.generator.state_dict(), "discriminator": self.discriminator.state_dict(),
                 "rollout": self.rollout.net.state_dict(), "g_mle_opt": self.g_mle_opt.state_dict(),
                 "g_pg_opt": self.g_pg_opt.state_dict(), "d_opt": self.d_opt.state_dict(),
                 "ss_epochs": self.ss_epochs}
        if self.config.adversarial.kl_coef > 0 and self.kl_reference is not None:
            state["kl_reference"] = self.kl_reference.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        """Inverse of `state_dict`."""
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.rollout.net.load_state_dict(state["rollout"])
        self.g_mle_opt.load_state_dict(state["g_mle_opt"])
        self.g_pg_opt.load_state_dict(state["g_pg_opt"])
        self.d_opt.load_state_dict(state["d_opt"])
        self.ss_epochs = int(state.get("ss_epochs", 0))
        # no reference stored (kl_coef was 0, or no policy-gradient step yet): the next step takes one
        self.kl_reference = None
        if self.config.adversarial.kl_coef > 0 and "kl_reference" in state:
            self.kl_reference = frozen_copy(self.generator)  # the architecture; its weights come next
            self.kl_reference.load_state_dict(state["kl_reference"])
