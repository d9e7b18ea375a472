"""The scores a variant computes of its own nets (a variant's `pair_metric`), logged beside FID: SSGAN's test
accuracy, and BiGAN's latent reconstruction error and (on a labelled dataset) how often G(E(x)) keeps x's class,
each with its signature."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from seqgan.base.version import VERSION
from seqgan.core.lifecycle import eval_seed

if TYPE_CHECKING:  # the run module imports this one
    from seqgan.image.run import ImageRun


def score_test_accuracy(run: ImageRun, n: int) -> dict:
    """SSGAN: accuracy of D's K-way classifier (eval mode) on the dataset's whole test split, with its signature."""
    from eval.class_metrics import class_accuracy
    from seqgan.image.ssgan import classify

    c = run.config
    images, labels = run.test_set()  # (N, C, H, W), (N,)
    value = class_accuracy(labels, classify(run.pair.discriminator, images))
    signature = (f"test_accuracy|dataset:{c.data.dataset}|split:test|n:{len(labels)}|labelled:{c.train.labelled}"
                 f"|pick_seed:{c.seed}|eval_mode|ours:{VERSION}")
    return {"test_accuracy": value, "test_accuracy_signature": signature}


def score_latent_recon_mse(run: ImageRun, n: int) -> dict:
    """BiGAN: mean squared error of E(G(z)) against z on n evaluation latents, with its signature; on a labelled
    dataset also `recon_label_agreement` (`score_recon_label_agreement`)."""
    from seqgan.image.bigan import latent_recon_mse
    from seqgan.image.image_pair import latents

    z = latents(n, run.pair.latent_dim, torch.Generator().manual_seed(eval_seed(run.config)), run.device)  # (n, Z)
    value = latent_recon_mse(run.pair.encoder, run.pair.generator, z)
    signature = (f"latent_recon_mse|n:{n}|z:normal({run.pair.latent_dim})|eval_seed:{eval_seed(run.config)}"
                 f"|eval_mode|ours:{VERSION}")
    scores = {"latent_recon_mse": value, "latent_recon_mse_signature": signature}
    return {**scores, **score_recon_label_agreement(run)} if run.dataset is not None else scores


def score_recon_label_agreement(run: ImageRun) -> dict:
    """BiGAN: the share of the test split's images x whose reconstruction G(E(x)) the FID classifier assigns to
    x's own label (chance 0.1 on MNIST): does E keep what the image shows, not only the prior's spread? With its
    signature (the classifier's)."""
    from eval.class_metrics import classifier_signature
    from seqgan.image.bigan import reconstruct
    from seqgan.image.run import classifier_shaped

    images, labels = run.test_set()  # (N, C, H, W) in the training shape, (N,)
    recon = reconstruct(run.pair.encoder, run.pair.generator, images)  # (N, C, H, W) in [-1, 1] on the CPU
    extractor = run.extractor()
    value = (extractor.predict(classifier_shaped(recon)).cpu() == labels.cpu()).double().mean().item()
    signature = (f"recon_label_agreement|dataset:{run.config.data.dataset}|split:test|n:{len(labels)}"
                 f"|{classifier_signature(extractor)}|eval_mode|ours:{VERSION}")
    return {"recon_label_agreement": value, "recon_label_agreement_signature": signature}


# a variant's pair_metric -> scorer(run, n) -> {name: value, name_signature: ...}
PAIR_METRICS: dict[str, Callable[[ImageRun, int], dict]] = {"test_accuracy": score_test_accuracy,
                                                            "latent_recon_mse": score_latent_recon_mse}
