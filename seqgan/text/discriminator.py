"""Discriminators D_phi: the paper's CNN (filter bank, max-over-time pooling, highway, dropout) and an RNN."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

SCORE_ROWS = 2048  # sequences per forward when scoring without gradients


class _Windows(torch.autograd.Function):
    """Responses of every width-k window: x (B, T, E) fp32 -> (B*P, n), P = T-k+1, as one GEMM.

    Windows are laid out (k, E) so that each one is k consecutive embedding rows: building them is a
    plain strided copy, and the backward's fold is k slice-adds of contiguous rows (torch's generic
    unfold backward was the slowest op of a D step here). In bf16 the windows and the weight are cast
    for the products; x's gradient is accumulated in fp32.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        n, E, k = weight.shape
        B, T, _ = x.shape
        P = T - k + 1
        x = x.to(dtype)
        if x.stride(2) != 1:
            x = x.contiguous()
        step_b, step_t = x.stride(0), x.stride(1)  # x may be a slice along time: use its own strides
        windows = x.as_strided((B, P, k, E), (step_b, step_t, step_t, 1), x.storage_offset()).reshape(B * P, k * E)
        w = weight.permute(0, 2, 1).reshape(n, k * E).to(dtype)
        ctx.save_for_backward(windows, w)
        ctx.shape = (B, T, E, k, P)
        return torch.addmm(bias.to(dtype), windows, w.t())

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        windows, w = ctx.saved_tensors
        B, T, E, k, P = ctx.shape
        grad_out = grad_out.to(w.dtype)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            per_window = (grad_out @ w).view(B, P, k, E)
            grad_x = torch.zeros(B, T, E, dtype=torch.float32, device=grad_out.device)
            for i in range(k):  # window row i of position p is input row p + i
                grad_x[:, i:i + P] += per_window[:, :, i]
        if ctx.needs_input_grad[1]:
            grad_w = (grad_out.t() @ windows).view(-1, k, E).permute(0, 2, 1).float()
        if ctx.needs_input_grad[2]:
            grad_b = grad_out.float().sum(0)
        return grad_x, grad_w, grad_b, None


