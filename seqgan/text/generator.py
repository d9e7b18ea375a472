"""The LSTM policy generator G_theta of SeqGAN (and the oracle, which is the same network with fixed weights).

It implements `seqgan.text.generator_api.TextGenerator`, the interface the rest of the code uses.
"""

from __future__ import annotations

import torch
from torch import nn

from seqgan.text.fused import linear_softmax_nll
from seqgan.text.generator_api import pad_after_eos
from seqgan.text.sampling import SoftmaxSampler, filtered_sample

SCORE_ROWS = 2048  # token rows per log-softmax buffer when scoring without gradients


class LSTMStepper:
    """Runs G one token at a time from explicit (h, c) states; the fast path for sampling and rollouts.

    The input projection of every vocabulary entry is precomputed once (V, 4H), so a step is a row gather,
    one (R, H) x (H, 4H) product and the gate nonlinearities.
    """

    def __init__(self, model: LSTMGenerator, temperature: float = 1.0) -> None:
        lstm = model.lstm
        with torch.no_grad():
            emb = model.embedding.weight  # (V, E)
            self.input_table = torch.addmm(lstm.bias_ih_l0 + lstm.bias_hh_l0, emb, lstm.weight_ih_l0.t())  # (V, 4H)
            self.w_hh_t = lstm.weight_hh_l0.t().contiguous()  # (H, 4H)
        self.sampler = SoftmaxSampler(model.out.weight, model.out.bias, temperature, h_bound=1.0)
        self.H = model.hidden_dim

    def step(self, tokens: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Consume tokens (R,) from states h, c (R, H); return the new (h, c)."""
        gates = torch.addmm(self.input_table[tokens], h, self.w_hh_t)  # (R, 4H) in PyTorch's i, f, g, o order
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


class LSTMGenerator(nn.Module):
    """Single-layer LSTM language model over token ids.

    Args:
        vocab_size: V.
        emb_dim: E.
        hidden_dim: H.
        max_len: T, the length of generated sequences.
        start_token: id fed as the first input (SeqGAN's oracle uses 0, an ordinary token).
        eos_token: if set, generation pads everything after the first EOS with `pad_token`.
        pad_token: padding id (required with eos_token).
    """

    def __init__(self, vocab_size: int, emb_dim: int, hidden_dim: int, max_len: int, start_token: int = 0,
                 eos_token: int | None = None, pad_token: int | None = None) -> None:
        super().__init__()
        self.vocab_size, self.emb_dim, self.hidden_dim, self.max_len = vocab_size, emb_dim, hidden_dim, max_len
        self.start_token, self.eos_token, self.pad_token = start_token, eos_token, pad_token
        self.embedding = nn.Embedding(vocab_size, emb_dim)
        self.lstm = nn.LSTM(emb_dim, hidden_dim, batch_first=True)
        self.out = nn.Linear(hidden_dim, vocab_size)

    def init_normal_(self, std: float, gen: torch.Generator | None = None) -> LSTMGenerator:
        """Draw every weight from N(0, std^2) and zero the biases (SeqGAN's generator uses std 0.1)."""
        with torch.no_grad():
            for name, p in self.named_parameters():
                if "bias" in name:
                    p.zero_()
                else:
                    p.normal_(0.0, std, generator=gen)
        return self

    def shift_right(self, ids: torch.Tensor) -> torch.Tensor:
        """Teacher-forcing inputs: start token, then ids[:, :-1]. (B, T) -> (B, T)."""
        start = torch.full_like(ids[:, :1], self.start_token)
        return torch.cat([start, ids[:, :-1]], dim=1)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, V) for input ids (B, T)."""
        hidden, _ = self.lstm(self.embedding(inputs))  # (B, T, H)
        return self.out(hidden)  # (B, T, V)

    def features(self, ids: torch.Tensor) -> torch.Tensor:
        """Teacher-forced LSTM outputs (B, T, H) for ids (B, T): entry t produces the logits of ids[:, t]."""
        hidden, _ = self.lstm(self.embedding(self.shift_right(ids)))  # (B, T, H)
        return hidden

    def output_layer(self) -> tuple[torch.Tensor, torch.Tensor, float | None]:
        """(weight, bias, 1.0): an LSTM's outputs are bounded by 1, so the fused softmax needs no max pass."""
        return self.out.weight, self.out.bias, 1.0

    def temper_(self, temperature: float) -> None:
        """softmax(logits / temperature) from now on: the output layer divided by it (exact)."""
        with torch.no_grad():
            self.out.weight.div_(temperature)
            self.out.bias.div_(temperature)

    def token_log_probs(self, ids: torch.Tensor) -> torch.Tensor:
        """log G(y_t | y_<t) for every position, (B, T), differentiable."""
        hidden, _ = self.lstm(self.embedding(self.shift_right(ids)))  # (B, T, H)
        nll = linear_softmax_nll(hidden.flatten(0, 1), self.out.weight, self.out.bias, ids.flatten())  # (B*T,)
        return -nll.view_as(ids)

    @torch.no_grad()
    def score(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Per-sequence summed NLL in nats, (N,), computed in row chunks so buffers stay small.

        Args:
            ids: (N, T) token ids.
            mask: optional (N, T) bool, False where a position is padding and must not count.
        """
        rows = max(1, SCORE_ROWS // ids.shape[1])
        out = []
        for lo in range(0, ids.shape[0], rows):
            chunk = ids[lo:lo + rows]
            if mask is None:
                nll = -self.token_log_probs(chunk)  # (b, T)
            else:  # the output layer only on real positions (on text most positions are padding)
                keep = mask[lo:lo + rows]
                hidden, _ = self.lstm(self.embedding(self.shift_right(chunk)))  # (b, T, H)
                nll = torch.zeros(chunk.shape, dtype=hidden.dtype, device=chunk.device)
                nll[keep] = linear_softmax_nll(hidden[keep], self.out.weight, self.out.bias, chunk[keep])
            out.append(nll.sum(dim=1))
        return torch.cat(out)

    @torch.no_grad()
    def prefix_states(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """States (h, c), each (B, T, H): entry t is the state that produces the logits of token t+1.

        Entry 0 has consumed only the start token; entry t has consumed the start token and ids[:, :t].
        """
        h = torch.zeros(ids.shape[0], self.hidden_dim, device=ids.device, dtype=self.embedding.weight.dtype)
        c = torch.zeros_like(h)
        stepper = LSTMStepper(self)
        inputs = self.shift_right(ids)  # (B, T)
        hs, cs = [], []
        for t in range(ids.shape[1]):
            h, c = stepper.step(inputs[:, t], h, c)
            hs.append(h)
            cs.append(c)
        return torch.stack(hs, dim=1), torch.stack(cs, dim=1)  # (B, T, H) each

    def _sampling_start(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
        """What every sampling loop starts from: all (n, T) uniforms drawn up front, the (n, T) output,
        the start tokens (n,) and zero LSTM states h, c (n, H)."""
        device = self.embedding.weight.device
        uniforms = torch.rand(n, self.max_len, generator=gen, device=device)
        out = torch.empty(n, self.max_len, dtype=torch.long, device=device)
        tokens = torch.full((n,), self.start_token, dtype=torch.long, device=device)
        h = torch.zeros(n, self.hidden_dim, device=device, dtype=self.embedding.weight.dtype)
        return uniforms, out, tokens, h, torch.zeros_like(h)

    @torch.no_grad()
    def sample(self, n: int, gen: torch.Generator, temperature: float = 1.0) -> torch.Tensor:
        """Draw n sequences (n, T) by exact inverse-CDF sampling; uniforms come from `gen`.

        All uniforms are drawn up front as one (n, T) tensor, so the result does not depend on how the
        work is chunked.
        """
        uniforms, out, tokens, h, c = self._sampling_start(n, gen)
        stepper = LSTMStepper(self, temperature)
        for t in range(self.max_len):
            h, c = stepper.step(tokens, h, c)
            tokens = stepper.sampler.sample(h, uniforms[:, t])
            out[:, t] = tokens
        return self.pad_after_eos(out)

    @torch.no_grad()
    def sample_filtered(self, n: int, gen: torch.Generator, temperature: float = 1.0, top_k: int = 0,
                        top_p: float = 1.0, prefix: list[int] | None = None) -> torch.Tensor:
        """Like `sample`, with top-k / nucleus filtering and an optional prompt that every sample continues.

        Args:
            n: number of sequences.
            gen: source of the uniforms (drawn up front, (n, T)).
            temperature: softmax temperature.
            top_k: keep the k most likely tokens at each step (0 = all).
            top_p: nucleus mass to keep (1 = all).
            prefix: token ids every sample starts with (its first len(prefix) positions).
        """
        device = self.embedding.weight.device
        prefix = list(prefix or [])
        if len(prefix) >= self.max_len:
            raise ValueError(f"the prefix has {len(prefix)} tokens; at most {self.max_len - 1} fit")
        uniforms, out, tokens, h, c = self._sampling_start(n, gen)
        stepper = LSTMStepper(self)
        for t in range(self.max_len):
            h, c = stepper.step(tokens, h, c)
            if t < len(prefix):
                tokens = torch.full((n,), prefix[t], dtype=torch.long, device=device)
            else:
                logits = self.out(h) / temperature  # (n, V)
                tokens = filtered_sample(logits, uniforms[:, t], top_k, top_p)
            out[:, t] = tokens
        return self.pad_after_eos(out)

    @torch.no_grad()
    def complete_prefixes(self, seqs: torch.Tensor, n: int, uniforms: torch.Tensor) -> torch.Tensor:
        """All n completions of every proper prefix of seqs (B, T), (T-1, n, B, T) (`seqgan.text.rollout`).

        Rows are ordered by prefix length, so at generation step s the rows still generating are exactly the
        first n*B*(s-1): each step is one slice, and the prefix states come from one pass over seqs.
        Row r = ((t-1) * n + i) * B + b of uniforms ((T-1) * n * B, T) completes seqs[b, :t].
        """
        B, T = seqs.shape
        NB = n * B
        R = (T - 1) * NB
        stepper = LSTMStepper(self)
        prefix_h, prefix_c = self.prefix_states(seqs)  # (B, T, H): entry t produces token t+1
        out = seqs.repeat(R // B, 1)  # (R, T) every row starts as a copy of its sequence
        h = torch.empty(R, self.hidden_dim, device=seqs.device, dtype=prefix_h.dtype)
        c = torch.empty_like(h)
        tokens = torch.empty(R, dtype=torch.long, device=seqs.device)
        for s in range(2, T + 1):  # generate token s (1-based) for rows whose prefix length t < s
            active, joining = NB * (s - 1), NB * (s - 2)
            if joining:  # rows already rolling: feed the token they drew at step s-1
                h[:joining], c[:joining] = stepper.step(tokens[:joining], h[:joining], c[:joining])
            # rows with prefix length s-1 join now, from the cached state that produces token s
            h[joining:active] = prefix_h[:, s - 1].repeat(n, 1)
            c[joining:active] = prefix_c[:, s - 1].repeat(n, 1)
            tokens[:active] = stepper.sampler.sample(h[:active], uniforms[:active, s - 1])
            out[:active, s - 1] = tokens[:active]
        return self.pad_after_eos(out).view(T - 1, n, B, T)

    def pad_after_eos(self, ids: torch.Tensor) -> torch.Tensor:
        """Replace every token after the first EOS with padding (no-op without an EOS token)."""
        return pad_after_eos(ids, self.eos_token, self.pad_token)

    def architecture(self) -> dict:
        """The shape-defining hyper-parameters, compared on resume."""
        return {"vocab_size": self.vocab_size, "emb_dim": self.emb_dim, "hidden_dim": self.hidden_dim,
                "max_len": self.max_len}
