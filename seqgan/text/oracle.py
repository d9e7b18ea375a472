"""The synthetic-data oracle of SeqGAN's Table 1: a fixed LSTM whose samples are the "real" data.

The original parameters (LantaoYu/SeqGAN `save/target_params_py3.pkl`, shipped here as `target_params.npz`)
are loaded into our `LSTMGenerator`: their LSTM multiplies row vectors on the right (x W), so each matrix
is transposed into PyTorch's (out, in) layout, and the gates are stacked in PyTorch's i, f, g, o order.
Token 0 is both the start input and an ordinary token; there is no EOS.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from seqgan.base.errors import UserError
from seqgan.text.generator import LSTMGenerator

ORACLE_DIR = "seqgan_oracle"
PARAMS_FILE = "target_params.npz"
SAMPLES_FILE = "real_data.txt"
VOCAB, EMB, HIDDEN, SEQ_LEN = 5000, 32, 32, 20
# array name -> shape in terms of vocabulary V, embedding E, hidden H (row vectors multiply on the right)
ORACLE_SHAPES = {"emb": "VE", "Wi": "EH", "Ui": "HH", "bi": "H", "Wf": "EH", "Uf": "HH", "bf": "H",
                 "Wog": "EH", "Uog": "HH", "bog": "H", "Wc": "EH", "Uc": "HH", "bc": "H", "Wo": "HV", "bo": "V"}


def load_original_oracle(path: str | Path) -> LSTMGenerator:
    """The original SeqGAN oracle from its .npz parameter file."""
    path = Path(path)
    restore = "restore it from ../shared/data/seqgan_oracle or set data.oracle=random"
    try:
        with np.load(path) as arrays:
            p = {key.split("_", 1)[-1]: torch.from_numpy(arrays[key].astype(np.float32)) for key in arrays.files}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise UserError(f"cannot read oracle parameters {path} ({type(err).__name__}: {err}); {restore}") from err
    if set(p) != set(ORACLE_SHAPES):
        raise UserError(f"{path} does not hold the 15 SeqGAN oracle arrays; {restore}")
    vocab, emb = p["emb"].shape if p["emb"].ndim == 2 else (0, 0)
    hidden = p["Ui"].shape[0] if p["Ui"].ndim == 2 else 0
    sizes = {"V": vocab, "E": emb, "H": hidden}
    for name, dims in ORACLE_SHAPES.items():
        if tuple(p[name].shape) != tuple(sizes[d] for d in dims) or min(sizes.values()) == 0:
            raise UserError(f"{path}: array {name} has shape {tuple(p[name].shape)}, expected "
                            f"{tuple(sizes[d] for d in dims)}; {restore}")
    oracle = LSTMGenerator(vocab, emb, hidden, SEQ_LEN, start_token=0)
    with torch.no_grad():
        oracle.embedding.weight.copy_(p["emb"])
        oracle.lstm.weight_ih_l0.copy_(torch.cat([p["Wi"], p["Wf"], p["Wc"], p["Wog"]], dim=1).t())  # (4H, E)
        oracle.lstm.weight_hh_l0.copy_(torch.cat([p["Ui"], p["Uf"], p["Uc"], p["Uog"]], dim=1).t())  # (4H, H)
        oracle.lstm.bias_ih_l0.copy_(torch.cat([p["bi"], p["bf"], p["bc"], p["bog"]]))
        oracle.lstm.bias_hh_l0.zero_()
        oracle.out.weight.copy_(p["Wo"].t())  # (V, H)
        oracle.out.bias.copy_(p["bo"])
    return oracle.requires_grad_(False)


def random_oracle(seed: int, vocab: int = VOCAB, emb: int = EMB, hidden: int = HIDDEN,
                  seq_len: int = SEQ_LEN) -> LSTMGenerator:
    """A seeded random LSTM oracle with N(0, 1) parameters, as the paper describes its oracle."""
    gen = torch.Generator().manual_seed(seed)
    oracle = LSTMGenerator(vocab, emb, hidden, seq_len, start_token=0)
    with torch.no_grad():
        for param in oracle.parameters():
            param.normal_(0.0, 1.0, generator=gen)
    return oracle.requires_grad_(False)


def read_id_file(path: str | Path, seq_len: int, vocab: int) -> torch.Tensor:
    """Read whitespace-separated token ids, one sequence per line, into (N, seq_len)."""
    path = Path(path)
    try:
        rows = [line.split() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        ids = torch.tensor([[int(tok) for tok in row] for row in rows], dtype=torch.long)
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"cannot read {path}: {err}") from err
    except (ValueError, RuntimeError) as err:
        raise UserError(f"{path} must hold {seq_len} integer token ids per line ({err})") from err
    if ids.ndim != 2 or ids.shape[1] != seq_len or ids.numel() == 0:
        raise UserError(f"{path} must hold {seq_len} token ids on every line")
    if ids.min() < 0 or ids.max() >= vocab:
        raise UserError(f"{path} has token ids outside [0, {vocab})")
    return ids


@torch.no_grad()
def nll_per_token(model: LSTMGenerator, ids: torch.Tensor) -> float:
    """Mean NLL in nats per token of `ids` under `model` (NLL-oracle when model is the oracle, Eq. 13)."""
    return (model.score(ids).sum() / ids.numel()).item()
