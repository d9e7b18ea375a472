"""Precision and recall (Kynkäänniemi et al., 2019): hand-made point clouds, a plain-loop reference, the shared
features with FID, metrics.json and the `fid` command."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from eval import precision_recall as PR
from seqgan.base.errors import UserError
from seqgan.image import data as D
from seqgan.image import fid_dataset as FD
from seqgan.image import fid_extractor as FE
from seqgan.image.data import to_unit_range
from tests.test_fid import small_mnist  # noqa: F401 - the fixture


def clusters(n_per: int, centres: np.ndarray, spread: float, seed: int) -> np.ndarray:
    """n_per Gaussian points (spread) around each centre, cluster by cluster: (len(centres) * n_per, F)."""
    rng = np.random.default_rng(seed)
    return np.concatenate([c + spread * rng.normal(size=(n_per, centres.shape[1])) for c in centres])


# five clusters 20 apart in the plane, each of spread 1 (in a few dimensions 100 points per cluster cover their
# cluster's k-NN manifold well; in many they do not, and precision of the same distribution falls below 0.9)
CENTRES = 20.0 * np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])


def brute_force(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    """The paper's definition with plain loops: radius = distance to the k-th nearest other point of the set."""
    def dist2(a, b):
        return sum((float(x) - float(y)) ** 2 for x, y in zip(a, b))

    def radii(points):
        out = []
        for i, p in enumerate(points):
            others = sorted(dist2(p, q) for j, q in enumerate(points) if j != i)
            out.append(others[k - 1])
        return out

    def share_inside(queries, support):
        r = radii(support)
        hits = [any(dist2(q, s) <= r[j] for j, s in enumerate(support)) for q in queries]
        return sum(hits) / len(hits)

    return share_inside(fake, real), share_inside(real, fake)


def test_identical_sets_have_precision_and_recall_one():
    x = clusters(40, CENTRES, 1.0, seed=0)
    assert PR.precision_recall(x, x) == (1.0, 1.0)
    assert PR.precision_recall(torch.from_numpy(x).float(), torch.from_numpy(x.copy())) == (1.0, 1.0)


def test_a_mode_dropped_copy_keeps_precision_and_loses_recall():
    real = clusters(100, CENTRES, 1.0, seed=0)
    copy = real[:200]  # the real points of clusters 0 and 1 only
    assert PR.precision_recall(real, copy) == (1.0, 2 / 5)
    fresh = clusters(100, CENTRES[:2], 1.0, seed=1)  # new draws from those two clusters
    precision, recall = PR.precision_recall(real, fresh)
    full_precision, full_recall = PR.precision_recall(real, clusters(100, CENTRES, 1.0, seed=1))
    assert precision > 0.9 and full_precision > 0.9  # what G makes still looks real ...
    assert recall <= 0.4 < 0.9 < full_recall  # ... but three of five modes are missing


def test_shifted_or_noisy_samples_lose_precision():
    real = clusters(100, CENTRES, 1.0, seed=0)
    same = PR.precision_recall(real, clusters(100, CENTRES, 1.0, seed=1))[0]
    shifted = PR.precision_recall(real, clusters(100, CENTRES + 6.0, 1.0, seed=1))[0]
    noisy = [PR.precision_recall(real, clusters(100, CENTRES, s, seed=1))[0] for s in (1.5, 2.5, 4.0)]
    assert same > 0.9 and shifted < 0.05
    assert same > noisy[0] > noisy[1] > noisy[2] and noisy[2] < 0.4


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("k", [1, 3])
def test_fast_equals_the_plain_loop_reference(seed, k):
    rng = np.random.default_rng(seed)
    real, fake = rng.normal(size=(13, 3)), rng.normal(size=(9, 3)) + 0.5
    want = brute_force(real, fake, k)
    assert PR.precision_recall(real, fake, k) == want
    assert PR.precision_recall(real, fake, k, max_block=5) == want  # one row per block
    # small integers: every distance is exact in float64, so ties (and duplicate points) are decided alike
    real_i, fake_i = rng.integers(0, 3, size=(15, 2)).astype(float), rng.integers(0, 4, size=(11, 2)).astype(float)
    assert PR.precision_recall(real_i, fake_i, k, max_block=7) == brute_force(real_i, fake_i, k)


def test_distances_are_computed_in_blocks_of_bounded_size(monkeypatch):
    sizes = []
    original = PR.squared_distances

    def recording(a, b):
        sizes.append(len(a) * len(b))
        return original(a, b)

    monkeypatch.setattr(PR, "squared_distances", recording)
    real, fake = clusters(30, CENTRES, 1.0, 0), clusters(20, CENTRES, 1.0, 1)  # 150 and 100 points
    small = PR.precision_recall(real, fake, max_block=1000)
    assert max(sizes) <= 1000 and len(sizes) > 3
    monkeypatch.setattr(PR, "squared_distances", original)
    assert small == PR.precision_recall(real, fake)  # blocking changes nothing


def test_radii_skip_the_point_itself_even_beside_duplicates():
    x = torch.tensor([[0.0], [0.0], [1.0], [3.0]], dtype=torch.float64)
    # other points' squared distances: 0 -> (0, 1, 9), 0 -> (0, 1, 9), 1 -> (1, 1, 4), 3 -> (4, 9, 9)
    assert PR.knn_radii(x, 1).tolist() == [0.0, 0.0, 1.0, 4.0]
    assert PR.knn_radii(x, 3).tolist() == [9.0, 9.0, 4.0, 9.0]


