"""seqgan.text.oracle: the original SeqGAN oracle (real file), the random fallback, and the id-file reader."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqgan.base.errors import UserError
from seqgan.text.oracle import load_original_oracle, nll_per_token, random_oracle, read_id_file
from tests.conftest import oracle_dir


def _numpy_log_probs(params: dict[str, np.ndarray], seqs: np.ndarray) -> np.ndarray:
    """log p(y_t | y_<t) (N, T), float64, written straight from PROVENANCE.md's formulas (target_lstm.py)."""
    p = {k.split("_", 1)[1]: v.astype(np.float64) for k, v in params.items()}

    def sigmoid(x):
        return 1.0 / (1.0 + np.exp(-x))

    n, steps = seqs.shape
    hidden = p["Ui"].shape[0]
    h = np.zeros((n, hidden))
    c = np.zeros((n, hidden))
    x_ids = np.zeros(n, dtype=np.int64)  # START_TOKEN = 0
    out = np.zeros((n, steps))
    for t in range(steps):
        x = p["emb"][x_ids]
        i = sigmoid(x @ p["Wi"] + h @ p["Ui"] + p["bi"])
        f = sigmoid(x @ p["Wf"] + h @ p["Uf"] + p["bf"])
        o = sigmoid(x @ p["Wog"] + h @ p["Uog"] + p["bog"])
        c_tilde = np.tanh(x @ p["Wc"] + h @ p["Uc"] + p["bc"])
        c = f * c + i * c_tilde
        h = o * np.tanh(c)
        logits = h @ p["Wo"] + p["bo"]
        m = logits.max(axis=1, keepdims=True)
        log_z = m[:, 0] + np.log(np.exp(logits - m).sum(axis=1))
        out[:, t] = logits[np.arange(n), seqs[:, t]] - log_z
        x_ids = seqs[:, t]
    return out


@pytest.fixture(scope="module")
def original():
    folder = oracle_dir()
    oracle = load_original_oracle(folder / "target_params.npz")
    real = read_id_file(folder / "real_data.txt", 20, 5000)
    return folder, oracle, real


def test_original_oracle_scores_real_data_at_5_761(original):
    _, oracle, real = original
    assert real.shape == (9984, 20)
    assert nll_per_token(oracle, real) == pytest.approx(5.761, abs=0.005)


def test_original_oracle_equals_numpy_provenance_forward(original):
    folder, oracle, real = original
    params = dict(np.load(folder / "target_params.npz"))
    seqs = real[:6]
    rand = torch.randint(0, 5000, (2, 20), generator=torch.Generator().manual_seed(0))  # off-distribution too
    seqs = torch.cat([seqs, rand])
    want = _numpy_log_probs(params, seqs.numpy())
    got = oracle.token_log_probs(seqs).double().numpy()
    np.testing.assert_allclose(got, want, atol=2e-4, rtol=0)
    assert abs(want[:6].mean() + 5.761) < 0.6  # sanity: the shipped samples are likely under the oracle


def test_original_oracle_shapes_and_frozen(original):
    _, oracle, _ = original
    assert oracle.architecture() == {"vocab_size": 5000, "emb_dim": 32, "hidden_dim": 32, "max_len": 20}
    assert oracle.start_token == 0 and oracle.eos_token is None
    assert not any(p.requires_grad for p in oracle.parameters())


def test_uniform_random_tokens_score_far_worse(original):
    _, oracle, _ = original
    ids = torch.randint(0, 5000, (300, 20), generator=torch.Generator().manual_seed(1))
    assert nll_per_token(oracle, ids) > 10.0  # PROVENANCE: 11.43 on 10,000 such sequences


def test_random_oracle_is_seeded_standard_normal():
    a, b, c = random_oracle(3, 200, 16, 16, 10), random_oracle(3, 200, 16, 16, 10), random_oracle(4, 200, 16, 16, 10)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.out.weight, c.out.weight)
    flat = torch.cat([p.flatten() for p in a.parameters()])
    assert abs(flat.std().item() - 1.0) < 0.05 and abs(flat.mean().item()) < 0.05
    assert a.max_len == 10 and a.vocab_size == 200


