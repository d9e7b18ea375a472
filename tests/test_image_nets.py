"""Image nets: shapes at every size, one conv definition for 28/32/64, PyTorch-GAN's architectures counted by hand."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seqgan.image.nets import (
    NETS,
    ConvDiscriminator,
    ConvGenerator,
    NetSpec,
    UpsampleConv2d,
    build_nets,
    conv_plan,
)


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("size,plan", [(28, (7, 2)), (32, (4, 3)), (64, (4, 4)), (8, (4, 1)), (30, (4, 3)),
                                       (48, (6, 3))])
def test_conv_plan(size, plan):
    assert conv_plan(size) == plan


@pytest.mark.parametrize("net", sorted(NETS))
@pytest.mark.parametrize("size,channels", [(28, 1), (32, 3), (64, 1)])
def test_every_net_maps_latents_to_images_and_images_to_scores(net, size, channels):
    spec = NetSpec(image_size=size, channels=channels, latent_dim=16, width=8)
    g, d = build_nets(net, spec, torch.Generator().manual_seed(0))
    images = g(torch.randn(3, 16))
    assert images.shape == (3, channels, size, size)
    assert images.abs().max() <= 1.0  # tanh
    assert d(images).shape == (3,)


def test_conv_nets_crop_and_pad_sizes_off_the_plan():
    g = ConvGenerator(8, 1, 30, width=4)
    d = ConvDiscriminator(1, 30, width=4)
    x = g(torch.randn(2, 8))
    assert x.shape == (2, 1, 30, 30) and d(x).shape == (2,)


def test_encoder_outputs_and_batch_norm_switch():
    spec = NetSpec(image_size=28, channels=1, latent_dim=10, width=8, d_batch_norm=False)
    for net in ("dcgan", "mlp"):
        _, enc = build_nets(net, spec, torch.Generator().manual_seed(0), d_out=20)
        assert enc(torch.zeros(4, 1, 28, 28)).shape == (4, 20)
        assert not any(isinstance(m, nn.BatchNorm2d) for m in enc.modules())
    _, d_bn = build_nets("dcgan", NetSpec(28, 1, width=8), torch.Generator().manual_seed(0))
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d_bn.modules()) == 1  # all convs but the first
    with pytest.raises(ValueError, match="no encoder form"):
        build_nets("pytorch-gan-dcgan", NetSpec(32, 1), torch.Generator(), d_out=8)


def test_initialisation_is_seeded():
    spec = NetSpec(28, 1, latent_dim=8, width=8)
    for net in sorted(NETS):
        a = build_nets(net, spec, torch.Generator().manual_seed(4))
        b = build_nets(net, spec, torch.Generator().manual_seed(4))
        c = build_nets(net, spec, torch.Generator().manual_seed(5))
        for x, y, z in zip(a, b, c):
            assert all(torch.equal(p, q) for p, q in zip(x.state_dict().values(), y.state_dict().values()))
            assert not all(torch.equal(p, q) for p, q in zip(x.state_dict().values(), z.state_dict().values()))


def test_pytorch_gan_dcgan_has_its_parameter_count():
    """dcgan.py at 32x32, 1 channel, latent 100, counted from its layer list by hand.

    G: linear 100 -> 128*8*8 (827,392), BN 128 (256), conv3x3 128->128 (147,584), BN (256),
       conv3x3 128->64 (73,792), BN 64 (128), conv3x3 64->1 (577)                         = 1,049,985
    D: conv3x3 1->16 (160), 16->32 (4,640) + BN (64), 32->64 (18,496) + BN (128), 64->128 (73,856) + BN (256),
       linear 128*2*2 -> 1 (513)                                                           = 98,113
    """
    g, d = build_nets("pytorch-gan-dcgan", NetSpec(32, 1, latent_dim=100), torch.Generator().manual_seed(0))
    assert n_params(g) == 1_049_985
    assert n_params(d) == 98_113
    assert sum(isinstance(m, nn.Dropout2d) for m in d.modules()) == 4
    assert [m.eps for m in g.modules() if isinstance(m, nn.BatchNorm2d)] == [1e-5, 0.8, 0.8]


def test_mlp_has_the_pytorch_gan_parameter_count():
    """gan.py: G 100-128-256-512-1024-784 with BN(eps 0.8) after all hidden layers but the first; D 784-512-256-1.

    G: 12,928 + 33,024 + 512 + 131,584 + 1,024 + 525,312 + 2,048 + 803,600 = 1,510,032
    D: 401,920 + 131,328 + 257 = 533,505
    """
    g, d = build_nets("mlp", NetSpec(28, 1, latent_dim=100), torch.Generator().manual_seed(0))
    assert n_params(g) == 1_510_032
    assert n_params(d) == 533_505
    assert [m.eps for m in g.modules() if isinstance(m, nn.BatchNorm1d)] == [0.8, 0.8, 0.8]


@pytest.mark.parametrize("c_in, c_out, size, bias", [(3, 5, 7, True), (4, 2, 8, False), (2, 3, 1, True)])
def test_upsample_conv_equals_nearest_upsampling_then_a_3x3_conv(c_in, c_out, size, bias):
    """The four 2x2 phase convs give the upsampled 3x3 conv's outputs and gradients (float64, odd sizes too)."""
    torch.manual_seed(0)
    fast = UpsampleConv2d(c_in, c_out).double()
    if not bias:
        fast.bias = None
    slow = nn.Conv2d(c_in, c_out, 3, 1, 1, bias=bias).double()
    slow.load_state_dict(fast.state_dict())
    x = torch.randn(2, c_in, size, size, dtype=torch.float64, requires_grad=True)
    y_fast, y_slow = fast(x), slow(nn.functional.interpolate(x, scale_factor=2, mode="nearest"))
    assert y_fast.shape == (2, c_out, 2 * size, 2 * size)
    torch.testing.assert_close(y_fast, y_slow, rtol=0, atol=1e-12)
    weights = torch.randn_like(y_fast)
    grads_fast = torch.autograd.grad((y_fast * weights).sum(), (x, *fast.parameters()))
    grads_slow = torch.autograd.grad((y_slow * weights).sum(), (x, *slow.parameters()))
    for g_fast, g_slow in zip(grads_fast, grads_slow):
        torch.testing.assert_close(g_fast, g_slow, rtol=0, atol=1e-11)
