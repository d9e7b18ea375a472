"""Build an image run from its config, train it (or resume it) through the shared loop, load it to sample.

The run directory is the text runs' one: config.json (resolved config, argv, image shape), metrics.jsonl,
timing.jsonl, run.log, checkpoints/ (last.pt, adversarial.pt, eval-adversarial-E.pt generator snapshots),
metrics.json (final FID with its signature, the class metric of the conditional variants, SSGAN's test_accuracy,
BiGAN's latent_recon_mse) and samples.png
(a grid of 64 samples; one row per class for the conditional variants).
"""

from __future__ import annotations

import json
import resource
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from seqgan.base.errors import UserError
from seqgan.base.outputs import check_run_dir
from seqgan.core.checkpoint import CheckpointError, atomic_write_json, load_checkpoint
from seqgan.core.log import MetricsLog, eval_records, log_line
from seqgan.core.loop import Phase, check_resumable, snapshot_name, train_adversarial
from seqgan.core.losses import LOSSES, PENALTIES
from seqgan.core.protocol import GANPair
from seqgan.core.runtime import pick_device, resolve_precision, seed_everything
from seqgan.image.config import ImageConfig
from seqgan.image.nets import AutoEncoder, NetSpec, architecture, build_nets
from seqgan.image.variants import OPTIMIZERS, VARIANTS, Variant
from seqgan.text.config import check_same_config

if TYPE_CHECKING:  # eval.fid imports the image data module; only the type is needed here
    from eval.fid import FIDResult

from seqgan.base.version import VERSION

PHASE = "adversarial"  # the one phase of an image run (the name text runs use for their GAN phase)
# config keys that may change when a run is resumed (to extend it or evaluate differently)
RESUMABLE_CHANGES = ("schedule.epochs:", "schedule.eval_every:", "schedule.checkpoint_every_s:", "eval.")
GRID_SAMPLES = 64
GRID_PER_CLASS = 10  # samples.png of a conditional variant: K rows of this many images


# ---------------------------------------------------------------- data


