"""Image experiment configuration: frozen dataclasses, presets per (dataset, loss, scale), `--set` overrides.

Built on `seqgan.core.config`: every section validates itself with a message that says the fix, overrides are
typed and unknown keys name the closest known ones, and the config round-trips through JSON. A preset copies the
variant's paper defaults (optimizer, n_critic, penalty, clipping, batch norm in D) into the config, so
config.json shows every number the run used.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar

from seqgan.base.errors import UserError
from seqgan.core.config import RunConfig, apply_overrides, check
from seqgan.image.variants import OPTIMIZERS, VARIANTS

IDX_DATASETS = ("mnist", "fashion_mnist")
NET_NAMES = ("dcgan", "mlp", "pytorch-gan-dcgan", "began", "infogan", "salimans-mlp")


@dataclass(frozen=True)
class ImageDataConfig:
    """Where the training images come from."""

    dataset: str = "mnist"  # mnist, fashion_mnist, or "folder" (with image_dir)
    image_dir: str = ""  # a folder of .png/.jpg/... files (dataset "folder")
    image_size: int = 0  # 0 = the dataset's own (28 for MNIST/Fashion, 32 for a folder); else resized
    channels: int = 0  # 0 = the dataset's own (1 for MNIST/Fashion, 3 for a folder)
    limit: int = 0  # train on the first N images only (0 = all)

    def __post_init__(self) -> None:
        check(self.dataset in (*IDX_DATASETS, "folder"),
               f"data.dataset must be mnist, fashion_mnist or folder, not {self.dataset!r}")
        check(self.dataset != "folder" or bool(self.image_dir),
               "data.dataset=folder needs data.image_dir (or pass --image-dir DIR)")
        check(self.image_size == 0 or self.image_size >= 8, "data.image_size must be 0 (native) or >= 8")
        check(self.channels in (0, 1, 3), "data.channels must be 0 (native), 1 or 3")
        check(self.limit >= 0, "data.limit must be >= 0 (0 = all images)")


@dataclass(frozen=True)
class ImageModelConfig:
    """The nets: which family, latent size, width and batch norm."""

    net: str = "dcgan"  # dcgan (conv, any size), mlp, pytorch-gan-dcgan (PyTorch-GAN's dcgan.py nets)
    latent_dim: int = 100
    width: int = 64  # dcgan: channels of G's last / D's first conv stage
    g_batch_norm: bool = True
    d_batch_norm: bool = True  # the preset takes the variant's (off for WGAN-GP, DRAGAN, BEGAN, VAE)
    code_dim: int = 64  # BEGAN: size of the autoencoder's code
    joint_features: int = 256  # BiGAN: F, the image features D's body passes to its (x, z) MLP
    classes: int = 10  # CGAN, ACGAN, SSGAN: K, the dataset's label classes; InfoGAN: values of the categorical code
    continuous_codes: int = 2  # InfoGAN: continuous codes U(-1, 1) (2 on MNIST, as the paper)
    q_hidden: int = 0  # InfoGAN: hidden units of Q's own head on D's features (paper: 128); 0 = Q is D's outputs
    joint_z_hidden: int = 0  # BiGAN: width of D's two-layer path for z before the join (0 = z joins as it is)
    joint_hidden: int = 256  # BiGAN: width of D's joint layers on [image features, z features]
    joint_layers: int = 1  # BiGAN: number of joint hidden layers
    joint_dropout: float = 0.0  # BiGAN: dropout in D's joint and z layers (ALI: 0.2)
    # LAPGAN: each level's nets: "compact" (model.net's nets where they fit, the MLP below 16x16, 3x3 conv G_k) or
    # "denton" (Denton et al.'s: coarse MLPs of 1200 / 600 units with dropout, 5x5 conv G_k and D_k; lapgan_nets.py)
    lapgan_nets: str = "compact"

    def __post_init__(self) -> None:
        check(self.net in NET_NAMES, f"model.net must be one of {', '.join(NET_NAMES)}, not {self.net!r}")
        check(self.latent_dim >= 1 and self.width >= 1 and self.code_dim >= 1 and self.joint_features >= 1,
               "model.latent_dim, model.width, model.code_dim and model.joint_features must be >= 1")
        check(self.classes >= 2 and self.continuous_codes >= 0,
               "model.classes must be >= 2 and model.continuous_codes >= 0")
        check(self.q_hidden >= 0 and self.joint_z_hidden >= 0 and self.joint_hidden >= 1 and self.joint_layers >= 1,
               "model.q_hidden and model.joint_z_hidden must be >= 0, model.joint_hidden and model.joint_layers >= 1")
        check(0 <= self.joint_dropout < 1, "model.joint_dropout must be in [0, 1)")
        check(self.lapgan_nets in ("compact", "denton"), "model.lapgan_nets must be compact or denton")


@dataclass(frozen=True)
class ImageTrainConfig:
    """The variant and its optimisation: loss, optimizer, n_critic, penalty, clipping, BEGAN's controller."""

    loss: str = "ns"  # a key of seqgan.image.variants.VARIANTS
    optimizer: str = "adam"  # adam or rmsprop
    g_lr: float = 2e-4
    d_lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    n_critic: int = 1  # D steps before each G step
    batch_size: int = 64
    penalty_weight: float = 0.0  # lambda of the variant's gradient penalty (WGAN-GP, DRAGAN)
    clip: float = 0.0  # WGAN: clip D's weights to [-clip, clip] (0 = off)
    weight_decay: float = 0.0  # L2 weight decay of both optimizers (LS-GAN's Lipschitz condition; 0 = off)
    margin_scale: float = 0.0  # LS-GAN: tau of the margin tau * |x - G(z)|_1 (unused by the other losses)
    began_gamma: float = 0.5
    began_lambda_k: float = 0.001
    info_weight: float = 1.0  # InfoGAN's lambda on L_I, in D's (Q's) and G's loss (Chen et al.: 1)
    info_cont_weight: float = 1.0  # weight of the continuous codes' Gaussian NLL in L_I (authors' MNIST code: 1)
    labelled: int = 100  # SSGAN: labelled training images, balanced over the classes, picked with the seed
    # SSGAN: weight of the GAN terms in D's loss; 0 = D trained on the labelled images only (the baseline)
    unsupervised_weight: float = 1.0
    # SSGAN: G matches the mean of D's last hidden features on real and generated images (Salimans et al.,
    # Section 3.1) instead of the non-saturating loss
    feature_matching: bool = False
    # forward passes of G and D: fp32, bf16 (autocast; weights, optimizers, losses and penalties stay fp32), or
    # auto = bf16 where the hardware multiplies bf16 fast (AVX512-BF16/AMX CPUs, bf16 CUDA)
    precision: str = "fp32"

    def __post_init__(self) -> None:
        check(self.loss in VARIANTS, f"train.loss must be one of {', '.join(VARIANTS)}, not {self.loss!r}")
        check(self.optimizer in OPTIMIZERS, f"train.optimizer must be one of {', '.join(OPTIMIZERS)}")
        check(self.g_lr > 0 and self.d_lr > 0, "train.g_lr and train.d_lr must be > 0")
        check(0 <= self.beta1 < 1 and 0 <= self.beta2 < 1, "train.beta1 and train.beta2 must be in [0, 1)")
        check(self.batch_size >= 2, "train.batch_size must be >= 2 (batch norm needs two images)")
        check(self.n_critic >= 0, "train.n_critic must be >= 0")
        check(self.n_critic >= 1 or VARIANTS[self.loss].pair == "vae",
               f"train.n_critic must be >= 1 for {self.loss} (only the VAE trains without D steps)")
        check(self.penalty_weight >= 0 and self.clip >= 0, "train.penalty_weight and train.clip must be >= 0")
        check(self.weight_decay >= 0 and self.margin_scale >= 0,
               "train.weight_decay and train.margin_scale must be >= 0")
        check(self.precision in ("fp32", "bf16", "auto"), "train.precision must be fp32, bf16 or auto")
        check(0 < self.began_gamma <= 1 and self.began_lambda_k >= 0,
               "train.began_gamma must be in (0, 1] and train.began_lambda_k >= 0")
        check(self.info_weight >= 0 and self.info_cont_weight >= 0,
               "train.info_weight and train.info_cont_weight must be >= 0")
        check(self.labelled >= 1 and self.unsupervised_weight >= 0,
               "train.labelled must be >= 1 and train.unsupervised_weight >= 0")