def test_nll_per_token_is_mean_over_tokens():
    oracle = random_oracle(0, 50, 8, 8, 6)
    ids = oracle.sample(40, torch.Generator().manual_seed(0))
    want = -oracle.token_log_probs(ids).double().mean().item()
    assert nll_per_token(oracle, ids) == pytest.approx(want, rel=1e-5)


def test_read_id_file(tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("1 2 3\n4 5 6\n\n", encoding="utf-8")
    assert torch.equal(read_id_file(good, 3, 7), torch.tensor([[1, 2, 3], [4, 5, 6]]))


@pytest.mark.parametrize("text", ["1 2 3\n4 5\n", "1 2 x\n", "1 2 3 4\n", "1 2 7\n", "-1 2 3\n", "", "\n\n"])
def test_read_id_file_rejects_bad_content(tmp_path, text):
    path = tmp_path / "bad.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UserError):
        read_id_file(path, 3, 7)


def test_read_id_file_missing_or_binary(tmp_path):
    with pytest.raises(UserError):
        read_id_file(tmp_path / "nope.txt", 3, 7)
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(UserError):
        read_id_file(tmp_path / "bin.txt", 3, 7)


def test_load_original_oracle_rejects_garbage_and_foreign_npz(tmp_path):
    (tmp_path / "garbage.npz").write_bytes(b"not a numpy file at all")
    with pytest.raises(UserError):
        load_original_oracle(tmp_path / "garbage.npz")
    np.savez(tmp_path / "foreign.npz", **{"00_a": np.zeros(3)})
    with pytest.raises(UserError, match="15 SeqGAN oracle arrays"):
        load_original_oracle(tmp_path / "foreign.npz")
    with pytest.raises(UserError):
        load_original_oracle(tmp_path / "missing.npz")


def _truncated(folder, path):
    path.write_bytes((folder / "target_params.npz").read_bytes()[:1000])


def _key_without_underscore(folder, path):
    np.savez(path, a=np.zeros(3))


def _wrong_shapes(folder, path):
    arrays = dict(np.load(folder / "target_params.npz"))
    arrays["01_Wi"] = np.zeros((16, 16), dtype=np.float32)
    np.savez(path, **arrays)


@pytest.mark.parametrize("damage", [_truncated, _key_without_underscore, _wrong_shapes])
def test_load_original_oracle_rejects_damaged_npz(tmp_path, damage):
    folder = oracle_dir()
    damage(folder, tmp_path / "bad.npz")
    with pytest.raises(UserError):
        load_original_oracle(tmp_path / "bad.npz")


def test_nll_oracle_and_nll_test_from_eval_nll():
    from eval.nll import nll_oracle, nll_test

    oracle = random_oracle(0, 50, 8, 8, 6)
    g = random_oracle(1, 50, 8, 8, 6)
    a = nll_oracle(oracle, g, 64, seed=5, oracle_name="random-lstm-seed0")
    b = nll_oracle(oracle, g, 64, seed=5, oracle_name="random-lstm-seed0")
    samples = g.sample(64, torch.Generator().manual_seed(5))
    assert a.value == b.value == pytest.approx(nll_per_token(oracle, samples), rel=1e-5)
    assert a.per_sample.shape == (64,)
    assert a.signature == "nll-oracle|oracle:random-lstm-seed0|n:64|seed:5|temp:1|unit:nats/token|v:0.1.0"
    assert nll_oracle(oracle, g, 64, seed=6).value != a.value
    test = oracle.sample(40, torch.Generator().manual_seed(0))
    t = nll_test(g, test, "held-out")
    assert t.value == pytest.approx(nll_per_token(g, test), rel=1e-5)
    assert t.signature.startswith("nll-test|test:held-out|n:40|unit:nats/token")
    mask = torch.ones_like(test, dtype=torch.bool)
    mask[:, 4:] = False
    masked = nll_test(g, test, "held-out", mask)
    want = -g.token_log_probs(test)[:, :4].double().mean().item()
    assert masked.value == pytest.approx(want, rel=1e-5)
