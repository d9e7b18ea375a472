"""A causal transformer language model from `transformers` as SeqGAN's generator G.

`CausalLMGenerator` wraps any `transformers` causal LM (`PreTrainedModel` with an output embedding): a
pretrained one loaded from a local folder (`seqgan.text.pretrained`, `--generator-from`), or a GPT-2 built from
scratch on the run's own vocabulary (`GPTGenerator`, generator.kind=gpt2). It implements
`seqgan.text.generator_api.TextGenerator`, so MLE pretraining, the policy gradient, rollouts, sampling and scoring
run on it unchanged. It uses only what every such model has: the backbone (`model.base_model`, whose last hidden
state already went through the final norm) and the LM head (`model.get_output_embeddings()`: a (V, H) weight,
and a bias if the head has one; else a zero bias buffer).

Sampling does not use `generate()`: each step's final hidden state goes through the project's exact
inverse-CDF sampler (`seqgan.text.sampling`) with all uniforms drawn up front from the run's generator, so
samples are seeded and deterministic exactly as the LSTM's are; the KV cache makes a step cost one token.
With unbounded features (after the final norm) the fused softmax keeps its max pass.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch
from torch import nn
from transformers import DynamicCache, GPT2Config, GPT2LMHeadModel

from seqgan.text.fused import linear_softmax_nll
from seqgan.text.generator_api import pad_after_eos
from seqgan.text.sampling import SoftmaxSampler, filtered_sample

if TYPE_CHECKING:
    from transformers import PreTrainedModel

SCORE_ROWS = 2048  # token rows per forward when scoring without gradients


class CausalLMGenerator(nn.Module):
    """A `transformers` causal language model over token ids, as G.

    Args:
        model: the causal LM (fp32); its output embedding's rows are G's vocabulary.
        max_len: T, the length of generated sequences; the model sees T positions (start token included).
        start_token: id fed as the first input.
        eos_token: if set, generation pads everything after the first EOS with `pad_token`.
        pad_token: padding id.
    """

    def __init__(self, model: PreTrainedModel, max_len: int, start_token: int = 0, eos_token: int | None = None,
                 pad_token: int | None = None) -> None:
        super().__init__()
        self.model = model
        head = model.get_output_embeddings()
        if head is None or getattr(head, "weight", None) is None or head.weight.dim() != 2:
            raise ValueError(f"{type(model).__name__} has no linear LM head (get_output_embeddings)")
        self.vocab_size, self.max_len = int(head.weight.shape[0]), max_len
        self.start_token, self.eos_token, self.pad_token = start_token, eos_token, pad_token
        # softmax(logits * logit_scale): `temper_` divides it; a plain float, so checkpoints hold the weights only
        self.logit_scale = 1.0
        if getattr(head, "bias", None) is None:  # most LM heads have no bias: the fused layer and sampler get 0
            self.register_buffer("zero_bias", torch.zeros(self.vocab_size), persistent=False)

    # ---- the network ---------------------------------------------------------------------------------
    @property
    def head(self) -> nn.Module:
        """The LM head (the output embedding)."""
        return self.model.get_output_embeddings()

    def _device(self) -> torch.device:
        return self.head.weight.device

    def _precision(self) -> contextlib.AbstractContextManager:
        """bf16 autocast on CUDA only (the CPU runs stay fp32 and bit-reproducible)."""
        if self._device().type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def _drawing(self) -> Iterator[None]:
        """Eval mode while sampling, rolling out or scoring: dropout belongs to the training forward passes only
        (the policy-gradient step leaves G in train mode)."""
        was_training = self.training
        self.train(False)
        try:
            yield
        finally:
            self.train(was_training)

    def shift_right(self, ids: torch.Tensor) -> torch.Tensor:
        """Teacher-forcing inputs: start token, then ids[:, :-1]. (B, T) -> (B, T)."""
        start = torch.full_like(ids[:, :1], self.start_token)
        return torch.cat([start, ids[:, :-1]], dim=1)

    def hidden(self, inputs: torch.Tensor, cache: DynamicCache | None = None) -> torch.Tensor:
        """Final hidden states (B, L, H) (after the last norm; times the logit scale once tempered) for input
        ids (B, L).

        With `cache`, the inputs continue the cached positions and the cache grows by L (in place)."""
        with self._precision():
            out = self.model.base_model(input_ids=inputs, cache=cache, use_cache=cache is not None)
        hidden = out.last_hidden_state.float()
        return hidden if self.logit_scale == 1.0 else hidden * self.logit_scale

    def prefill(self, inputs: torch.Tensor) -> tuple[torch.Tensor, DynamicCache]:
        """Hidden states (B, L, H) of input ids (B, L) and their KV cache, from one forward pass."""
        cache = DynamicCache()
        return self.hidden(inputs, cache), cache

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Logits of features: hidden @ W.T (+ the head's bias, when it has one)."""
        weight, bias, _ = self.output_layer()
        logits = hidden @ weight.t()
        return logits if getattr(self, "zero_bias", None) is not None else logits + bias

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, V) for input ids (B, T) (as `LSTMGenerator.forward`: inputs, not targets)."""
        return self.logits(self.hidden(inputs))

    # ---- TextGenerator: likelihoods ---------------------------------------------------------------------
    def features(self, ids: torch.Tensor) -> torch.Tensor:
        """Teacher-forced hidden states (B, T, H) for ids (B, T): entry t produces the logits of ids[:, t]."""
        return self.hidden(self.shift_right(ids))

    def output_layer(self) -> tuple[torch.Tensor, torch.Tensor, float | None]:
        """(LM head weight (V, H), its bias or a zero one, None): features after a norm have no useful bound.

        Once tempered, the features carry the logit scale, so a real bias is scaled here to match."""
        head = self.head
        bias = getattr(self, "zero_bias", None)
        if bias is None:
            bias = head.bias if self.logit_scale == 1.0 else head.bias * self.logit_scale
        return head.weight, bias, None

    def temper_(self, temperature: float) -> None:
        """softmax(logits / temperature) from now on: the logit scale divided by it.

        The features are multiplied by the scale (and a head bias with them), which scales exactly the logits
        whatever the model family; the weights, which a tied head shares with the input embedding, stay."""
        self.logit_scale /= temperature

    def token_log_probs(self, ids: torch.Tensor) -> torch.Tensor:
        """log G(y_t | y_<t) for every position, (B, T), differentiable."""
        weight, bias, h_bound = self.output_layer()
        nll = linear_softmax_nll(self.features(ids).flatten(0, 1), weight, bias, ids.flatten(), h_bound)
        return -nll.view_as(ids)

    @torch.no_grad()
    def score(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Per-sequence summed NLL in nats, (N,), in row chunks; positions where mask is False do not count."""
        weight, bias, h_bound = self.output_layer()
        rows = max(1, SCORE_ROWS // ids.shape[1])
        out = []
        for lo in range(0, ids.shape[0], rows):
            chunk = ids[lo:lo + rows]
            with self._drawing():
                hidden = self.features(chunk)  # (b, T, H)
            keep = torch.ones_like(chunk, dtype=torch.bool) if mask is None else mask[lo:lo + rows]
            nll = torch.zeros(chunk.shape, dtype=hidden.dtype, device=chunk.device)
            nll[keep] = linear_softmax_nll(hidden[keep], weight, bias, chunk[keep], h_bound)
            out.append(nll.sum(dim=1))
        return torch.cat(out)

    # ---- TextGenerator: sampling ------------------------------------------------------------------------
    def sampler(self, temperature: float = 1.0) -> SoftmaxSampler:
        """The exact inverse-CDF sampler over this G's logits."""
        weight, bias, h_bound = self.output_layer()
        return SoftmaxSampler(weight, bias, temperature, h_bound=h_bound)

    def _sampling_start(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
        """All (n, T) uniforms drawn up front, the (n, T) output and the start tokens (n,)."""
        device = self._device()
        uniforms = torch.rand(n, self.max_len, generator=gen, device=device)
        out = torch.empty(n, self.max_len, dtype=torch.long, device=device)
        tokens = torch.full((n,), self.start_token, dtype=torch.long, device=device)
        return uniforms, out, tokens

    @torch.no_grad()
    def sample(self, n: int, gen: torch.Generator, temperature: float = 1.0) -> torch.Tensor:
        """n sequences (n, T) by exact inverse-CDF sampling, one KV-cached token per step."""
        uniforms, out, tokens = self._sampling_start(n, gen)
        sampler, cache = self.sampler(temperature), DynamicCache()
        with self._drawing():
            for t in range(self.max_len):
                h = self.hidden(tokens.unsqueeze(1), cache)[:, -1]  # (n, H)
                tokens = sampler.sample(h, uniforms[:, t])
                out[:, t] = tokens
        return self.pad_after_eos(out)

    @torch.no_grad()
    def sample_filtered(self, n: int, gen: torch.Generator, temperature: float = 1.0, top_k: int = 0,
                        top_p: float = 1.0, prefix: list[int] | None = None) -> torch.Tensor:
        """Like `sample`, with top-k / nucleus filtering and an optional prompt that every sample continues."""
        device = self._device()
        prefix = list(prefix or [])
        if len(prefix) >= self.max_len:
            raise ValueError(f"the prefix has {len(prefix)} tokens; at most {self.max_len - 1} fit")
        uniforms, out, tokens = self._sampling_start(n, gen)
        cache = DynamicCache()
        with self._drawing():
            for t in range(self.max_len):
                h = self.hidden(tokens.unsqueeze(1), cache)[:, -1]  # (n, H)
                if t < len(prefix):
                    tokens = torch.full((n,), prefix[t], dtype=torch.long, device=device)
                else:
                    tokens = filtered_sample(self.logits(h) / temperature, uniforms[:, t], top_k, top_p)
                out[:, t] = tokens
        return self.pad_after_eos(out)

    @torch.no_grad()
    def complete_prefixes(self, seqs: torch.Tensor, n: int, uniforms: torch.Tensor) -> torch.Tensor:
        """All n completions of every proper prefix of seqs (B, T), (T-1, n, B, T), from one cached prefix pass
        (`seqgan.text.lm_rollout`)."""
        from seqgan.text.lm_rollout import cached_completions

        with self._drawing():
            return cached_completions(self, seqs, n, uniforms)

    def pad_after_eos(self, ids: torch.Tensor) -> torch.Tensor:
        """Replace every token after the first EOS with padding (no-op without an EOS token)."""
        return pad_after_eos(ids, self.eos_token, self.pad_token)

    def architecture(self) -> dict:
        """The shape-defining hyper-parameters, compared on resume and load: the model's class and sizes."""
        config = self.model.config
        return {"kind": "pretrained", "model": type(self.model).__name__, "vocab_size": self.vocab_size,
                "layers": getattr(config, "num_hidden_layers", None), "width": getattr(config, "hidden_size", None),
                "parameters": sum(p.numel() for p in self.parameters()), "max_len": self.max_len}


class GPTGenerator(CausalLMGenerator):
    """GPT-2 architecture over token ids, from scratch (generator.kind=gpt2).

    The LM head is tied to the token embedding (GPT-2's choice) and has no bias.

    Args:
        vocab_size: V (the run's tokenizer).
        max_len: T, the length of generated sequences; the model has T + 1 positions (start token included).
        layers: transformer blocks.
        heads: attention heads.
        width: model width.
        dropout: embedding, attention and residual dropout (0 keeps training deterministic per seed).
        start_token: id fed as the first input.
        eos_token: if set, generation pads everything after the first EOS with `pad_token`.
        pad_token: padding id.
        seed: seed of the weight initialisation (drawn without touching the global RNG state); None draws
            from the global RNG as `transformers` does.
    """

    def __init__(self, vocab_size: int, max_len: int, layers: int, heads: int, width: int, dropout: float = 0.0,
                 start_token: int = 0, eos_token: int | None = None, pad_token: int | None = None,
                 seed: int | None = None) -> None:
        # no pad_token_id in the config: padding after <eos> only ever follows real positions under causal
        # attention, and naming it would make transformers warn about a missing attention mask
        config = GPT2Config(vocab_size=vocab_size, n_positions=max_len + 1, n_embd=width, n_layer=layers,
                            n_head=heads, resid_pdrop=dropout, embd_pdrop=dropout, attn_pdrop=dropout,
                            bos_token_id=start_token, eos_token_id=eos_token)
        with torch.random.fork_rng(devices=[]):  # the run's seed decides the weights; the global stream is kept
            if seed is not None:
                torch.manual_seed(seed)
            model = GPT2LMHeadModel(config)
        super().__init__(model, max_len, start_token, eos_token, pad_token)
        self.layers, self.heads, self.width = layers, heads, width

    def architecture(self) -> dict:
        """The shape-defining hyper-parameters, compared on resume and load."""
        return {"kind": "gpt2", "vocab_size": self.vocab_size, "layers": self.layers, "heads": self.heads,
                "width": self.width, "max_len": self.max_len}
