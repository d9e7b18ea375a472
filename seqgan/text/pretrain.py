"""Maximum-likelihood epochs for G and classification epochs for D (Algorithm 1, lines 1-3 and 12-15).

Under torchrun (`seqgan.core.distributed`) every process draws the same shuffled order, takes its slice of each
batch (`shard`), and the gradients are summed over the processes before the step, with the losses weighted so that
the sum is the one-process batch loss: W processes with batch B take the same steps as one process with batch B.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from seqgan.core.distributed import is_distributed, is_main, reduce_gradients, scale_gradients, shard
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


def shared_step(model: nn.Module, optimizer: torch.optim.Optimizer, loss: torch.Tensor | None, clip: float,
                extras: list[float], divide_by: int | None = None) -> tuple[float, list[float]]:
    """`clipped_step` for this process's share of a batch: backward, gradients summed over the processes (with
    `extras`), then clip and step as one process would; returns the pre-clip norm and the summed extras.

    Args:
        model: the model stepped.
        optimizer: its optimizer.
        loss: this process's part of the batch loss (None: it has no rows of this batch).
        clip: global gradient-norm clip (0: none).
        extras: numbers to sum over the processes along with the gradients.
        divide_by: index of a summed extra to divide the gradients by (per-process sums into a batch mean).
    """
    optimizer.zero_grad(set_to_none=True)
    if loss is not None:
        loss.backward()
    summed = reduce_gradients(model.parameters(), extras)
    if divide_by is not None:
        scale_gradients(model.parameters(), 1.0 / max(summed[divide_by], 1.0))
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip) if clip > 0 else torch.tensor(0.0)
    optimizer.step()
    return float(norm), summed


def mle_shard_step(model: TextGenerator, optimizer: torch.optim.Optimizer, ids: torch.Tensor,
                   mask: torch.Tensor | None, clip: float, loss_fn: LossFn) -> float:
    """One MLE update from this process's rows of a batch; returns the batch's mean token NLL.

    `loss_fn` gives the mean over this process's tokens; times its token count that is its share of the batch's
    token sum, and the summed gradients divided by the batch's token count are the one-process mean's."""
    tokens, loss = 0.0, None
    if ids.shape[0]:
        tokens = float(ids.numel() if mask is None else mask.sum())
        loss = loss_fn(model, ids, mask) * tokens
    _, (total, count) = shared_step(model, optimizer, loss, clip, [0.0 if loss is None else loss.item(), tokens],
                                    divide_by=1)
    return total / max(count, 1.0)


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
        if is_distributed():  # this process's rows of the batch; the update is the whole batch's
            mine = idx[shard(idx.numel())]
            nll = mle_shard_step(model, optimizer, data[mine], None if mask is None else mask[mine], clip, loss_fn)
        else:
            batch_mask = None if mask is None else mask[idx]
            loss = loss_fn(model, data[idx], batch_mask)
            clipped_step(model, optimizer, loss, clip)
            nll = loss.item()
        total += nll * idx.numel()
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
        if is_distributed():
            loss_sum, right = discriminator_shard_step(model, optimizer, data, labels, idx, l2_reg)
            total, correct = total + loss_sum, correct + right
            continue
        logits = model(data[idx])  # (b, 2)
        loss = F.cross_entropy(logits, labels[idx]) + l2_reg * model.l2_penalty()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.item() * idx.numel()
        correct += (logits.argmax(dim=1) == labels[idx]).sum().item()
    return {"d_loss": total / data.shape[0], "d_accuracy": correct / data.shape[0]}


def discriminator_shard_step(model: nn.Module, optimizer: torch.optim.Optimizer, data: torch.Tensor,
                             labels: torch.Tensor, idx: torch.Tensor, l2_reg: float) -> tuple[float, int]:
    """One D update from this process's rows of the batch `idx`; returns (the batch's loss times its size, the
    batch's correct predictions), as the one-process loop adds them up.

    Each process's cross-entropy is its rows' sum over the batch size, and rank 0 alone adds the L2 penalty, so
    the summed gradients are those of the one-process batch loss (mean cross-entropy + l2_reg * penalty)."""
    mine = idx[shard(idx.numel())]
    loss, right = None, 0
    if mine.numel():
        logits = model(data[mine])  # (b, 2)
        loss = F.cross_entropy(logits, labels[mine], reduction="sum") / idx.numel()
        right = int((logits.argmax(dim=1) == labels[mine]).sum().item())
    if is_main():
        penalty = l2_reg * model.l2_penalty()
        loss = penalty if loss is None else loss + penalty
    _, (loss_sum, correct) = shared_step(model, optimizer, loss, 0.0,
                                         [0.0 if loss is None else loss.item(), float(right)])
    return loss_sum * idx.numel(), int(correct)
