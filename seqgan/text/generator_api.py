"""What SeqGAN needs of a generator G: one interface for the 2017 LSTM and the GPT-style transformer.

Training, rollouts, sampling, scoring and the run lifecycle use G only through `TextGenerator`, so a new kind
of generator is a new class and a line in `seqgan.text.run.build_generator`, not a change to the algorithm.

The split between `features` and `output_layer` is what lets every kind share the fused output layer
(`seqgan.text.fused`): MLE, policy gradient and scoring turn G's teacher-forced features into the
softmax-NLL in one pass, whatever network produced them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class TextGenerator(Protocol):
    """A left-to-right policy G over token ids (an `nn.Module`); every method takes and returns ids (B, T).

    Attributes:
        vocab_size: V.
        max_len: T, the length of generated sequences.
        start_token: id fed as the first input (it is never generated).
        eos_token: if set, generation pads everything after the first EOS with `pad_token`.
        pad_token: padding id.
    """

    vocab_size: int
    max_len: int
    start_token: int
    eos_token: int | None
    pad_token: int | None

    def features(self, ids: torch.Tensor) -> torch.Tensor:
        """Teacher-forced features (B, T, H) of ids (B, T): entry t gives the logits of ids[:, t] through
        `output_layer`, having seen the start token and ids[:, :t]. Differentiable."""
        ...

    def output_layer(self) -> tuple[torch.Tensor, torch.Tensor, float | None]:
        """(weight (V, H), bias (V,), bound on |features| or None): logits = features @ weight.T + bias.

        The bound lets the fused softmax skip its max-subtraction pass (1.0 for an LSTM's outputs)."""
        ...

    def shift_right(self, ids: torch.Tensor) -> torch.Tensor:
        """Teacher-forcing inputs: start token, then ids[:, :-1]."""
        ...

    def token_log_probs(self, ids: torch.Tensor) -> torch.Tensor:
        """log G(y_t | y_<t) for every position, (B, T), differentiable."""
        ...

    def score(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Per-sequence summed NLL in nats (N,), padding (mask False) not counted; no gradient."""
        ...

    def sample(self, n: int, gen: torch.Generator, temperature: float = 1.0) -> torch.Tensor:
        """n sequences (n, T) by exact inverse-CDF sampling, all (n, T) uniforms drawn from `gen` up front."""
        ...

    def sample_filtered(self, n: int, gen: torch.Generator, temperature: float = 1.0, top_k: int = 0,
                        top_p: float = 1.0, prefix: list[int] | None = None) -> torch.Tensor:
        """`sample` with top-k / nucleus filtering and an optional prompt every sample continues."""
        ...

    def complete_prefixes(self, seqs: torch.Tensor, n: int, uniforms: torch.Tensor) -> torch.Tensor:
        """All n Monte Carlo completions of every proper prefix of seqs (B, T), as one batch: (T-1, n, B, T).

        Row r = ((t-1) * n + i) * B + b of `uniforms` ((T-1) * n * B, T) completes seqs[b, :t]; its
        column s-1 draws token s. The prefix work comes from one teacher-forced pass over seqs."""
        ...

    def pad_after_eos(self, ids: torch.Tensor) -> torch.Tensor:
        """Replace every token after the first EOS with padding (no-op without an EOS token)."""
        ...

    def temper_(self, temperature: float) -> None:
        """Make the softmax softmax(logits / temperature), in place (on a copy: `scoring.tempered`)."""
        ...

    def architecture(self) -> dict:
        """The shape-defining hyper-parameters, compared when a checkpoint is loaded."""
        ...

    # the nn.Module parts the training code uses
    def parameters(self, recurse: bool = True) -> Iterator[torch.nn.Parameter]: ...

    def train(self, mode: bool = True) -> TextGenerator: ...

    def eval(self) -> TextGenerator: ...

    def state_dict(self, *args: object, **kwargs: object) -> dict: ...

    def load_state_dict(self, state_dict: dict, strict: bool = True, assign: bool = False) -> object: ...


def pad_after_eos(ids: torch.Tensor, eos_token: int | None, pad_token: int | None) -> torch.Tensor:
    """Every token after the first `eos_token` of each row replaced by `pad_token` (ids unchanged without EOS)."""
    if eos_token is None:
        return ids
    after_eos = (ids == eos_token).long().cumsum(dim=1) - (ids == eos_token).long()  # (B, T)
    return ids.masked_fill(after_eos > 0, pad_token)