def test_too_few_points_and_mismatched_widths_are_user_errors():
    with pytest.raises(UserError, match="more than 3 generated"):
        PR.precision_recall(np.zeros((10, 2)), np.zeros((3, 2)))
    with pytest.raises(UserError, match="same width"):
        PR.precision_recall(np.zeros((10, 2)), np.zeros((10, 3)))


# ---------------------------------------------------------------- in FID's features


def test_scores_share_the_fake_features_with_fid(small_mnist, monkeypatch):  # noqa: F811
    ext = FE.load_or_train_extractor("mnist", small_mnist)
    train, _ = D.load_image_dataset("mnist", "train", small_mnist)
    fake = to_unit_range(train[:120])
    calls = []
    features = ext.features

    def counting(images, *args, **kwargs):
        calls.append(len(images))
        return features(images, *args, **kwargs)

    monkeypatch.setattr(ext, "features", counting)
    fid, pr = FD.scores_of_samples(fake, "mnist", small_mnist, n_real=150, extractor=ext)
    # the real subset once (its statistics and precision/recall share it), the samples once
    assert calls == [150, 120]
    calls.clear()
    again, pr_again = FD.scores_of_samples(fake, "mnist", small_mnist, n_real=150, extractor=ext)
    assert calls == [120] and pr_again == pr  # the real features are cached
    # FID is the same number as without precision and recall
    assert FD.fid_of_samples(fake, "mnist", small_mnist, n_real=150, extractor=ext) == fid == again
    # the same numbers as the metric on features extracted by hand from the same real subset
    real, _ = D.load_image_dataset("mnist", "test", small_mnist)
    subset = real[torch.randperm(len(real), generator=torch.Generator().manual_seed(0))[:150]]
    assert (pr.precision, pr.recall) == PR.precision_recall(features(subset), features(fake), 3)
    for part in ("pr|k:3|", "extractor:mnist-cnn-v1", f"sha:{ext.checksum[:8]}", "real:mnist-test", "nreal:150",
                 "nfake:120", "feat:16"):
        assert part in pr.signature
    assert 0.5 < pr.precision <= 1.0 and 0.0 < pr.recall <= 1.0  # training images against the test split


def test_fid_command_reports_precision_and_recall(small_mnist, tmp_path, run_cli):  # noqa: F811
    test_x, _ = D.load_image_dataset("mnist", "test", small_mnist)
    D.save_image_files(test_x[:60], tmp_path / "fake")
    base = ["fid", "--dataset", "mnist", "--fake", tmp_path / "fake", "--data-dir", small_mnist, "--n-real", "200"]
    res = run_cli([*base, "--json"])
    assert res.code == 0, res.err
    out = json.loads(res.out)
    assert out["precision_recall_signature"].startswith("pr|k:3|") and 0 < out["precision"] <= 1
    text = run_cli([*base, "--k", "5"])
    assert text.code == 0 and text.out.splitlines()[1].startswith("precision ") and "pr|k:5|" in text.out
    off = run_cli([*base, "--no-precision-recall", "--json"])
    assert off.code == 0 and "precision" not in json.loads(off.out)
    assert json.loads(off.out)["fid"] == out["fid"]
    bad = run_cli([*base, "--k", "0"])
    assert bad.code == 2 and len(bad.err_lines) == 1 and "--k" in bad.err


def test_image_runs_report_them_beside_the_final_fid(tiny_mnist, tmp_path, run_cli):
    from tests.test_image_train import TINY

    fid_on = ["--set", "eval.fid=true", "--set", "eval.num_samples=40", "--set", "eval.final_samples=60",
              "--set", "eval.n_real=100", "--data-dir", tiny_mnist]
    res = run_cli(["image-train", *TINY, *fid_on, "--run-dir", tmp_path / "run"])
    assert res.code == 0, res.err
    final = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert 0 <= final["precision"] <= 1 and 0 <= final["recall"] <= 1
    assert final["precision_recall_signature"].startswith("pr|k:3|extractor:mnist-cnn-v1|")
    assert "|nreal:100|nfake:60|feat:16|" in final["precision_recall_signature"]
    # the same numbers as the metric on the run's final samples, in the same features
    from seqgan.core.lifecycle import eval_seed
    from seqgan.image.run import load_image_run

    run = load_image_run(tmp_path / "run", data_dir=tiny_mnist)
    fake = run.sample(60, torch.Generator().manual_seed(eval_seed(run.config)))
    fid, pr = FD.scores_of_samples(fake, "mnist", tiny_mnist, n_real=100)
    assert (final["fid"], final["precision"], final["recall"]) == (fid.value, pr.precision, pr.recall)
    # training-time evaluations (metrics.jsonl) are unchanged: FID only
    assert "precision" not in (tmp_path / "run" / "metrics.jsonl").read_text()
    off = run_cli(["image-train", *TINY, *fid_on, "--set", "eval.precision_recall=false", "--run-dir",
                   tmp_path / "off"])
    assert off.code == 0, off.err
    final_off = json.loads((tmp_path / "off" / "metrics.json").read_text())
    assert "precision" not in final_off and final_off["fid"] == final["fid"]