@dataclass(frozen=True)
class ImageScheduleConfig:
    """How long: epochs of `iters_per_epoch` iterations, each n_critic D steps then one G step."""

    epochs: int = 20
    iters_per_epoch: int = 100
    eval_every: int = 5  # epochs between FID evaluations (also at the end)
    checkpoint_every_s: float = 60.0
    keep_snapshots: int = 0  # generator snapshots kept: the newest this many plus the best (lowest FID); 0 = all

    def __post_init__(self) -> None:
        check(self.keep_snapshots >= 0, "schedule.keep_snapshots must be >= 0 (0 = keep every snapshot)")
        check(self.epochs >= 0 and self.iters_per_epoch >= 1, "schedule.epochs must be >= 0 and "
               "schedule.iters_per_epoch >= 1")
        check(self.eval_every >= 1 and self.checkpoint_every_s >= 0,
               "schedule.eval_every must be >= 1 and schedule.checkpoint_every_s >= 0")


@dataclass(frozen=True)
class ImageEvalConfig:
    """FID during and after training (eval.fid; a small CNN classifier's features, see eval/fid.py), and precision
    and recall beside the final FID (eval/precision_recall.py, in the same features)."""

    fid: bool = True
    num_samples: int = 2000  # generated images per FID during training
    final_samples: int = 10_000  # generated images for the final FID (metrics.json)
    n_real: int = 10_000  # real test images the FID compares with
    precision_recall: bool = True  # precision and recall (k-NN manifolds) beside the final FID in metrics.json
    pr_k: int = 3  # their neighbourhood size k (Kynkäänniemi et al.: 3)

    def __post_init__(self) -> None:
        check(self.num_samples >= 2 and self.final_samples >= 2, "eval.num_samples and eval.final_samples must "
               "be >= 2")
        check(self.n_real >= 0, "eval.n_real must be >= 0 (0 = the whole test split)")
        check(self.pr_k >= 1, "eval.pr_k must be >= 1 (the k of the k-NN manifolds; 3 is the paper's)")


