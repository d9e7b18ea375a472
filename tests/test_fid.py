"""FID: the Fréchet distance against scipy, its invariants, the cached CNN extractor, signatures, and the CLI."""

from __future__ import annotations

import json
import sys
import types
from dataclasses import asdict

import numpy as np
import pytest
import scipy.linalg
import torch

from eval import fid as F
from seqgan.base.errors import UserError
from seqgan.image import data as D
from seqgan.image import fid_dataset as FD
from seqgan.image import fid_extractor as FE
from seqgan.image.data import to_unit_range
from tests.image_helpers import class_images, write_dataset

TINY_SPEC = FE.ExtractorSpec(widths=(4, 8), features=16, epochs=2, batch_size=32, lr=1e-2)
SMALL = D.IdxDataset("mnist", {"train": 300, "test": 200})


def scipy_fid(mu1, s1, mu2, s2) -> float:
    """The textbook formula with scipy's general (non-symmetric) matrix square root: the independent reference."""
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def random_gaussian(dim: int, seed: int, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim)) @ rng.normal(size=(dim, dim)) + rng.normal(size=dim) * 3
    return x.mean(0), np.cov(x, rowvar=False)


# ---------------------------------------------------------------------------------------------------------
# The distance
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dim, seed", [(2, 0), (16, 1), (64, 2), (128, 3)])
def test_frechet_distance_matches_scipy(dim, seed):
    mu1, s1 = random_gaussian(dim, seed)
    mu2, s2 = random_gaussian(dim, seed + 100)
    assert F.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(scipy_fid(mu1, s1, mu2, s2), rel=1e-6)
    # torch float32 inputs are promoted to float64 before any arithmetic
    got32 = F.frechet_distance(torch.tensor(mu1, dtype=torch.float32), torch.tensor(s1, dtype=torch.float32),
                               torch.tensor(mu2, dtype=torch.float32), torch.tensor(s2, dtype=torch.float32))
    ref32 = scipy_fid(*(np.float64(np.float32(a)) for a in (mu1, s1, mu2, s2)))
    assert got32 == pytest.approx(ref32, rel=1e-6)


def test_frechet_distance_hand_computed_diagonal_case():
    """Commuting (diagonal) covariances: FID = |dmu|^2 + sum (sqrt a_i - sqrt b_i)^2, singular ones included."""
    a, b = np.array([4.0, 9.0, 0.0, 1.0]), np.array([1.0, 16.0, 4.0, 0.0])
    mu1, mu2 = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 0.0, 3.0, 5.0])
    want = 4.0 + 1.0 + (2 - 1) ** 2 + (3 - 4) ** 2 + (0 - 2) ** 2 + (1 - 0) ** 2
    assert F.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(want, rel=1e-12)


def test_identical_and_symmetric():
    mu1, s1 = random_gaussian(32, 5)
    mu2, s2 = random_gaussian(32, 6)
    assert F.frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-8 * np.trace(s1))
    assert F.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(F.frechet_distance(mu2, s2, mu1, s1), rel=1e-9)


def test_rank_deficient_covariances_are_finite():
    """Fewer samples than features: singular covariances still give a finite, non-negative value."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(10, 32)), rng.normal(size=(10, 32)) + 0.5
    mu1, s1 = F.gaussian_stats(x)
    mu2, s2 = F.gaussian_stats(y)
    value = F.frechet_distance(mu1, s1, mu2, s2)
    assert np.isfinite(value) and value > 0
    assert F.frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-9)


def test_gaussian_stats_match_numpy():
    x = np.random.default_rng(1).normal(size=(50, 7))
    mu, sigma = F.gaussian_stats(torch.tensor(x, dtype=torch.float32))
    assert mu.dtype == torch.float64 and sigma.shape == (7, 7)
    x32 = np.float64(np.float32(x))
    np.testing.assert_allclose(mu.numpy(), x32.mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma.numpy(), np.cov(x32, rowvar=False), rtol=1e-10)
    with pytest.raises(UserError, match="at least 2 samples"):
        F.gaussian_stats(np.zeros((1, 3)))


def test_shape_mismatch():
    with pytest.raises(ValueError, match="shape mismatch"):
        F.frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


# ---------------------------------------------------------------------------------------------------------
# The extractor, its cache, FID of samples
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def small_mnist(tmp_path, monkeypatch):
    """A tiny synthetic MNIST as --data-dir, a private cache, and the tiny extractor spec as mnist's default."""
    monkeypatch.setitem(D.DATASETS, "mnist", SMALL)
    monkeypatch.setitem(FE.DEFAULT_SPECS, "mnist", TINY_SPEC)
    monkeypatch.setenv("SEQGAN_CACHE", str(tmp_path / "cache"))
    return str(write_dataset(tmp_path / "data"))


