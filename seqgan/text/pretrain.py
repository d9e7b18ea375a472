"""Maximum-likelihood epochs for G and classification epochs for D (Algorithm 1, lines 1-3 and 12-15)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from seqgan.core.interrupt import pause_point, resumed_step_state
from seqgan.text.fused import weighted_nll
from seqgan.text.generator_api import TextGenerator

LossFn = Callable[[TextGenerator, torch.Tensor, "torch.Tensor | None"], torch.Tensor]


def mean_token_nll(model: TextGenerator, hidden: torch.Tensor, ids: torch.Tensor,
                   mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean NLL of the target ids (B, T) given G's features (B, T, H), over unmasked positions."""
    hidden, targets = hidden.flatten(0, 1), ids.flatten()
    if mask is not None:  # the output layer only on real positions: on text most positions are padding
        keep = mask.flatten().nonzero().squeeze(1)
        hidden, targets = hidden.index_select(0, keep), targets.index_select(0, keep)
    weights = torch.ones(targets.numel(), device=ids.device)
    weights = weights / weights.sum().clamp(min=1.0)
    weight, bias, h_bound = model.output_layer()
    loss, _ = weighted_nll(hidden, weight, bias, targets, weights, h_bound)
    return loss


def mle_loss(model: TextGenerator, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean token NLL of a batch (B, T), ignoring positions where mask is False (padding gets no gradient)."""
    return mean_token_nll(model, model.features(ids), ids, mask)  # features (B, T, H)


def clipped_step(model: nn.Module, optimizer: torch.optim.Optimizer, loss: torch.Tensor, clip: float) -> float:
    """Backward, clip the global gradient norm, step; returns the pre-clip norm."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip) if clip > 0 else torch.tensor(0.0)
    optimizer.step()
    return float(norm)


def mle_epoch(model: TextGenerator, optimizer: torch.optim.Optimizer, data: torch.Tensor, batch_size: int,
              clip: float, gen: torch.Generator, mask: torch.Tensor | None = None,
              loss_fn: LossFn = mle_loss) -> dict[str, float]:
    """One shuffled pass of teacher-forced MLE over `data` (N, T); returns the mean training NLL per token.

    Args:
        model: G.
        optimizer: G's optimizer.
        data: (N, T) token ids.
        batch_size: sequences per update.
        clip: global gradient-norm clip (paper: 5.0).
        gen: shuffling randomness.
        mask: optional (N, T) bool, False on padding.
        loss_fn: loss_fn(model, ids, mask) -> mean token NLL; teacher forcing by default (scheduled
            sampling passes its own).
    """
    model.train()
    resumed = resumed_step_state()  # Ctrl-C paused this epoch in a previous run: its order, from its next batch
    if resumed is None:
        order = torch.randperm(data.shape[0], generator=gen, device=gen.device).to(data.device)
        first, total, count = 0, 0.0, 0
    else:
        order = resumed["order"].to(data.device)
        first, total, count = resumed["next"], resumed["total"], resumed["count"]
    for lo in range(first, data.shape[0], batch_size):
        idx = order[lo:lo + batch_size]
        batch_mask = None if mask is None else mask[idx]
        loss = loss_fn(model, data[idx], batch_mask)
        clipped_step(model, optimizer, loss, clip)
        total += loss.item() * idx.numel()
        count += idx.numel()
        if lo + batch_size < data.shape[0]:  # an epoch is minutes on a real corpus: Ctrl-C may stop it here
            pause_point({"order": order, "next": lo + batch_size, "total": total, "count": count},
                        (lo + batch_size) / data.shape[0])
    return {"g_mle_nll": total / max(count, 1)}


def discriminator_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, positives: torch.Tensor,
                        negatives: torch.Tensor, batch_size: int, l2_reg: float,
                        gen: torch.Generator) -> dict[str, float]:
    """One shuffled pass of D over positives (label 1) and negatives (label 0) (Eq. 35, plus L2 as the paper).

    Args:
        model: D.
        optimizer: D's optimizer.
        positives: (P, T) real sequences.
        negatives: (Q, T) generated sequences.
        batch_size: sequences per update.
        l2_reg: weight of the output layer's L2 penalty (paper: 0.2).
        gen: shuffling randomness.
    """
    model.train()
    data = torch.cat([positives, negatives])
    labels = torch.cat([torch.ones(len(positives), dtype=torch.long, device=data.device),
                        torch.zeros(len(negatives), dtype=torch.long, device=data.device)])
    order = torch.randperm(data.shape[0], generator=gen, device=gen.device).to(data.device)
    total, correct = 0.0, 0
    for lo in range(0, data.shape[0], batch_size):
        idx = order[lo:lo + batch_size]
        logits = model(data[idx])  # (b, 2)
        loss = F.cross_entropy(logits, labels[idx]) + l2_reg * model.l2_penalty()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.item() * idx.numel()
        correct += (logits.argmax(dim=1) == labels[idx]).sum().item()
    return {"d_loss": total / data.shape[0], "d_accuracy": correct / data.shape[0]}
