"""Improved precision and recall of generative models (Kynkäänniemi et al., 2019), with a signature on every value.

Each set of feature vectors estimates its manifold as the union of balls around its points, each ball's radius the
distance from that point to its k-th nearest neighbour in the same set (the point itself not counted):

    f(phi, Phi) = 1 if ||phi - phi'|| <= ||phi' - NN_k(phi', Phi)|| for some phi' in Phi, else 0
    precision = mean over generated phi_g of f(phi_g, Phi_real)   (how many samples look real)
    recall    = mean over real phi_r of f(phi_r, Phi_fake)        (how much of the real data G covers)

with k = 3 (the paper's default). Distances are squared Euclidean in float64, computed as |a|^2 - 2 a.b + |b|^2
(the authors' code does the same, in float32) in row blocks of at most `max_block` entries, so 10,000 x 10,000
features never hold more than one block of distances in memory; comparing squared distances with squared radii
decides the same as comparing the distances. The features are the ones FID uses (any eval.fid.FeatureExtractor).

Imports nothing from seqgan but seqgan.base.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from seqgan.base.errors import UserError
from seqgan.base.version import VERSION

DEFAULT_K = 3  # Kynkäänniemi et al.: k = 3 "a good default"
MAX_BLOCK = 1 << 24  # distances held at once (16 M float64 = 128 MB)


def _as_f64(x: torch.Tensor | np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).detach().cpu().double()


def squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances (n, m) between rows of a (n, F) and b (m, F), in float64, never below 0.

    Args:
        a: (n, F) float64.
        b: (m, F) float64.
    """
    d = (a @ b.T).mul_(-2.0)  # (n, m), then in place: one (n, m) buffer
    d.add_((a * a).sum(1)[:, None]).add_((b * b).sum(1)[None, :])
    return d.clamp_min_(0.0)  # round-off can make |a - a|^2 slightly negative


