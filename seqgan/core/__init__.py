"""The shared GAN core: seeding and devices, atomic checkpoints, the GANPair protocol, the loop, the log.

Imports only `torch` and the standard library, so text GANs and image GANs share it without extra weight.
"""

from seqgan.core.checkpoint import load_checkpoint, save_checkpoint
from seqgan.core.protocol import GANPair
from seqgan.core.runtime import capture_rng, pick_device, restore_rng, seed_everything

__all__ = [
    "GANPair",
    "capture_rng",
    "load_checkpoint",
    "pick_device",
    "restore_rng",
    "save_checkpoint",
    "seed_everything",
]
