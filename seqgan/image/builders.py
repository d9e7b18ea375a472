"""The pair builders: each variant's nets (sized by a NetSpec, initialised from the run's init generator), moved to
the training images' device, with their optimizers, wrapped in the variant's pair type."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

import torch

from seqgan.base.errors import UserError
from seqgan.core.losses import LOSSES, PENALTIES
from seqgan.core.protocol import GANPair
from seqgan.core.runtime import resolve_precision
from seqgan.image.config import ImageConfig
from seqgan.image.nets import AutoEncoder, NetSpec, build_nets
from seqgan.image.variants import OPTIMIZERS, Variant


def _bf16(config: ImageConfig, device: torch.device) -> bool:
    return resolve_precision(config.train.precision, device) == "bf16"


def _optimizer(config: ImageConfig, params: Iterable[torch.nn.Parameter], lr: float) -> torch.optim.Optimizer:
    t = config.train
    return OPTIMIZERS[t.optimizer](params, lr, (t.beta1, t.beta2), t.weight_decay)


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
                     _bf16(config, images.device), t.margin_scale)


def _began_pair(config: ImageConfig, variant: Variant, spec: NetSpec, images: torch.Tensor,
                labels: torch.Tensor | None, init: torch.Generator) -> GANPair:
    from seqgan.image.began import BEGANPair

    g, _ = build_nets(config.model.net, spec, init)
    # D: an encoder to a code of size h and a decoder back, without batch norm (as in BEGAN's nets)
    code = config.model.code_dim
    decoder, encoder = build_nets(config.model.net, replace(spec, latent_dim=code, g_batch_norm=False,
                                                            d_batch_norm=False), init, d_out=code)
    if config.model.net == "began":  # BEGAN's own nets: the autoencoder's decoder ends linear, never clamped
        decoder.body[-1] = torch.nn.Identity()
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
    g_spec = replace(spec, latent_dim=spec.latent_dim + codes)
    if m.q_hidden:  # the paper's Q: its own head on D's features, initialised as the net family's layers
        from seqgan.image.conditional import QHeadDiscriminator
        from seqgan.image.nets import dcgan_init_, seeded_default_init

        g, trunk = build_nets(m.net, g_spec, init)
        d = seeded_default_init(init, lambda: QHeadDiscriminator(trunk, m.q_hidden, codes))
        if m.net == "dcgan":
            dcgan_init_(d.q, init)
        nets = (g, d)
    else:  # Q as K + L extra outputs of D's last layer
        nets = build_nets(m.net, g_spec, init, d_out=1 + codes)
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
                     g_opt, d_opt, t.batch_size, spec.latent_dim, t.unsupervised_weight, _bf16(config, images.device),
                     t.feature_matching)


def _bigan_pair(config: ImageConfig, variant: Variant, spec: NetSpec, images: torch.Tensor,
                labels: torch.Tensor | None, init: torch.Generator) -> GANPair:
    from seqgan.image.bigan import BiGANPair, JointDiscriminator

    m, z = config.model, spec.latent_dim
    g, body = build_nets(m.net, spec, init, d_out=m.joint_features)  # D's image body: F features
    _, encoder = build_nets(m.net, spec, init, d_out=z)  # E: a D body with Z outputs (deterministic encoder)
    d = JointDiscriminator(body, m.joint_features, z, m.joint_hidden, m.joint_z_hidden, m.joint_layers,
                           m.joint_dropout)
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
        if config.model.lapgan_nets == "denton":  # Denton et al.'s nets per level (seqgan.image.lapgan_nets)
            from seqgan.image.lapgan_nets import denton_level

            g, d = denton_level(k, k == LEVELS - 1, c, size, z, config.model.width, spec.g_batch_norm, init)
        elif k == LEVELS - 1:  # the coarsest level: an unconditional GAN
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
