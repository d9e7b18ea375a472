"""Scheduled sampling (Bengio et al., 2015), the SeqGAN paper's second baseline.

Training is MLE, except that each input token is, with probability 1 - omega, G's own sample from the
previous step instead of the true previous token. The coin is drawn per token (the original SeqGAN code drew
it once per graph), and omega falls by `decay` per epoch, so training moves gradually from fully guided
(teacher forcing) to less guided. Because a sampled input changes every later state, the unroll is one step
at a time: the LSTM's cell by hand, a transformer G one KV-cached token at a time (its keys and values keep
their gradients, so the loss reaches every position); the output layer and its loss still run once over the
whole batch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from seqgan.text.generator import LSTMGenerator
from seqgan.text.generator_api import TextGenerator
from seqgan.text.pretrain import mean_token_nll
from seqgan.text.sampling import SoftmaxSampler


def omega_for_epoch(epoch: int, start: float = 1.0, decay: float = 0.002) -> float:
    """Probability of feeding the true token in the `epoch`-th (1-based) scheduled-sampling epoch."""
    return max(0.0, start - decay * epoch)


def scheduled_sampling_inputs(model: TextGenerator, ids: torch.Tensor, omega: float,
                              gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Hidden states (B, T, H) of G run on mixed inputs, and the inputs (B, T) it was fed.

    Input 0 is the start token. Input t >= 1 is ids[:, t-1] where a uniform draw is below omega, else the
    token G sampled (from its own distribution at step t-1, no gradient through the draw).

    Args:
        model: G (the LSTM, or a transformer G: `CausalLMGenerator`).
        ids: (B, T) true sequences.
        omega: probability of the true previous token.
        gen: source of the coins and sampling uniforms, both drawn up front as (2, B, T).
    """
    B, T = ids.shape
    draws = torch.rand(2, B, T, generator=gen, device=ids.device)  # coins, sampling uniforms
    keep_true = draws[0] < omega  # (B, T)
    if isinstance(model, LSTMGenerator):
        sampler = SoftmaxSampler(model.out.weight, model.out.bias, h_bound=1.0)
        step = _lstm_steps(model, B, ids.device)
    else:
        sampler = model.sampler()
        step = _cached_steps(model)
    token = torch.full((B,), model.start_token, dtype=torch.long, device=ids.device)
    inputs, states = [], []
    for t in range(T):
        inputs.append(token)
        h = step(token)  # (B, H)
        states.append(h)
        if t + 1 < T:
            token = ids[:, t].clone()
            # only rows whose coin says "own token" need a draw (few while omega is near 1); each row has
            # its own uniform, so the draw does not depend on which other rows sample
            own = (~keep_true[:, t + 1]).nonzero().squeeze(1)
            if own.numel():
                token[own] = sampler.sample(h.detach()[own], draws[1, own, t])
    return torch.stack(states, dim=1), torch.stack(inputs, dim=1)  # (B, T, H), (B, T)


def _lstm_steps(model: LSTMGenerator, batch: int, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    """The LSTM's cell, one input token (B,) at a time -> hidden state (B, H)."""
    lstm = model.lstm
    h = torch.zeros(batch, model.hidden_dim, device=device, dtype=model.embedding.weight.dtype)
    state = [h, torch.zeros_like(h)]

    def step(token: torch.Tensor) -> torch.Tensor:
        state[:] = torch.lstm_cell(model.embedding(token), (state[0], state[1]), lstm.weight_ih_l0,
                                   lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0)
        return state[0]

    return step


def _cached_steps(model: TextGenerator) -> Callable[[torch.Tensor], torch.Tensor]:
    """A transformer G, one input token (B,) at a time -> final hidden state (B, H), its KV cache growing (with
    gradients) as it goes; dropout as in its teacher-forced training passes."""
    from transformers import DynamicCache

    cache = DynamicCache()
    return lambda token: model.hidden(token.unsqueeze(1), cache)[:, -1]


def scheduled_sampling_loss(model: TextGenerator, ids: torch.Tensor, omega: float, gen: torch.Generator,
                            mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean NLL per token of the true ids (B, T) when G is fed mixed inputs; padding (mask False) ignored."""
    hidden, _ = scheduled_sampling_inputs(model, ids, omega, gen)
    return mean_token_nll(model, hidden, ids, mask)