def test_train_classifier_is_deterministic_and_learns():
    x, y = (torch.from_numpy(a) for a in class_images(300, seed=1))
    tx, ty = (torch.from_numpy(a) for a in class_images(200, seed=2))
    x, tx, y, ty = x.unsqueeze(1), tx.unsqueeze(1), y.long(), ty.long()
    m1, acc1, _ = FE.train_classifier(x, y, tx, ty, TINY_SPEC)
    m2, acc2, _ = FE.train_classifier(x, y, tx, ty, TINY_SPEC)
    m3, _, _ = FE.train_classifier(x, y, tx, ty, FE.ExtractorSpec(**{**asdict(TINY_SPEC), "seed": 1}))
    assert FE.state_checksum(m1.state_dict()) == FE.state_checksum(m2.state_dict()) and acc1 == acc2
    assert FE.state_checksum(m1.state_dict()) != FE.state_checksum(m3.state_dict())
    assert acc1 > 0.5  # 10 classes: chance is 0.1


def test_extractor_is_cached_and_reloaded(small_mnist, monkeypatch):
    ext = FE.load_or_train_extractor("mnist", small_mnist, device="cpu")
    assert ext.path.is_file() and ext.path.parent.name == "fid" and ext.path.name.startswith("mnist-")
    assert ext.name == "mnist-cnn-v1" and 0.0 <= ext.accuracy <= 1.0
    monkeypatch.setattr(FE, "train_classifier", lambda *a, **k: pytest.fail("retrained despite a good cache"))
    again = FE.load_or_train_extractor("mnist", small_mnist, device="cpu")
    assert again.checksum == ext.checksum and again.accuracy == ext.accuracy
    images = to_unit_range(D.load_image_dataset("mnist", "test", small_mnist)[0][:50])
    assert torch.equal(again.features(images), ext.features(images))


@pytest.mark.parametrize("damage", ["checksum", "garbage"])
def test_damaged_cache_is_retrained_with_a_log_line(small_mnist, capsys, damage):
    ext = FE.load_or_train_extractor("mnist", small_mnist, device="cpu")
    if damage == "checksum":  # a weight changed behind the stored checksum's back
        blob = torch.load(ext.path, weights_only=True)
        blob["state_dict"]["embed.weight"][0, 0] += 1.0
        torch.save(blob, ext.path)
    else:
        ext.path.write_bytes(ext.path.read_bytes()[:1000])
    capsys.readouterr()
    again = FE.load_or_train_extractor("mnist", small_mnist, device="cpu")
    err = capsys.readouterr().err
    assert ("failed its checksum" if damage == "checksum" else "is unreadable") in err and "retraining" in err
    assert again.checksum == ext.checksum  # deterministic retrain gives the same weights
    assert FE.state_checksum(torch.load(again.path, weights_only=True)["state_dict"]) == ext.checksum


