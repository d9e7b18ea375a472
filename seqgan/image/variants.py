"""The GAN variants of Lucic et al.'s study (and hinge, and a VAE): each a loss, a pair type, and its paper's defaults.

A variant only names things: the loss comes from `seqgan.core.losses.LOSSES`, the penalty from `PENALTIES`, the
optimizer from `OPTIMIZERS`, and the pair type ("gan", "began", "vae", "cgan", "acgan", "infogan", "ssgan",
"bigan", "lapgan") picks the `GANPair` file that trains it.
`seqgan.image.config.image_config` copies these defaults into a run's config, where `--set` can change them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Variant:
    """One GAN variant with its paper's defaults.

    Args:
        description: one line for help and tables.
        pair: "gan" (a loss from LOSSES, seqgan.image.image_pair), "began" or "vae" (their own pair files), "cgan",
            "acgan" or "infogan" (seqgan.image.conditional), "ssgan" (seqgan.image.ssgan), "bigan"
            (seqgan.image.bigan) or "lapgan" (seqgan.image.lapgan).
        loss: key of LOSSES for the pairs "gan", "cgan", "acgan", "infogan", "ssgan", "bigan" and
            "lapgan".
        penalty: key of PENALTIES, or "" for none.
        penalty_weight: the penalty's lambda.
        clip: weight clipping of D's parameters to [-clip, clip] after each D step (0 = none).
        optimizer: key of OPTIMIZERS.
        lr: learning rate of D (and of G unless g_lr is set).
        g_lr: G's learning rate when it differs from D's (0 = lr).
        betas: Adam's (beta1, beta2); RMSProp ignores them.
        weight_decay: L2 weight decay of both nets' optimizers (added to the gradient, as Qi's code does).
        margin_scale: the scale tau of a loss's data-dependent margin (LS-GAN); 0 for the losses without one.
        n_critic: D steps per G step (0: no D, e.g. the VAE).
        d_batch_norm: batch norm in D.
        labels: trains on class labels (needs a labelled dataset, not a folder of images).
        class_metric: key of eval.class_metrics.METRICS logged beside FID ("" = none).
        pair_metric: key of seqgan.image.run.PAIR_METRICS, a score of the pair's own nets logged beside FID
            (SSGAN: test_accuracy of D's classifier; BiGAN: latent_recon_mse of E(G(z))); "" = none.
    """

    description: str
    pair: str = "gan"
    loss: str = "non-saturating"
    penalty: str = ""
    penalty_weight: float = 0.0
    clip: float = 0.0
    optimizer: str = "adam"
    lr: float = 2e-4
    g_lr: float = 0.0
    betas: tuple[float, float] = (0.5, 0.999)
    weight_decay: float = 0.0
    margin_scale: float = 0.0
    n_critic: int = 1
    d_batch_norm: bool = True
    labels: bool = False
    class_metric: str = ""
    pair_metric: str = ""


# DCGAN's optimizer (Radford et al.): Adam 2e-4, beta1 0.5; the defaults of MM, NS, LSGAN and hinge.
VARIANTS: dict[str, Variant] = {
    "mm": Variant("minimax GAN (Goodfellow et al., 2014): saturating G loss log(1 - D(G(z)))", loss="minimax"),
    "ns": Variant("non-saturating GAN: G loss -log D(G(z))", loss="non-saturating"),
    "wgan": Variant("WGAN (Arjovsky et al., 2017): critic with weights clipped to [-0.01, 0.01], RMSProp 5e-5, "
                    "5 critic steps", loss="wasserstein", clip=0.01, optimizer="rmsprop", lr=5e-5, n_critic=5),
    "wgan-gp": Variant("WGAN-GP (Gulrajani et al., 2017): gradient penalty lambda 10, Adam 1e-4 (0, 0.9), 5 critic "
                       "steps, no batch norm in the critic", loss="wasserstein", penalty="gradient",
                       penalty_weight=10.0, lr=1e-4, betas=(0.0, 0.9), n_critic=5, d_batch_norm=False),
    "lsgan": Variant("LSGAN (Mao et al., 2017): least squares with a=0, b=c=1", loss="least-squares"),
    # the authors' code: NS loss, perturbation 0.5 * std(x), lambda 10, Adam 1e-4 (0.5, 0.9); no BN in D
    # because the penalty is on per-image gradients
    "dragan": Variant("DRAGAN (Kodali et al., 2017): NS loss + unit-gradient penalty around perturbed real data",
                      loss="non-saturating", penalty="dragan", penalty_weight=10.0, lr=1e-4, betas=(0.5, 0.9),
                      d_batch_norm=False),
    "hinge": Variant("hinge GAN (Lim & Ye, 2017; Miyato et al., 2018)", loss="hinge"),
    # Qi's lsgan.lua: Adam 1e-4, beta1 0.5, one loss-function step per G step, BN in D; the margin is
    # tau * |x - G(z)|_1 summed over pixels with tau 2e-4 (its `lambda`, "actually tau in the original paper"),
    # and the E[L(x)] term is off (gamma 0). The Lipschitz condition on L_theta is kept by weight decay, the
    # paper's choice ("we adopt weight decay for its simplicity"; the gradient penalty is only its
    # alternative); its size, 5e-5 on both nets, is the value the code's comment gives
    "lsgan-qi": Variant("LS-GAN, loss-sensitive (Qi, 2017): a loss L(x) = softplus(D(x)) >= 0 trained so real "
                        "images beat generated ones by a margin tau |x - G(z)|_1 (tau 2e-4), G minimises "
                        "E[L(G(z))]; weight decay 5e-5 for the Lipschitz condition, Adam 1e-4",
                        loss="loss-sensitive", lr=1e-4, weight_decay=5e-5, margin_scale=2e-4),
    "began": Variant("BEGAN (Berthelot et al., 2017): autoencoder D, L1 reconstruction, k_t equilibrium with "
                     "gamma 0.5, lambda_k 0.001; Adam 1e-4", pair="began", lr=1e-4, d_batch_norm=False),
    "vae": Variant("VAE (Kingma & Welling, 2014): G as decoder, D's body as encoder, Bernoulli likelihood; "
                   "Adam 1e-3, no D steps", pair="vae", lr=1e-3, betas=(0.9, 0.999), n_critic=0,
                   d_batch_norm=False),
    # DCGAN's Adam and the NS loss (swappable through `loss`); ACGAN's paper uses this Adam too, CGAN's used SGD
    # with momentum; InfoGAN's MNIST setting (paper's appendix, authors' code) is Adam 2e-4 for D, 1e-3 for G
    "cgan": Variant("CGAN (Mirza & Osindero, 2014): G and D both see the class, G as a one-hot beside z, D as K "
                    "constant label planes beside the image; NS loss", pair="cgan", labels=True,
                    class_metric="class_accuracy"),
    "acgan": Variant("ACGAN (Odena et al., 2017): G sees the class, D predicts source and class (cross-entropy on "
                     "real and generated images); NS loss", pair="acgan", labels=True, class_metric="class_accuracy"),
    "infogan": Variant("InfoGAN (Chen et al., 2016): a 10-way categorical and 2 U(-1, 1) codes beside z, a Q head "
                       "on D's body recovers them (mutual-information bound, lambda 1); no labels; NS loss, "
                       "Adam 1e-3 for G and 2e-4 for D", pair="infogan", g_lr=1e-3, class_metric="code_accuracy"),
    # Salimans et al. train with Adam too (their code: 3e-4, beta1 0.5); we keep DCGAN's for comparability
    "ssgan": Variant("SSGAN (Salimans et al., 2016, Section 5): D is a K-class classifier with the fake class's "
                     "logit fixed at 0, trained on train.labelled labelled images + the GAN loss on the rest; NS G "
                     "loss", pair="ssgan", labels=True, pair_metric="test_accuracy"),
    # BiGAN's paper: Adam 2e-4, beta1 0.5 (as DCGAN)
    "bigan": Variant("BiGAN / ALI (Donahue et al., 2017; Dumoulin et al., 2017): an encoder E beside G, D scores "
                     "pairs (x, E(x)) against (G(z), z); E and G share one optimizer; NS loss", pair="bigan",
                     pair_metric="latent_recon_mse"),
    # DCGAN's Adam, as the other variants, for comparability
    "lapgan": Variant("LAPGAN (Denton et al., 2015): a 3-level Laplacian pyramid, an unconditional GAN on the "
                      "quarter-size images and conditional GANs on the residuals h_k = I_k - u(I_{k+1}) given "
                      "u(I_{k+1}), each level trained on real pyramids, sampled coarse to fine; NS loss",
                      pair="lapgan"),
}


# Best FID per loss in Lucic et al. (2018), "Are GANs Created Equal?", as the survey quotes them (Inception
# features; ours are from a small classifier, so compare rankings, not values).
SURVEY_FID: dict[str, dict[str, float]] = {
    "mnist": {"mm": 9.8, "ns": 6.8, "lsgan": 7.8, "wgan": 6.7, "wgan-gp": 20.3, "dragan": 7.6, "began": 13.1,
              "vae": 23.8},
    "fashion_mnist": {"mm": 29.6, "ns": 26.5, "lsgan": 30.7, "wgan": 21.5, "wgan-gp": 24.5, "dragan": 27.7,
                      "began": 22.9, "vae": 58.7},
}


def get_variant(name: str) -> Variant:
    """The variant called `name`; ValueError listing the known ones."""
    if name not in VARIANTS:
        raise ValueError(f"unknown loss {name!r}; known: {', '.join(VARIANTS)}")
    return VARIANTS[name]


# (parameters, learning rate, betas, weight decay) -> optimizer; a weight decay of 0 is the optimizers' default
OptimizerFactory = Callable[[Iterable[torch.nn.Parameter], float, tuple[float, float], float], torch.optim.Optimizer]
OPTIMIZERS: dict[str, OptimizerFactory] = {
    "adam": lambda params, lr, betas, decay: torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=decay),
    # WGAN's RMSProp: PyTorch's defaults (alpha 0.99, eps 1e-8), no momentum
    "rmsprop": lambda params, lr, betas, decay: torch.optim.RMSprop(params, lr=lr, weight_decay=decay),
}
