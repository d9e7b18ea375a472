"""The image presets: `short` (the default) and `converged`, picked with `--preset` on image-train and image-study.

- **short**: every variant with its paper's defaults at the loss study's fixed budget (the scale's schedule: on
  the CPU, 30 epochs of 6,400 real images, 1-6 minutes on one core). Config names: `mnist-ns`, `fashion-began`.
- **converged**: per variant, the settings under which it trains well and a schedule meant to reach its FID
  plateau (FID changing by less than 1% between the last two evaluations) on one CPU core, within 15 minutes
  where that sufficed in our runs, else a documented longer schedule. Config names get a `-converged` suffix
  (`mnist-ns-converged`). Each row of `CONVERGED` names only what differs from the short preset and why; an
  epoch still holds 6,400 real images (iterations per epoch follow the batch size and n_critic), FID is
  evaluated on 5,000 samples every 10 epochs. On `--scale gpu` the nets and optimizers change the same way and
  the GPU schedule (300 CPU epochs' worth of images) stays.

This module holds data only; `seqgan.image.config.image_config` applies it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from seqgan.base.errors import UserError

PRESETS = ("short", "converged")
IMAGES_PER_EPOCH = 6400  # the CPU scale's epoch: 100 D batches of 64
CONVERGED_EVAL_EVERY = 10
CONVERGED_EVAL_SAMPLES = 5000  # fewer samples make FID noisier than the 1% plateau test can bear


@dataclass(frozen=True)
class Converged:
    """What the converged preset changes for one variant.

    Args:
        epochs: CPU epochs (of IMAGES_PER_EPOCH real images each).
        why: one line for the docs: what changed and why.
        variant: fields of the variant's `Variant` replaced (lr, g_lr, betas, n_critic, d_batch_norm, ...).
        model: fields of ImageModelConfig.
        train: fields of ImageTrainConfig.
    """

    epochs: int
    why: str
    variant: dict = field(default_factory=dict)
    model: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)


STANDARD = 150  # epochs where the NS loss levels off on MNIST (its 2,000-sample FID within 204-218 from 115 on)

CONVERGED: dict[str, Converged] = {
    "mm": Converged(STANDARD, "D's learning rate a quarter of G's (5e-5 vs 2e-4), same nets as NS: at 2e-4 D wins "
                    "in the first epoch and the saturating G loss then has almost no gradient",
                    variant={"lr": 5e-5, "g_lr": 2e-4}),
    "ns": Converged(STANDARD, "the short preset's settings, trained to the plateau"),
    "lsgan": Converged(STANDARD, "the short preset's settings, trained to the plateau"),
    "hinge": Converged(STANDARD, "the short preset's settings, trained to the plateau"),
    "lsgan-qi": Converged(STANDARD, "the short preset's settings, trained to the plateau"),
    "dragan": Converged(200, "the short preset's settings; it starts slower than NS (FID 627 vs 363 at epoch 30)"),
    "vae": Converged(200, "the short preset's settings, trained to the plateau"),
    # the paper's optimizers with a fifth of the G steps per real image: longer than 15 minutes
    "wgan": Converged(400, "the paper's RMSProp 5e-5 and clipping, longer: FID still fell by ~13% per 5 epochs "
                      "at epoch 30 (600 G steps); about 16 minutes on one core"),
    "wgan-gp": Converged(300, "the paper's Adam 1e-4 (0, 0.9), longer: its FID still fell 3% per 5 epochs at "
                         "epoch 150 (11 minutes); about 22 minutes on one core"),
    "began": Converged(60, "BEGAN's own nets (conv + ELU, no batch norm; width 16), the paper's batch of 16 and "
                       "h = N_z = 64; 400 steps per epoch",
                       model={"net": "began", "width": 16, "latent_dim": 64, "code_dim": 64},
                       train={"batch_size": 16}),
    "cgan": Converged(STANDARD, "the short preset's settings, trained to the plateau"),
    "acgan": Converged(STANDARD, "the short preset's settings, trained to the plateau"),
    "infogan": Converged(STANDARD, "the paper's separate Q head (FC 128, batch norm, LeakyReLU 0.1) on D's "
                         "features and its 62 noise variables",
                         model={"q_hidden": 128, "latent_dim": 62}),
    "ssgan": Converged(STANDARD, "feature matching for G (Salimans et al.) on D's last conv features",
                       train={"feature_matching": True}),
    "bigan": Converged(120, "ALI's joint D: z through two layers of 512, two joint layers of 1024, dropout 0.2; "
                       "a latent of 50 as BiGAN's MNIST setting",
                       model={"joint_z_hidden": 512, "joint_hidden": 1024, "joint_layers": 2, "joint_dropout": 0.2,
                              "latent_dim": 50}),
    "lapgan": Converged(STANDARD, "Denton et al.'s per-level nets: coarse MLPs (1200 / 600 units, dropout) and "
                        "5x5 conv G_k and D_k", model={"lapgan_nets": "denton"}),
}


def converged(loss: str) -> Converged:
    """The converged preset's row of `loss` (a UserError naming the variants that have one)."""
    if loss not in CONVERGED:
        raise UserError(f"--preset converged has no settings for {loss!r}; it has {', '.join(CONVERGED)}")
    return CONVERGED[loss]


def check_preset(preset: str) -> str:
    """`preset` if it is a known preset name, else a UserError listing them."""
    if preset not in PRESETS:
        raise UserError(f"unknown preset {preset!r}; use {' or '.join(PRESETS)}")
    return preset