def test_fid_of_samples_sanity_and_signature(small_mnist):
    train, _ = D.load_image_dataset("mnist", "train", small_mnist)
    like = FD.fid_of_samples(to_unit_range(train[:200]), "mnist", small_mnist, n_real=200)
    noise = FD.fid_of_samples(torch.rand(200, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1,
                              "mnist", small_mnist, n_real=200)
    assert like.value < noise.value / 10
    sig = like.signature
    ext = FE.load_or_train_extractor("mnist", small_mnist)
    for part in ("extractor:mnist-cnn-v1", f"acc:{ext.accuracy:.4f}", f"sha:{ext.checksum[:8]}",
                 "real:mnist-test", "nreal:200", "nfake:200", "feat:16"):
        assert part in sig
    assert like.to_dict()["fid"] == like.value and like.fields["split"] == "test"
    # a seeded subset of the real split; the same seed gives the same value (statistics cached or not)
    a = FD.fid_of_samples(to_unit_range(train[:100]), "mnist", small_mnist, n_real=150, seed=3)
    b = FD.fid_of_samples(to_unit_range(train[:100]), "mnist", small_mnist, n_real=150, seed=3)
    assert a.value == b.value and "nreal:150" in a.signature


def test_real_statistics_are_cached(small_mnist, monkeypatch):
    ext = FE.load_or_train_extractor("mnist", small_mnist)
    mu, sigma, n = FD.real_stats("mnist", ext, "test", 200, 0, small_mnist)
    monkeypatch.setattr(ext, "features", lambda images: pytest.fail("recomputed cached statistics"))
    mu2, sigma2, n2 = FD.real_stats("mnist", ext, "test", 200, 0, small_mnist)
    assert torch.equal(mu, mu2) and torch.equal(sigma, sigma2) and n == n2 == 200


def test_fid_between_matches_manual_computation(small_mnist):
    ext = FE.load_or_train_extractor("mnist", small_mnist)
    a = to_unit_range(D.load_image_dataset("mnist", "train", small_mnist)[0][:120])
    b = to_unit_range(D.load_image_dataset("mnist", "test", small_mnist)[0][:90])
    res = F.fid_between(a, b, ext, a_name="train")
    fa, fb = ext.features(a).numpy(), ext.features(b).numpy()
    want = scipy_fid(fa.mean(0), np.cov(fa, rowvar=False), fb.mean(0), np.cov(fb, rowvar=False))
    assert res.value == pytest.approx(want, rel=1e-6)
    assert F.fid_between(b, a, ext).value == pytest.approx(res.value, rel=1e-9)
    assert F.fid_between(a, a, ext).value == pytest.approx(0.0, abs=1e-6)
    assert "real:train|nreal:120|nfake:90" in res.signature


def test_bad_samples_are_user_errors(small_mnist):
    with pytest.raises(UserError, match=r"shape \(N, 1, 28, 28\)"):
        FD.fid_of_samples(torch.zeros(10, 3, 28, 28), "mnist", small_mnist, n_real=100)
    with pytest.raises(UserError, match=r"in \[-1, 1\]"):
        FD.fid_of_samples(torch.full((10, 1, 28, 28), 3.0), "mnist", small_mnist, n_real=100)
    with pytest.raises(UserError, match="exceeds the 200 images"):
        FD.fid_of_samples(torch.zeros(10, 1, 28, 28), "mnist", small_mnist, n_real=500)
    with pytest.raises(UserError, match="at least 2 generated images"):
        FD.fid_of_samples(torch.zeros(1, 1, 28, 28), "mnist", small_mnist, n_real=100)


def test_inception_needs_a_file_and_a_library(tmp_path, monkeypatch):
    with pytest.raises(UserError, match="does not exist"):
        FE.InceptionExtractor(tmp_path / "missing.pth")
    (tmp_path / "w.pth").write_bytes(b"weights")
    monkeypatch.setitem(sys.modules, "torch_fidelity", None)  # None in sys.modules makes the import fail
    monkeypatch.setitem(sys.modules, "torch_fidelity.feature_extractor_inceptionv3", None)
    monkeypatch.setitem(sys.modules, "torchmetrics", None)
    monkeypatch.setitem(sys.modules, "torchmetrics.image", None)
    monkeypatch.setitem(sys.modules, "torchmetrics.image.fid", None)
    with pytest.raises(UserError, match="torch-fidelity or torchmetrics"):
        FE.InceptionExtractor(tmp_path / "w.pth")


# ---------------------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------------------


def test_cli_dataset_vs_folder_json(small_mnist, tmp_path, run_cli):
    test_x, _ = D.load_image_dataset("mnist", "test", small_mnist)
    D.save_image_files(test_x[:60], tmp_path / "fake")
    res = run_cli(["fid", "--dataset", "mnist", "--fake", tmp_path / "fake", "--data-dir", small_mnist,
                   "--n-real", "200", "--json"])
    assert res.code == 0, res.err
    out = json.loads(res.out)
    direct = FD.fid_of_samples(test_x[:60], "mnist", small_mnist, n_real=200)
    # float32 features of equal pixels may differ in the last bits (buffer alignment picks the SIMD path)
    assert out["fid"] == pytest.approx(direct.value, rel=1e-6) and out["signature"] == direct.signature
    text = run_cli(["fid", "--dataset", "mnist", "--fake", tmp_path / "fake", "--data-dir", small_mnist,
                    "--n-real", "200"])
    assert text.code == 0 and text.out.startswith("FID ") and "extractor:mnist-cnn-v1" in text.out
    assert "rank-deficient" not in text.out  # 60 images > 16 features


def test_cli_folder_vs_folder(small_mnist, tmp_path, run_cli):
    train_x, _ = D.load_image_dataset("mnist", "train", small_mnist)
    D.save_image_files(train_x[:40], tmp_path / "real")
    D.save_image_files(train_x[40:80], tmp_path / "fake")
    res = run_cli(["fid", "--real", tmp_path / "real", "--fake", tmp_path / "fake", "--extractor", "mnist",
                   "--data-dir", small_mnist, "--json"])
    assert res.code == 0, res.err
    assert json.loads(res.out)["real"] == "folder:real"
    no_extractor = run_cli(["fid", "--real", tmp_path / "real", "--fake", tmp_path / "fake"])
    assert no_extractor.code == 2 and len(no_extractor.err_lines) == 1 and "--extractor" in no_extractor.err


@pytest.mark.parametrize("argv, match", [
    (["--dataset", "mnist", "--fake", "{tmp}/missing"], "does not exist"),
    (["--dataset", "cifar", "--fake", "{tmp}"], "unknown image dataset"),
    (["--run-dir", "{tmp}/no-run"], "run directory"),
    (["--dataset", "mnist", "--fake", "{tmp}", "--n-real", "-1"], "--n-real"),
    (["--dataset", "mnist", "--fake", "{tmp}", "--extractor", "inception"], "--inception-weights"),
])
def test_cli_bad_input_is_one_line_exit_2(small_mnist, tmp_path, run_cli, argv, match):
    res = run_cli(["fid", *[a.format(tmp=tmp_path) for a in argv], "--data-dir", small_mnist])
    assert res.code == 2 and len(res.err_lines) == 1 and match in res.err, res.err


def test_cli_run_dir_samples_the_generator(small_mnist, tmp_path, run_cli, monkeypatch):
    """--run-dir goes through seqgan.image.run.load_image_run(run_dir, checkpoint=, device=).sample(n, gen)."""
    calls = {}

    class FakeRun:
        dataset = "mnist"

        def sample(self, n, gen):
            calls["n"] = n
            return torch.rand(n, 1, 28, 28, generator=gen) * 2 - 1

    def load_image_run(run_dir, checkpoint="last", device=None):
        calls["run_dir"], calls["checkpoint"] = str(run_dir), checkpoint
        return FakeRun()

    monkeypatch.setitem(sys.modules, "seqgan.image.run", types.SimpleNamespace(load_image_run=load_image_run))
    (tmp_path / "run").mkdir()
    res = run_cli(["fid", "--run-dir", tmp_path / "run", "-n", "50", "--n-real", "100", "--data-dir", small_mnist,
                   "--json"])
    assert res.code == 0, res.err
    out = json.loads(res.out)
    assert calls == {"run_dir": str(tmp_path / "run"), "checkpoint": "last", "n": 50}
    assert out["n_fake"] == 50 and out["real"] == "mnist-test" and out["fake"].startswith("run:")


def test_cli_sanity_rows(small_mnist, tmp_path, run_cli):
    res = run_cli(["fid-sanity", "--dataset", "mnist", "-n", "200", "--data-dir", small_mnist, "--json",
                   "--out", tmp_path / "sanity.json"])
    assert res.code == 0, res.err
    rows = json.loads(res.out)
    assert [r["row"].split(" (")[0] for r in rows] == ["mnist train", "uniform noise vs test"]
    assert rows[0]["fid"] < rows[1]["fid"] / 10
    extra = FD.sanity_rows("mnist", small_mnist, n=200, extra_rows=[("blank", -torch.ones(50, 1, 28, 28))])
    assert [r["row"] for r in extra][2] == "blank" and "nfake:50" in extra[2]["signature"]
    assert [r["fid"] for r in extra[:2]] == [r["fid"] for r in rows]
    assert json.loads((tmp_path / "sanity.json").read_text()) == rows
    bad = run_cli(["fid-sanity", "--dataset", "mnist", "-n", "1", "--data-dir", small_mnist])
    assert bad.code == 2 and len(bad.err_lines) == 1


def test_cli_extractor_info(small_mnist, run_cli):
    res = run_cli(["fid-extractor", "--dataset", "mnist", "--data-dir", small_mnist, "--json"])
    assert res.code == 0, res.err
    info = json.loads(res.out)
    assert info["extractor"] == "mnist-cnn-v1" and info["spec"]["widths"] == [4, 8] and len(info["checksum"]) == 64


@pytest.mark.slow
def test_real_mnist_sanity_rows():
    """On the shared MNIST (if present): FID(train, test) is small next to FID(noise, test). Trains once if needed."""
    from seqgan.base.paths import data_root

    root = data_root()
    if root is None or not (root / "mnist" / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("shared MNIST data is not available")
    ext = FE.load_or_train_extractor("mnist")
    assert ext.accuracy >= 0.99
    rows = FD.sanity_rows("mnist", n=2000)
    assert rows[0]["fid"] < rows[1]["fid"] / 100