@dataclass(frozen=True)
class ImageConfig(RunConfig):
    """Everything that defines an image run; saved in run_dir/config.json."""

    KEYS_COMMAND: ClassVar[str] = "seqgan image-train --keys"  # named in unknown-key errors
    EXAMPLE_OVERRIDE: ClassVar[str] = "schedule.epochs=10"

    name: str = "mnist-ns"
    data: ImageDataConfig = field(default_factory=ImageDataConfig)
    model: ImageModelConfig = field(default_factory=ImageModelConfig)
    train: ImageTrainConfig = field(default_factory=ImageTrainConfig)
    schedule: ImageScheduleConfig = field(default_factory=ImageScheduleConfig)
    eval: ImageEvalConfig = field(default_factory=ImageEvalConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.data.dataset != "folder" or not self.eval.fid,
               "FID needs a dataset with a trained feature extractor (mnist, fashion_mnist); for a folder of "
               "images use --set eval.fid=false and score samples with `seqgan fid --real DIR --fake DIR`")
        variant = VARIANTS[self.train.loss]
        check(self.model.net != "pytorch-gan-dcgan" or variant.pair in ("gan", "cgan"),
               f"model.net=pytorch-gan-dcgan has no encoder form (its D gives one score) for {self.train.loss}; "
               "use dcgan or mlp")
        check(self.data.dataset != "folder" or not variant.labels,
               f"--loss {self.train.loss} trains on class labels, which a folder of images does not have; use "
               "--dataset mnist or fashion_mnist, or --loss infogan (no labels)")
        check(not self.train.feature_matching or variant.pair == "ssgan",
               f"train.feature_matching is SSGAN's G objective; --loss {self.train.loss} does not use it")
        check(variant.pair != "ssgan" or self.train.labelled % self.model.classes == 0,
               f"train.labelled={self.train.labelled} must be a multiple of model.classes={self.model.classes} "
               f"(balanced classes); use e.g. {self.model.classes * 10}")


def apply_image_overrides(config: ImageConfig, overrides: list[str]) -> ImageConfig:
    """Apply `a.b=value` overrides with type checks, all before validation (`seqgan.core.config.apply_overrides`).

    Args:
        config: the preset.
        overrides: strings like "schedule.epochs=10" or "train.d_lr=1e-4".
    """
    return apply_overrides(config, overrides)


# ---------------------------------------------------------------- presets