def load_training_data(config: ImageConfig,
                       data_dir: str | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The training images as uint8 (N, C, H, W), resized / converted as the config says, and their int64 labels
    (N,) (None for a folder of images).

    Args:
        config: the run's config (its data section).
        data_dir: where named datasets live (default: $SEQGAN_DATA or ../shared/data).
    """
    from seqgan.image.data import load_image_dataset, load_image_folder

    d = config.data
    if d.dataset == "folder":
        return prepare_images(config, load_image_folder(d.image_dir, d.image_size or 32, d.channels or 3)), None
    images, labels = load_image_dataset(d.dataset, "train", data_dir)  # (N, 1, 28, 28), (N,)
    return prepare_images(config, images), prepare_labels(config, labels)


def prepare_images(config: ImageConfig, images: torch.Tensor) -> torch.Tensor:
    """The first data.limit images (all when 0), resized to data.image_size and converted to data.channels.

    Args:
        config: the run's config.
        images: uint8 (N, C, H, W).
    """
    d = config.data
    images = images[:d.limit] if d.limit else images
    return _convert(images, d.image_size or images.shape[-1], d.channels or images.shape[1])


def prepare_labels(config: ImageConfig, labels: torch.Tensor | None) -> torch.Tensor | None:
    """The labels of the images `prepare_images` keeps: the first data.limit (all when 0); None stays None.

    Args:
        config: the run's config.
        labels: int64 (N,) or None.
    """
    return labels[:config.data.limit] if labels is not None and config.data.limit else labels


def _convert(images: torch.Tensor, size: int, channels: int) -> torch.Tensor:
    """uint8 (N, C, H, W) resized bilinearly (antialiased) to size x size and to `channels` (1 <-> 3)."""
    if images.shape[-1] != size:
        resized = []
        for chunk in images.split(4096):
            x = torch.nn.functional.interpolate(chunk.float(), size=(size, size), mode="bilinear",
                                                antialias=True, align_corners=False)  # (n, C, size, size)
            resized.append(x.round().clamp(0, 255).to(torch.uint8))
        images = torch.cat(resized)
    if images.shape[1] != channels:
        images = (images.expand(-1, 3, -1, -1).contiguous() if channels == 3  # grey -> RGB
                  else images.float().mean(1, keepdim=True).round().to(torch.uint8))  # RGB -> grey
    return images


# ---------------------------------------------------------------- building the pair


def _bf16(config: ImageConfig, device: torch.device) -> bool:
    return resolve_precision(config.train.precision, device) == "bf16"


def _optimizer(config: ImageConfig, params: Iterable[torch.nn.Parameter], lr: float) -> torch.optim.Optimizer:
    t = config.train
    return OPTIMIZERS[t.optimizer](params, lr, (t.beta1, t.beta2))


def _optimizers(config: ImageConfig, g: torch.nn.Module,
                d: torch.nn.Module) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    return _optimizer(config, g.parameters(), config.train.g_lr), _optimizer(config, d.parameters(), config.train.d_lr)


def _gan_pair(config: ImageConfig, variant: Variant, spec: NetSpec, images: torch.Tensor,
              labels: torch.Tensor | None, init: torch.Generator) -> GANPair:
    from seqgan.image.image_pair import ImagePair

    g, d = build_nets(config.model.net, spec, init)
    g, d = g.to(images.device), d.to(images.device)
    g_opt, d_opt = _optimizers(config, g, d)
    t = config.train
    return ImagePair(g, d, images, LOSSES[variant.loss], g_opt, d_opt, t.batch_size, spec.latent_dim,
                     PENALTIES[variant.penalty] if variant.penalty else None, t.penalty_weight, t.clip,
                     _bf16(config, images.device))


def _began_pair(config: ImageConfig, variant: Variant, spec: NetSpec, images: torch.Tensor,
                labels: torch.Tensor | None, init: torch.Generator) -> GANPair:
    from seqgan.image.began import BEGANPair

    g, _ = build_nets(config.model.net, spec, init)
    # D: an encoder to a code of size h and a decoder back, without batch norm (as in BEGAN's nets)
    code = config.model.code_dim
    decoder, encoder = build_nets(config.model.net, replace(spec, latent_dim=code, g_batch_norm=False,
                                                            d_batch_norm=False), init, d_out=code)
    g, d = g.to(images.device), AutoEncoder(encoder, decoder).to(images.device)
    g_opt, d_opt = _optimizers(config, g, d)
    t = config.train
    return BEGANPair(g, d, images, g_opt, d_opt, t.batch_size, spec.latent_dim, t.began_gamma, t.began_lambda_k,
                     bf16=_bf16(config, images.device))


def _vae_pair(config: ImageConfig, variant: Variant, spec: NetSpec, images: torch.Tensor,
              labels: torch.Tensor | None, init: torch.Generator) -> GANPair:
    from seqgan.image.vae import VAEPair

    decoder, encoder = build_nets(config.model.net, spec, init, d_out=2 * spec.latent_dim)
    decoder, encoder = decoder.to(images.device), encoder.to(images.device)
    opt = _optimizer(config, [*decoder.parameters(), *encoder.parameters()], config.train.g_lr)
    return VAEPair(decoder, encoder, images, opt, config.train.batch_size, spec.latent_dim,
                   _bf16(config, images.device))


def _conditional(cls: type, config: ImageConfig, variant: Variant, spec: NetSpec, nets: tuple[torch.nn.Module, ...],
                 images: torch.Tensor, labels: torch.Tensor | None, **extra) -> GANPair:
    """A conditional pair of class `cls` around built (G, D): on the images' device, with optimizers."""
    g, d = (net.to(images.device) for net in nets)
    g_opt, d_opt = _optimizers(config, g, d)
    t, m = config.train, config.model
    return cls(g, d, images, labels, LOSSES[variant.loss], g_opt, d_opt, t.batch_size, spec.latent_dim, m.classes,
               bf16=_bf16(config, images.device), **extra)


def _cgan_pair(config: ImageConfig, variant: Variant, spec: NetSpec, images: torch.Tensor,
               labels: torch.Tensor | None, init: torch.Generator) -> GANPair:
    from seqgan.image.conditional import CGANPair

    k, net = config.model.classes, config.model.net
    g, _ = build_nets(net, replace(spec, latent_dim=spec.latent_dim + k), init)  # G: [z, onehot(y)]
    _, d = build_nets(net, replace(spec, channels=spec.channels + k), init)  # D: image + K label planes
    return _conditional(CGANPair, config, variant, spec, (g, d), images, labels)


def _acgan_pair(config: ImageConfig, variant: Variant, spec: NetSpec, images: torch.Tensor,
                labels: torch.Tensor | None, init: torch.Generator) -> GANPair:
    from seqgan.image.conditional import ACGANPair

    k = config.model.classes
    nets = build_nets(config.model.net, replace(spec, latent_dim=spec.latent_dim + k), init, d_out=1 + k)
    return _conditional(ACGANPair, config, variant, spec, nets, images, labels)


def _infogan_pair(config: ImageConfig, variant: Variant, spec: NetSpec, images: torch.Tensor,
                  labels: torch.Tensor | None, init: torch.Generator) -> GANPair:
    from seqgan.image.conditional import InfoGANPair

    m, t = config.model, config.train
    codes = m.classes + m.continuous_codes
    nets = build_nets(m.net, replace(spec, latent_dim=spec.latent_dim + codes), init, d_out=1 + codes)
    return _conditional(InfoGANPair, config, variant, spec, nets, images, None, continuous=m.continuous_codes,
                        info_weight=t.info_weight, cont_weight=t.info_cont_weight)


def _ssgan_pair(config: ImageConfig, variant: Variant, spec: NetSpec, images: torch.Tensor,
                labels: torch.Tensor | None, init: torch.Generator) -> GANPair:
    from seqgan.image.ssgan import SSGANPair, labelled_subset

    m, t = config.model, config.train
    g, d = build_nets(m.net, spec, init, d_out=m.classes)  # D: K class logits, the fake class's logit is 0
    g, d = g.to(images.device), d.to(images.device)
    g_opt, d_opt = _optimizers(config, g, d)
    if labels is None:  # built to sample only: no training images
        labelled, unlabelled = torch.zeros(0, dtype=torch.long), torch.ones(len(images), dtype=torch.bool)
    else:
        try:
            labelled = labelled_subset(labels, t.labelled, m.classes, config.seed).to(images.device)  # (L,)
        except ValueError as err:  # too few images of a class (e.g. with data.limit)
            raise UserError(str(err)) from err
        unlabelled = torch.ones(len(images), dtype=torch.bool, device=images.device)
        unlabelled[labelled] = False  # the labelled images are not drawn again without their labels
    classes = labels[labelled] if labels is not None else torch.zeros(0, dtype=torch.long)
    return SSGANPair(g, d, images[unlabelled], images[labelled], classes.to(images.device), LOSSES[variant.loss],
                     g_opt, d_opt, t.batch_size, spec.latent_dim, t.unsupervised_weight, _bf16(config, images.device))


def _bigan_pair(config: ImageConfig, variant: Variant, spec: NetSpec, images: torch.Tensor,
                labels: torch.Tensor | None, init: torch.Generator) -> GANPair:
    from seqgan.image.bigan import BiGANPair, JointDiscriminator

    m, z = config.model, spec.latent_dim
    g, body = build_nets(m.net, spec, init, d_out=m.joint_features)  # D's image body: F features
    _, encoder = build_nets(m.net, spec, init, d_out=z)  # E: a D body with Z outputs (deterministic encoder)
    d = JointDiscriminator(body, m.joint_features, z)
    g, encoder, d = g.to(images.device), encoder.to(images.device), d.to(images.device)
    g_opt = _optimizer(config, [*g.parameters(), *encoder.parameters()], config.train.g_lr)  # G and E together
    d_opt = _optimizer(config, d.parameters(), config.train.d_lr)
    return BiGANPair(g, encoder, d, images, LOSSES[variant.loss], g_opt, d_opt, config.train.batch_size, z,
                     _bf16(config, images.device))


def _lapgan_pair(config: ImageConfig, variant: Variant, spec: NetSpec, images: torch.Tensor,
                 labels: torch.Tensor | None, init: torch.Generator) -> GANPair:
    from seqgan.image.lapgan import (
        LEVELS,
        ConvResidualGenerator,
        LAPGANPair,
        LaplacianGenerator,
        PairDiscriminator,
        ResidualGenerator,
    )
    from seqgan.image.nets import conv_plan_fits, dcgan_init_

    factor = 2 ** (LEVELS - 1)
    if spec.image_size % factor:
        raise UserError(f"--loss lapgan needs an image size divisible by {factor} (got {spec.image_size}); set "
                        f"--set data.image_size={spec.image_size // factor * factor or factor}")
    c, z = spec.channels, spec.latent_dim
    gs, ds = [], []
    for k in range(LEVELS):  # level k: images of size H / 2^k; the conv nets need >= 8, smaller levels use the MLP
        # (G_k for levels 0 and 1: the MLP's G on [z, flatten(condition)], or ConvResidualGenerator for conv nets)
        size = spec.image_size // 2 ** k
        net = config.model.net if conv_plan_fits(size) else "mlp"
        level = replace(spec, image_size=size)
        if k == LEVELS - 1:  # the coarsest level: an unconditional GAN
            g, d = build_nets(net, level, init)
        else:  # G_k(z, u(I_{k+1})) -> h_k; D_k: (h_k, u(I_{k+1})) as 2C channels
            # the conv D of a size below 16 has one conv stage and no batch norm; at 14x14 its loss stayed at
            # log 4 for a whole CPU-preset run (its scores nearly constant), so those levels get the MLP's D
            _, d = build_nets(net if size >= 16 else "mlp", replace(level, channels=2 * c), init)
            if net == "mlp":
                g = ResidualGenerator(build_nets(net, replace(level, latent_dim=z + c * size * size), init)[0])
            else:  # the paper's conv G_k: the condition and a noise plane as image channels
                g = dcgan_init_(ConvResidualGenerator(z, c, size, config.model.width, spec.g_batch_norm), init)
            d = PairDiscriminator(d)
        gs.append(g)
        ds.append(d)
    g = LaplacianGenerator(gs[-1], gs[:-1], z).to(images.device)
    d = torch.nn.ModuleList(ds).to(images.device)
    g_opt, d_opt = _optimizers(config, g, d)
    return LAPGANPair(g, d, images, LOSSES[variant.loss], g_opt, d_opt, config.train.batch_size, z,
                      _bf16(config, images.device))


# a variant's pair type -> builder(config, variant, net sizes, training images, their labels or None, init
# generator) -> GANPair
PairBuilder = Callable[[ImageConfig, Variant, NetSpec, torch.Tensor, torch.Tensor | None, torch.Generator], GANPair]
PAIRS: dict[str, PairBuilder] = {"gan": _gan_pair, "began": _began_pair, "vae": _vae_pair, "cgan": _cgan_pair,
                                 "acgan": _acgan_pair, "infogan": _infogan_pair, "ssgan": _ssgan_pair,
                                 "bigan": _bigan_pair, "lapgan": _lapgan_pair}


@dataclass
class ImageRun:
    """A built image run: config, the pair, where it runs, and what its samples look like."""

    config: ImageConfig
    pair: GANPair
    device: torch.device
    image_shape: tuple[int, int, int]
    data_dir: str | None = None
    _extractor: object = field(default=None, repr=False)
    _test_set: tuple | None = field(default=None, repr=False)  # SSGAN: (images, labels) in the training shape

    def test_set(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The dataset's test split in the training shape on the run's device, and its labels: read once, kept for
        every later evaluation."""
        if self._test_set is None:
            from seqgan.image.data import load_image_dataset

            images, labels = load_image_dataset(self.config.data.dataset, "test", self.data_dir)  # (N, 1, 28, 28)
            images = _convert(images, self.image_shape[1], self.image_shape[0]).to(self.device)
            self._test_set = images, labels
        return self._test_set

    @property
    def dataset(self) -> str | None:
        """The dataset FID compares against (None for a folder of images)."""
        return None if self.config.data.dataset == "folder" else self.config.data.dataset

    @property
    def generator(self) -> torch.nn.Module:
        """G (the VAE's decoder)."""
        return self.pair.generator

    def architecture(self) -> dict:
        """Parameter shapes of both nets, the net family and the image shape: what a checkpoint must match."""
        nets = {"generator": architecture(self.pair.generator),
                "discriminator": architecture(self.pair.discriminator)}
        if hasattr(self.pair, "encoder"):  # BiGAN's E
            nets["encoder"] = architecture(self.pair.encoder)
        return {"net": self.config.model.net, "loss": self.config.train.loss, "image_shape": list(self.image_shape),
                **nets}

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """n images (n, C, H, W) in [-1, 1] on the CPU, G in eval mode.

        Args:
            n: how many.
            gen: latents come from it (a CPU generator works for any device).
        """
        return self.pair.sample(n, gen)

    def fid(self, n: int) -> FIDResult:
        """FID (eval.fid.FIDResult) of n samples drawn with the run's evaluation seed."""
        return self.scores(n)[0]

    def scores(self, n: int) -> tuple[FIDResult, dict]:
        """FID (eval.fid.FIDResult) of n samples drawn with the run's evaluation seed, and the variant's class
        metric of the same samples as {name: value, name_signature: ...} ({} for an unconditional variant).

        Args:
            n: number of samples.
        """
        from eval.fid import fid_of_samples, load_or_train_extractor

        if self._extractor is None:
            self._extractor = load_or_train_extractor(self.dataset, self.data_dir, device=self.device)
        fake = self.sample(n, torch.Generator().manual_seed(eval_seed(self.config)))  # (n, C, H, W)
        if fake.shape[1:] != (1, 28, 28):  # the extractor reads MNIST-shaped images
            fake = _convert_float(fake, 28, 1)
        fid = fid_of_samples(fake, self.dataset, self.data_dir, n_real=self.config.eval.n_real,
                             extractor=self._extractor)
        metric = VARIANTS[self.config.train.loss].class_metric
        if not metric:
            return fid, {}
        from eval.class_metrics import score_samples

        # the conditional pairs' sample(n) conditions image i on class (or code) i % K: balanced_labels(n)
        return fid, score_samples(metric, self._extractor, fake, self.pair.balanced_labels(n))

    def evaluate(self, phase: str = "", epoch: int = 0) -> dict:
        """The in-training evaluation: FID of eval.num_samples samples and the variant's class metric of the same
        samples (skipped when eval.fid is off), and the variant's pair metric (SSGAN, BiGAN; always)."""
        n = self.config.eval.num_samples
        scores = {}
        if self.config.eval.fid:
            fid, classes = self.scores(n)
            scores = {"fid": fid.value, **classes}
        scores.update(self.pair_scores(n))
        return {k: v for k, v in scores.items() if not k.endswith("_signature")}

    def pair_scores(self, n: int) -> dict:
        """The variant's score of its own nets (PAIR_METRICS) as {name: value, name_signature: ...}; {} for a
        variant without one. Computed with or without FID.

        Args:
            n: evaluation latents (BiGAN); SSGAN scores the whole test split.
        """
        metric = VARIANTS[self.config.train.loss].pair_metric
        return PAIR_METRICS[metric](self, n) if metric else {}

    def sample_grid(self, gen: torch.Generator) -> tuple[torch.Tensor, int]:
        """The images of samples.png and how many go in a row: GRID_SAMPLES in rows of 8, or for a conditional
        variant one row of GRID_PER_CLASS per class (or categorical code value).

        Args:
            gen: draws the latents.
        """
        from seqgan.image.conditional import ConditionalPair, class_grid

        if isinstance(self.pair, ConditionalPair):
            return class_grid(self.pair, GRID_PER_CLASS, gen), GRID_PER_CLASS
        return self.sample(GRID_SAMPLES, gen), 8


def _test_accuracy(run: ImageRun, n: int) -> dict:
    """SSGAN: accuracy of D's K-way classifier (eval mode) on the dataset's whole test split, with its signature."""
    from eval.class_metrics import class_accuracy
    from seqgan.image.ssgan import classify

    c = run.config
    images, labels = run.test_set()  # (N, C, H, W), (N,)
    value = class_accuracy(labels, classify(run.pair.discriminator, images))
    signature = (f"test_accuracy|dataset:{c.data.dataset}|split:test|n:{len(labels)}|labelled:{c.train.labelled}"
                 f"|pick_seed:{c.seed}|eval_mode|ours:{VERSION}")
    return {"test_accuracy": value, "test_accuracy_signature": signature}


def _latent_recon_mse(run: ImageRun, n: int) -> dict:
    """BiGAN: mean squared error of E(G(z)) against z on n evaluation latents, with its signature."""
    from seqgan.image.bigan import latent_recon_mse
    from seqgan.image.image_pair import latents

    z = latents(n, run.pair.latent_dim, torch.Generator().manual_seed(eval_seed(run.config)), run.device)  # (n, Z)
    value = latent_recon_mse(run.pair.encoder, run.pair.generator, z)
    signature = (f"latent_recon_mse|n:{n}|z:normal({run.pair.latent_dim})|eval_seed:{eval_seed(run.config)}"
                 f"|eval_mode|ours:{VERSION}")
    return {"latent_recon_mse": value, "latent_recon_mse_signature": signature}


# a variant's pair_metric -> scorer(run, n) -> {name: value, name_signature: ...}
PAIR_METRICS: dict[str, Callable[[ImageRun, int], dict]] = {"test_accuracy": _test_accuracy,
                                                            "latent_recon_mse": _latent_recon_mse}


def _convert_float(images: torch.Tensor, size: int, channels: int) -> torch.Tensor:
    """float (N, C, H, W) in [-1, 1] resized to size x size and converted to `channels`."""
    if images.shape[-1] != size:
        images = torch.nn.functional.interpolate(images, size=(size, size), mode="bilinear", antialias=True,
                                                 align_corners=False)
    if images.shape[1] != channels:
        images = images.mean(1, keepdim=True) if channels == 1 else images.expand(-1, channels, -1, -1)
    return images.clamp(-1.0, 1.0)


def eval_seed(config: ImageConfig) -> int:
    """Seed of the evaluation latents: fixed per run and apart from training randomness."""
    return config.seed * 1_000_003 + 4242


def _checked_labels(config: ImageConfig, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor | None:
    """`labels` if there is one per image, each in 0..model.classes - 1; None for a run built only to sample."""
    k, n = config.model.classes, len(images)
    if labels is None:
        if n:
            raise UserError(f"--loss {config.train.loss} trains on class labels and got images without any; use "
                            "--dataset mnist or fashion_mnist")
        return None
    if len(labels) != n:
        raise UserError(f"got {len(labels)} labels for {n} images; pass one label per image")
    if n and not 0 <= int(labels.min()) <= int(labels.max()) < k:
        raise UserError(f"labels run from {int(labels.min())} to {int(labels.max())}, outside 0..{k - 1}; set "
                        "model.classes to the dataset's number of classes")
    return labels


def build_image_run(config: ImageConfig, images: torch.Tensor | None = None, data_dir: str | None = None,
                    image_shape: tuple[int, int, int] | None = None,
                    labels: torch.Tensor | None = None) -> ImageRun:
    """The pair a config describes, initialised from its seed, holding `images` (and `labels`) on the run's device.

    Args:
        config: the run's config.
        images: uint8 (N, C, H, W) training images, or None to build for sampling only (then image_shape).
        data_dir: where named datasets live (FID reads the real test split from there).
        image_shape: (C, H, W) when images is None.
        labels: int64 (N,) class labels of the images: needed to train CGAN, ACGAN and SSGAN, ignored by the others.
    """
    device = pick_device(config.device)
    seed_everything(config.seed)
    if images is None:
        if image_shape is None:
            raise ValueError("build_image_run needs images or image_shape")
        images = torch.zeros((0, *image_shape), dtype=torch.uint8)
    c, h, w = images.shape[1:]
    if h != w:
        raise UserError(f"images must be square, got {h}x{w}; resize them with --set data.image_size=N")
    variant = VARIANTS[config.train.loss]
    m = config.model
    labels = _checked_labels(config, images, labels) if variant.labels else None  # CGAN, ACGAN, SSGAN
    labels = None if labels is None else labels.to(device)
    spec = NetSpec(image_size=h, channels=c, latent_dim=m.latent_dim, width=m.width, g_batch_norm=m.g_batch_norm,
                   d_batch_norm=m.d_batch_norm)
    try:
        pair = PAIRS[variant.pair](config, variant, spec, images.to(device), labels,
                                   torch.Generator().manual_seed(config.seed))
    except ValueError as err:  # a net that cannot take this image size or variant
        raise UserError(f"model.net={m.net}: {err}") from err
    return ImageRun(config, pair, device, (c, h, w), data_dir)


def make_phases(run: ImageRun) -> list[Phase]:
    """One phase of `schedule.epochs` epochs; an epoch is iters_per_epoch x (n_critic D steps, then 1 G step)."""
    s, t = run.config.schedule, run.config.train
    iteration = ((run.pair.d_step, t.n_critic), (run.pair.g_step, 1)) if t.n_critic else ((run.pair.g_step, 1),)
    return [Phase(PHASE, s.epochs, iteration * s.iters_per_epoch)]


# ---------------------------------------------------------------- train / resume


def _load(path: Path) -> dict:
    try:
        return load_checkpoint(path)
    except CheckpointError as err:
        raise UserError(f"{err}; delete it to restart the run from scratch (or use a new --run-dir)") from err


def _read_config_json(path: Path) -> dict:
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        stored["config"] = ImageConfig.from_dict(stored["config"]).to_dict()
        return stored
    except (OSError, ValueError, KeyError, TypeError, UserError) as err:
        raise UserError(f"{path} is unreadable or not an image run's config ({err}); use a new --run-dir") from err


def train_image(config: ImageConfig, run_dir: str | Path, data_dir: str | None = None,
                argv: list[str] | None = None, images: torch.Tensor | None = None,
                labels: torch.Tensor | None = None) -> dict:
    """Train an image run from scratch, or resume it if `run_dir` holds one; returns the final metrics.

    Args:
        config: the resolved config.
        run_dir: the run directory (created if missing).
        data_dir: where named datasets live.
        argv: the command line, stored in config.json.
        images: uint8 (N, C, H, W) training images to use instead of loading the config's dataset (tests).
        labels: int64 (N,) their class labels (CGAN, ACGAN), with `images`.
    """
    run_dir = Path(run_dir)
    config_path, last = run_dir / "config.json", run_dir / "checkpoints" / "last.pt"
    # -- validate everything before writing anything --
    check_run_dir(run_dir, "seqgan image-train")  # a file, a path under a file, or a folder of other files: refused
    if config_path.exists():
        stored = _read_config_json(config_path)["config"]
        check_same_config(run_dir, stored, config.to_dict(), RESUMABLE_CHANGES)
    if images is None:
        images, labels = load_training_data(config, data_dir)
    else:
        images, labels = prepare_images(config, images), prepare_labels(config, labels)
    run = build_image_run(config, images, data_dir, labels=labels)
    resume_state = _load(last) if last.exists() else None
    if resume_state is not None and resume_state.get("architecture") != run.architecture():
        raise UserError(f"the checkpoint {last} holds different nets than this config builds (net "
                        f"{resume_state.get('architecture', {}).get('net')!r} vs {config.model.net!r}); "
                        "use a new --run-dir")
    phases = make_phases(run)
    if resume_state is not None:
        check_resumable(phases, resume_state["position"]["completed"])
    # -- from here on we write --
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    atomic_write_json(config_path, {"config": config.to_dict(), "argv": argv or sys.argv, "version": VERSION,
                                    "image_shape": list(run.image_shape), "num_train_images": len(images)})
    log_line(run_dir, ("resuming" if resume_state is not None else "starting") + f" {config.name} seed "
              f"{config.seed} on {run.device} ({len(images)} images {'x'.join(map(str, run.image_shape))})",
             echo=True)
    gen = seed_everything(config.seed, run.device)
    train_adversarial(run.pair, phases, run_dir, gen, evaluate=run.evaluate, eval_every=config.schedule.eval_every,
                      checkpoint_every_s=config.schedule.checkpoint_every_s, resume_state=resume_state,
                      checkpoint_extra={"architecture": run.architecture(), "config": config.to_dict()},
                      snapshot=lambda: {"generator": run.generator.state_dict(), "architecture": run.architecture()})
    final = finish(run, run_dir)
    MetricsLog(run_dir / "metrics.jsonl").write_timing(
        {"event": "end", "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
    return final


def finish(run: ImageRun, run_dir: Path) -> dict:
    """Final FID on eval.final_samples samples (metrics.json, with its signature; and the conditional variants'
    class metric and the pair metric of SSGAN and BiGAN, each with its signature) and samples.png."""
    from seqgan.image.data import save_image_grid

    c = run.config
    final: dict = {"loss": c.train.loss, "net": c.model.net, "dataset": c.data.dataset, "seed": c.seed,
                   "experiment": c.name}
    if c.eval.fid:
        result, classes = run.scores(c.eval.final_samples)
        final = {"fid": result.value, "fid_signature": result.signature, **classes, **final}
    final = {**run.pair_scores(c.eval.final_samples), **final}
    atomic_write_json(run_dir / "metrics.json", final)
    grid, nrow = run.sample_grid(torch.Generator().manual_seed(eval_seed(c)))
    save_image_grid(grid, run_dir / "samples.png", nrow=nrow)
    return final


# ---------------------------------------------------------------- load


def resolve_checkpoint(run_dir: str | Path, checkpoint: str) -> tuple[Path, bool, str]:
    """Which file `--checkpoint` names: (path, holds only a generator snapshot, a description).

    Args:
        run_dir: an image run.
        checkpoint: "last"; "best" (the evaluation with the lowest FID); an evaluated EPOCH or adversarial:EPOCH.
    """
    run_dir = Path(run_dir)
    ckpt_dir = run_dir / "checkpoints"
    spec = checkpoint.strip()
    if spec == "last":
        path = ckpt_dir / "last.pt"
        if not path.is_file():
            raise UserError(f"no checkpoint 'last' in {run_dir}; train it first")
        return path, False, "last"
    records = eval_records(run_dir)
    if spec == "best":
        scored = [r for r in records if "fid" in r]
        if not scored:
            raise UserError(f"--checkpoint best: {run_dir} has no FID evaluations; use last or an epoch")
        best = min(scored, key=lambda r: r["fid"])
        epoch, what = best["epoch"], f"best fid={best['fid']:.3f} at epoch {best['epoch']}"
    else:
        phase, _, text = spec.rpartition(":")
        if phase not in ("", PHASE) or not text.isdigit():
            raise UserError(f"--checkpoint {checkpoint!r}: use last, best, an evaluated EPOCH or {PHASE}:EPOCH")
        epoch, what = int(text), f"epoch {text}"
    path = ckpt_dir / snapshot_name(PHASE, epoch)
    if not path.is_file():
        have = [str(r["epoch"]) for r in records if (ckpt_dir / snapshot_name(PHASE, r["epoch"])).is_file()]
        raise UserError(f"--checkpoint {checkpoint}: no snapshot at epoch {epoch} in {run_dir} (snapshots exist "
                        f"at evaluated epochs: {', '.join(have[-8:]) or 'none'})")
    return path, True, what


def load_image_run(run_dir: str | Path, checkpoint: str = "last", device: str | None = None,
                   data_dir: str | None = None) -> ImageRun:
    """Rebuild a trained image run from its directory (no training data needed) and load a checkpoint.

    Args:
        run_dir: a run directory written by `train_image`.
        checkpoint: "last", "best" (lowest FID) or an evaluated epoch ("10" or "adversarial:10").
        device: where to load it (default: the run's config).
        data_dir: where named datasets live (for FID).
    """
    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    if not config_path.is_file():
        raise UserError(f"{run_dir} is not a run directory (no config.json); train one with `seqgan image-train`")
    stored = _read_config_json(config_path)
    config = ImageConfig.from_dict(stored["config"])
    if device:
        config = replace(config, device=device)
    path, generator_only, _ = resolve_checkpoint(run_dir, checkpoint)
    run = build_image_run(config, None, data_dir, tuple(stored.get("image_shape", (1, 28, 28))))
    state = _load(path)
    if state.get("architecture") != run.architecture():
        raise UserError(f"{path} does not match {config_path} (architecture differs)")
    if generator_only:
        run.generator.load_state_dict(state["generator"])
    else:
        run.pair.load_state_dict(state["pair"])
    return run