def _rows_per_block(n_cols: int, max_block: int) -> int:
    return max(1, max_block // max(n_cols, 1))


def knn_radii(features: torch.Tensor | np.ndarray, k: int = DEFAULT_K, max_block: int = MAX_BLOCK) -> torch.Tensor:
    """Squared distance (N,) from each point to its k-th nearest neighbour among the other points of the set.

    Args:
        features: (N, F) with N > k.
        k: which neighbour.
        max_block: distances computed at once (rows x N).
    """
    x = _as_f64(features)
    n = x.shape[0]
    if not 1 <= k < n:
        raise UserError(f"k-NN radii need k in 1..N-1; got k={k} for {n} points")
    step = _rows_per_block(n, max_block)
    radii = torch.empty(n, dtype=torch.float64)
    for start in range(0, n, step):
        block = squared_distances(x[start:start + step], x)  # (b, N)
        rows = torch.arange(block.shape[0])
        block[rows, rows + start] = -1.0  # the point itself sorts first and is skipped, even beside duplicates
        # the (k+1)-th smallest, ascending (topk is several times faster than kthvalue here)
        radii[start:start + step] = block.topk(k + 1, dim=1, largest=False).values[:, k]  # (b,)
    return radii


def coverage(queries: torch.Tensor, support: torch.Tensor, support_radii: torch.Tensor,
             max_block: int = MAX_BLOCK) -> torch.Tensor:
    """Whether each query lies in the manifold of `support`: in some support point's ball (bool (Q,)).

    Args:
        queries: (Q, F) float64.
        support: (S, F) float64.
        support_radii: (S,) squared k-NN radii of the support points.
        max_block: distances computed at once.
    """
    step = _rows_per_block(len(support), max_block)
    inside = torch.zeros(len(queries), dtype=torch.bool)
    for start in range(0, len(queries), step):
        block = squared_distances(queries[start:start + step], support)  # (b, S)
        inside[start:start + step] = (block <= support_radii[None, :]).any(1)
    return inside


def precision_recall(real: torch.Tensor | np.ndarray, fake: torch.Tensor | np.ndarray, k: int = DEFAULT_K,
                     max_block: int = MAX_BLOCK) -> tuple[float, float]:
    """(precision, recall) of generated features against real ones, each set's manifold from its k-NN balls.

    Args:
        real: (N, F) real features, N > k.
        fake: (M, F) generated features, M > k.
        k: the neighbourhood size (paper: 3).
        max_block: distances computed at once (memory: 8 bytes each).
    """
    real, fake = _as_f64(real), _as_f64(fake)
    if real.dim() != 2 or fake.dim() != 2 or real.shape[1] != fake.shape[1]:
        raise UserError(f"precision/recall need two feature matrices of the same width, got {tuple(real.shape)} "
                        f"and {tuple(fake.shape)}")
    for name, x in (("real", real), ("generated", fake)):
        if len(x) <= k:
            raise UserError(f"precision/recall with k={k} need more than {k} {name} samples, got {len(x)}")
    real_radii, fake_radii = knn_radii(real, k, max_block), knn_radii(fake, k, max_block)
    # one pass over (fake x real) blocks answers both questions: is fake i in a real ball (row-wise), is real j
    # in a fake ball (column-wise)
    step = _rows_per_block(len(real), max_block)
    fake_inside = torch.zeros(len(fake), dtype=torch.bool)
    real_inside = torch.zeros(len(real), dtype=torch.bool)
    for start in range(0, len(fake), step):
        block = squared_distances(fake[start:start + step], real)  # (b, N)
        fake_inside[start:start + step] = (block <= real_radii[None, :]).any(1)
        real_inside |= (block <= fake_radii[start:start + step, None]).any(0)
    return float(fake_inside.double().mean()), float(real_inside.double().mean())


@dataclass(frozen=True)
class PrecisionRecallResult:
    """Precision and recall and the signature that says how they were computed.

    Args:
        precision: share of generated samples inside the real manifold.
        recall: share of real samples inside the generated manifold.
        signature: `pr|k:..|extractor:..|acc:..|sha:..|real:..|nreal:..|nfake:..|feat:..|ours:..`.
        fields: the signature's parts as a dict (for JSON).
    """

    precision: float
    recall: float
    signature: str
    fields: dict = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict:
        """{"precision": ..., "recall": ..., "precision_recall_signature": ...}: the keys metrics.json uses."""
        return {"precision": self.precision, "recall": self.recall, "precision_recall_signature": self.signature}

    def __str__(self) -> str:
        return f"precision {self.precision:.4f}  recall {self.recall:.4f}  {self.signature}"


def pr_signature(k: int, extractor_name: str, accuracy: float | None, checksum: str, real: str, n_real: int,
                 n_fake: int, dim: int) -> tuple[str, dict]:
    """The signature string of a precision/recall pair and its fields (the parts FID's signature has, and k).

    Args:
        k: the neighbourhood size.
        extractor_name: the feature space's name.
        accuracy: its classifier accuracy (None for Inception).
        checksum: its weights' checksum.
        real: how the real set is named.
        n_real: real samples.
        n_fake: generated samples.
        dim: feature width.
    """
    fields = {"k": k, "extractor": extractor_name, "accuracy": accuracy, "checksum": checksum[:8], "real": real,
              "n_real": n_real, "n_fake": n_fake, "features": dim, "version": VERSION}
    acc = "n/a" if accuracy is None else f"{accuracy:.4f}"
    sig = (f"pr|k:{k}|extractor:{extractor_name}|acc:{acc}|sha:{fields['checksum']}|real:{real}|nreal:{n_real}"
           f"|nfake:{n_fake}|feat:{dim}|ours:{VERSION}")
    return sig, fields


def precision_recall_result(real_features: torch.Tensor, fake_features: torch.Tensor, extractor, real: str,
                            k: int = DEFAULT_K) -> PrecisionRecallResult:
    """Precision and recall of two feature sets from the same extractor, with their signature.

    Args:
        real_features: (N, F) real features.
        fake_features: (M, F) generated features.
        extractor: the eval.fid.FeatureExtractor that computed both (its name, accuracy and checksum go in the
            signature).
        real: how the real set is named (e.g. `mnist-test`).
        k: the neighbourhood size.
    """
    precision, recall = precision_recall(real_features, fake_features, k)
    sig, fields = pr_signature(k, extractor.name, extractor.accuracy, extractor.checksum, real, len(real_features),
                               len(fake_features), real_features.shape[1])
    return PrecisionRecallResult(precision, recall, sig, fields)