# Every variant of a scale reads the same number of real images (Lucic et al. train each loss for a fixed number
# of epochs): an epoch is `iters_per_epoch` D batches, so a variant with n_critic = 5 makes a fifth of the G steps.
# CPU: a DCGAN of width 32, 30 epochs of 100 D batches (192,000 real images, 3.2 passes over MNIST), bf16 products
# where the CPU has them; FID on 2,000 samples every 5 epochs and on 10,000 at the end. 1-3.5 min per run on one
# core of the 2-core machine (results/image_study/*/summary.json has each run's time; NS converges in about
# 4x this budget, WGAN-GP not in 5x: see the README).
CPU_MODEL = ImageModelConfig(net="dcgan", width=32)
CPU_SCHEDULE = ImageScheduleConfig(epochs=30, iters_per_epoch=100, eval_every=5)
# GPU: DCGAN width 64, 60 epochs of 500 D batches (1.92 M real images, 32 passes over MNIST), FID on 10,000
# samples every 10 epochs.
GPU_MODEL = ImageModelConfig(net="dcgan", width=64)
GPU_SCHEDULE = ImageScheduleConfig(epochs=60, iters_per_epoch=500, eval_every=10)
SCALES = {"cpu": (CPU_MODEL, CPU_SCHEDULE, ImageEvalConfig(num_samples=2000)),
          "gpu": (GPU_MODEL, GPU_SCHEDULE, ImageEvalConfig(num_samples=10_000))}


def image_config(dataset: str = "mnist", loss: str = "ns", scale: str = "cpu", net: str | None = None,
                 image_dir: str = "", preset: str = "short") -> ImageConfig:
    """The preset for a (dataset, loss, scale): the scale's nets and schedule with the variant's paper defaults,
    and with preset "converged" the changes `seqgan.image.presets.CONVERGED` lists for the variant.

    Args:
        dataset: mnist, fashion_mnist or folder.
        loss: a key of VARIANTS.
        scale: "cpu" (minutes on 2 cores) or "gpu" (a longer schedule and a wider net).
        net: a net name to use instead of the preset's (dcgan, mlp, pytorch-gan-dcgan, began).
        image_dir: the folder of images when dataset is "folder".
        preset: "short" (the loss study's fixed budget) or "converged" (seqgan.image.presets).
    """
    from seqgan.image.presets import CONVERGED_EVAL_EVERY, CONVERGED_EVAL_SAMPLES, check_preset, converged

    if loss not in VARIANTS:
        raise UserError(f"unknown loss {loss!r}; known: {', '.join(VARIANTS)}")
    if scale not in SCALES:
        raise UserError(f"unknown scale {scale!r}; use cpu or gpu")
    change = converged(loss) if check_preset(preset) == "converged" else None
    v = VARIANTS[loss] if change is None else replace(VARIANTS[loss], **change.variant)
    model, schedule, evaluation = SCALES[scale]
    # an explicit --net wins over the preset's (BEGAN's and InfoGAN's converged rows name their papers' nets)
    model = replace(model, d_batch_norm=v.d_batch_norm, **{**(change.model if change else {}),
                                                           **({"net": net} if net else {})})
    train = ImageTrainConfig(loss=loss, optimizer=v.optimizer, g_lr=v.g_lr or v.lr, d_lr=v.lr, beta1=v.betas[0],
                             beta2=v.betas[1], n_critic=v.n_critic, penalty_weight=v.penalty_weight, clip=v.clip,
                             weight_decay=v.weight_decay, margin_scale=v.margin_scale, precision="auto",
                             **(change.train if change else {}))
    # every variant reads the same real images per epoch: the scale's batches of the default size, over
    # n_critic D steps per iteration and the variant's batch size
    images = schedule.iters_per_epoch * ImageTrainConfig.batch_size
    schedule = replace(schedule, iters_per_epoch=max(1, images // (train.batch_size * max(v.n_critic, 1))))
    if change is not None:
        evaluation = replace(evaluation, num_samples=max(evaluation.num_samples, CONVERGED_EVAL_SAMPLES))
        if scale == "cpu":
            schedule = replace(schedule, epochs=change.epochs, eval_every=CONVERGED_EVAL_EVERY)
    short = {"fashion_mnist": "fashion"}.get(dataset, dataset)
    name = f"{short}-{loss}" + ("" if scale == "cpu" else f"-{scale}") + ("" if change is None else "-converged")
    return ImageConfig(name=name, data=ImageDataConfig(dataset=dataset, image_dir=image_dir),
                       model=model, train=train, schedule=schedule,
                       eval=replace(evaluation, fid=dataset != "folder"))
