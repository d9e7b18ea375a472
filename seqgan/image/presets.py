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
SAME = "the short preset's settings, trained to the plateau"

# minutes: one core of the 2-core machine, from the short preset's timings (results/image_study) and step costs
CONVERGED: dict[str, Converged] = {
    "mm": Converged(STANDARD, "D's learning rate a quarter of G's (5e-5 vs 2e-4), the same nets as NS: at 2e-4 D "
                    "wins in the first epoch and the saturating G loss then has almost no gradient (~10 min)",
                    variant={"lr": 5e-5, "g_lr": 2e-4}),
    "ns": Converged(STANDARD, SAME + " (~10 min)"),
    "lsgan": Converged(STANDARD, SAME + " (~10 min)"),
    "hinge": Converged(STANDARD, SAME + " (~10 min)"),
    "lsgan-qi": Converged(STANDARD, SAME + " (~10 min)"),
    "dragan": Converged(STANDARD, SAME + " (~15 min)"),
    "vae": Converged(200, SAME + " (~8 min)"),
    # the paper's optimizers with a fifth of the G steps per real image need longer than 15 minutes
    "wgan": Converged(400, "the paper's RMSProp 5e-5 and clipping, longer: its FID still fell by ~13% per 5 "
                      "epochs at epoch 30 (~16 min)"),
    "wgan-gp": Converged(300, "the paper's Adam 1e-4 (0, 0.9), longer: its FID still fell by 3% per 5 epochs at "
                         "epoch 150 (~22 min)"),
    "began": Converged(30, "BEGAN's own nets (3x3 conv + ELU, no batch norm, Glorot initialisation, width 16, G "
                       "ending linear), the paper's batch of 16 and h = N_z = 64; 400 steps per epoch (~16 min)",
                       model={"net": "began", "width": 16, "latent_dim": 64, "code_dim": 64},
                       train={"batch_size": 16}),
    "cgan": Converged(STANDARD, SAME + " (~11 min)"),
    "acgan": Converged(STANDARD, SAME + " (~10 min)"),
    # with the DCGAN nets the code matched the digit for 0.24 of samples after 10 epochs; with the paper's nets
    # 0.53 after 10, 0.67 after 20, 0.79 after 30, 0.85 after 40 and still rising (seed 1, 2,000 samples)
    "infogan": Converged(80, "the paper's nets (`--net infogan`: FC 1024 layers, LeakyReLU 0.1), its own Q head on "
                         "D's features (FC 128, batch norm, LeakyReLU 0.1, FC) and its 62 noise variables; each "
                         "step costs about 5 DCGAN steps (~80 min)",
                         model={"net": "infogan", "q_hidden": 128, "latent_dim": 62}),
    # with the DCGAN nets: test accuracy 0.913 after 10 epochs with the NS G, 0.838 with feature matching (0.842
    # after 20); with the InfoGAN paper's nets and the NS G: 0.933 after 5, 0.946 after 10 (seed 1)
    "ssgan": Converged(60, "the InfoGAN paper's MNIST nets (`--net infogan`; Lucic et al.'s too) with the NS G: "
                       "feature matching did worse on our nets; a step costs about 5 DCGAN steps (~60 min)",
                       model={"net": "infogan"}),
    # with the DCGAN nets the classifier read G(E(x)) as x's digit at chance level (0.10 after 10 epochs without
    # batch norm in D); with the InfoGAN paper's nets 0.42 after 5 epochs (seed 1)
    "bigan": Converged(60, "the InfoGAN paper's MNIST nets for G, E and D's image body (BiGAN's MNIST nets are "
                       "alike: FC 1024 layers), ALI's joint D (Dumoulin et al.): z through two layers of 512, two "
                       "joint layers of 1024, dropout 0.2; BiGAN's latent size for MNIST, 50 (~60 min)",
                       model={"net": "infogan", "joint_z_hidden": 512, "joint_hidden": 1024, "joint_layers": 2,
                              "joint_dropout": 0.2, "latent_dim": 50}),
    # Denton et al.'s nets (model.lapgan_nets=denton) learned more slowly in a 5-epoch check (FID 2,867 vs 1,437)
    # at six times NS's step cost, so the converged preset keeps ours
    "lapgan": Converged(100, SAME + "; each step costs 2.6 NS steps (~16 min)"),
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