def _windows(conv: nn.Conv1d, x: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Responses of every window of `conv` over x (B, T, E) fp32 -> (B, T-k+1, n) in `dtype`.

    The same arithmetic as `conv(x.transpose(1, 2))`, as one GEMM on unfolded windows (measured faster
    than oneDNN's conv1d here).
    """
    n, _, k = conv.weight.shape
    B, T, _ = x.shape
    return _Windows.apply(x, conv.weight, conv.bias, dtype).view(B, T - k + 1, n)


class _Bf16Linear(torch.autograd.Function):
    """y = x W^T + b with bf16 products and fp32 in/out; W's bf16 copy goes into a reused buffer.

    torch.autocast does the same arithmetic, but it allocates a fresh bf16 copy of the weight on every
    forward; for the highway's 5.9 M weights those allocations cost more than the copy itself here.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                weight_bf16: torch.Tensor) -> torch.Tensor:
        weight_bf16.copy_(weight)
        x_bf16 = x.to(torch.bfloat16)
        ctx.save_for_backward(x_bf16, weight_bf16)
        return torch.addmm(bias.to(torch.bfloat16), x_bf16, weight_bf16.t()).float()

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        x_bf16, weight_bf16 = ctx.saved_tensors
        g = grad_out.to(torch.bfloat16)
        grad_x = (g @ weight_bf16).float() if ctx.needs_input_grad[0] else None
        grad_w = (g.t() @ x_bf16).float() if ctx.needs_input_grad[1] else None
        grad_b = grad_out.sum(0) if ctx.needs_input_grad[2] else None
        return grad_x, grad_w, grad_b, None


class CNNDiscriminator(nn.Module):
    """SeqGAN's CNN text classifier (Yu et al. 2017, Sec. "The Discriminative Model"; Kim 2014).

    Args:
        vocab_size: V.
        emb_dim: E (paper: 64).
        filter_sizes: window widths (paper: 1..10, 15, 20).
        num_filters: filters per width (paper: 100, 200, 200, 200, 200, 100 x 5, 160, 160).
        dropout: drop probability before the output layer (paper keeps 0.75, so 0.25).
        pad_token: inputs shorter than the widest filter are right-padded with this id.
        precision: "fp32", or "bf16": the convolution and highway matrix products take bfloat16 inputs
            (mixed precision, as torch.autocast does); weights, gradients' accumulation, the optimizer and
            the element-wise maths stay fp32. About 2x faster on CPUs with AVX512-BF16.
    """

    def __init__(self, vocab_size: int, emb_dim: int, filter_sizes: tuple[int, ...],
                 num_filters: tuple[int, ...], dropout: float = 0.25, pad_token: int = 0,
                 precision: str = "fp32") -> None:
        super().__init__()
        if len(filter_sizes) != len(num_filters):
            raise ValueError("filter_sizes and num_filters must have the same length")
        if precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be fp32 or bf16, not {precision!r}")
        self.precision = precision
        self._highway_bf16: torch.Tensor | None = None  # reused bf16 copy of the highway weight
        self.vocab_size, self.emb_dim = vocab_size, emb_dim
        self.filter_sizes, self.num_filters = tuple(filter_sizes), tuple(num_filters)
        self.pad_token = pad_token
        features = sum(num_filters)
        self.embedding = nn.Embedding(vocab_size, emb_dim)
        self.convs = nn.ModuleList(nn.Conv1d(emb_dim, n, k) for k, n in zip(filter_sizes, num_filters))
        self.highway = nn.Linear(features, 2 * features)  # transform and gate in one GEMM
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(features, 2)  # class 1 = real
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The original code's initialisation: N(0, 0.1) conv/output weights, 0.1 biases, gate bias -2."""
        with torch.no_grad():
            nn.init.uniform_(self.embedding.weight, -1.0, 1.0)
            for conv in self.convs:
                nn.init.trunc_normal_(conv.weight, std=0.1, a=-0.2, b=0.2)
                nn.init.constant_(conv.bias, 0.1)
            features = sum(self.num_filters)
            self.highway.bias[features:].fill_(-2.0)  # gate starts mostly closed: carry the input through
            nn.init.trunc_normal_(self.out.weight, std=0.1, a=-0.2, b=0.2)
            nn.init.constant_(self.out.bias, 0.1)

    @property
    def _dtype(self) -> torch.dtype:
        """The dtype of the matrix products' inputs."""
        return torch.bfloat16 if self.precision == "bf16" else torch.float32

    def features(self, ids: torch.Tensor) -> torch.Tensor:
        """Max-over-time pooled filter responses (B, F), fp32, for ids (B, T)."""
        widest = max(self.filter_sizes)
        if ids.shape[1] < widest:
            ids = F.pad(ids, (0, widest - ids.shape[1]), value=self.pad_token)
        x = self.embedding(ids)  # (B, T, E)
        # max over time before the ReLU: relu(max(z)) == max(relu(z)), and it halves the work
        pooled = [_windows(conv, x, self._dtype).amax(dim=1) for conv in self.convs]  # each (B, n_k)
        return F.relu(torch.cat(pooled, dim=1).float())  # (B, F)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Class logits (B, 2) for ids (B, T); class 1 means "real"."""
        return self.classify(self.features(ids))

    def classify(self, z: torch.Tensor) -> torch.Tensor:
        """Highway layer, dropout and output layer on pooled features (B, F) -> logits (B, 2)."""
        if self.precision == "bf16":
            if self._highway_bf16 is None or self._highway_bf16.shape != self.highway.weight.shape \
                    or self._highway_bf16.device != z.device:
                self._highway_bf16 = torch.empty_like(self.highway.weight, dtype=torch.bfloat16)
            both = _Bf16Linear.apply(z, self.highway.weight, self.highway.bias, self._highway_bf16)
        else:
            both = self.highway(z)
        transform, gate = both.chunk(2, dim=1)  # (B, F) each, fp32
        gate = torch.sigmoid(gate)
        z = gate * F.relu(transform) + (1.0 - gate) * z  # highway layer
        return self.out(self.dropout(z))  # (B, 2)

    @torch.no_grad()
    def prob_real_completions(self, completions: torch.Tensor, seqs: torch.Tensor) -> torch.Tensor:
        """D(Y) of every rollout completion, sharing the convolution windows that lie inside the prefix.

        Completions of the prefix Y_{1:t} all start with the same t tokens, so a width-k window that ends
        inside the prefix has the same response in all of them, and in `seqs` itself: its max over the
        prefix is a running max over `seqs`' windows, computed once. Only windows that reach into the
        sampled part are computed per completion. The result equals `prob_real` on the flattened
        completions up to float rounding.

        Args:
            completions: (T-1, N, B, T); [t-1, i, b] starts with seqs[b, :t].
            seqs: (B, T) the sequences that were completed.

        Returns:
            (T-1, N, B) probabilities of "real".
        """
        Tm1, N, B, T = completions.shape
        if T < max(self.filter_sizes):
            return self.prob_real(completions.reshape(-1, T)).view(Tm1, N, B)
        was_training = self.training
        self.eval()
        try:
            full = self.embedding(seqs)  # (B, T, E)
            # running max over the windows of seqs: prefix_max[k][:, j] = max of windows 0..j
            prefix_max = [_windows(conv, full, self._dtype).cummax(dim=1).values
                          for conv in self.convs]  # (B, T-k+1, n_k)
            features = []
            for t in range(1, T):
                x = self.embedding(completions[t - 1].reshape(N * B, T))  # (NB, T, E)
                pooled = []
                for conv, k, pmax in zip(self.convs, self.filter_sizes, prefix_max, strict=True):
                    start = max(0, t - k + 1)  # first window that reaches past the prefix
                    fresh = _windows(conv, x[:, start:], self._dtype).amax(dim=1)  # (NB, n_k)
                    if start > 0:  # windows 0..start-1 lie inside the prefix: shared across rollouts
                        fresh = torch.maximum(fresh, pmax[:, start - 1].repeat(N, 1))
                    pooled.append(fresh)
                features.append(F.relu(torch.cat(pooled, dim=1).float()))  # (NB, F)
            z = torch.cat(features)  # ((T-1) * N * B, F)
            probs = torch.cat([torch.softmax(self.classify(z[lo:lo + SCORE_ROWS]), dim=1)[:, 1]
                               for lo in range(0, z.shape[0], SCORE_ROWS)])
        finally:
            self.train(was_training)
        return probs.view(Tm1, N, B)

    def l2_penalty(self) -> torch.Tensor:
        """tf.nn.l2_loss of the output layer's weight and bias (sum of squares / 2), as in the paper's code."""
        return 0.5 * (self.out.weight.square().sum() + self.out.bias.square().sum())

    @torch.no_grad()
    def prob_real(self, ids: torch.Tensor) -> torch.Tensor:
        """D(Y) = P(real | Y) for each sequence, (N,), in eval mode (no dropout), in row chunks."""
        was_training = self.training
        self.eval()
        try:
            out = [torch.softmax(self(ids[lo:lo + SCORE_ROWS]), dim=1)[:, 1]
                   for lo in range(0, ids.shape[0], SCORE_ROWS)]
        finally:
            self.train(was_training)
        return torch.cat(out)

    def architecture(self) -> dict:
        """The shape-defining hyper-parameters, compared on resume."""
        return {"kind": "cnn", "vocab_size": self.vocab_size, "emb_dim": self.emb_dim,
                "filter_sizes": list(self.filter_sizes), "num_filters": list(self.num_filters)}


class RNNDiscriminator(nn.Module):
    """A GRU over the sequence; the last hidden state feeds a 2-way classifier.

    Args:
        vocab_size: V.
        emb_dim: E.
        hidden_dim: GRU width.
        dropout: drop probability before the output layer.
    """

    def __init__(self, vocab_size: int, emb_dim: int, hidden_dim: int, dropout: float = 0.25) -> None:
        super().__init__()
        self.vocab_size, self.emb_dim, self.hidden_dim = vocab_size, emb_dim, hidden_dim
        self.embedding = nn.Embedding(vocab_size, emb_dim)
        self.gru = nn.GRU(emb_dim, hidden_dim, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_dim, 2)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Class logits (B, 2) for ids (B, T)."""
        _, last = self.gru(self.embedding(ids))  # (1, B, H)
        return self.out(self.dropout(last.squeeze(0)))  # (B, 2)

    def l2_penalty(self) -> torch.Tensor:
        """Sum of squares / 2 of the output layer."""
        return 0.5 * (self.out.weight.square().sum() + self.out.bias.square().sum())

    prob_real = CNNDiscriminator.prob_real

    def architecture(self) -> dict:
        """The shape-defining hyper-parameters, compared on resume."""
        return {"kind": "rnn", "vocab_size": self.vocab_size, "emb_dim": self.emb_dim,
                "hidden_dim": self.hidden_dim}
