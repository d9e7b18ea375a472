"""The shared GAN core: seeding and devices, atomic checkpoints, the GANPair protocol, the loop, the log, the
config machinery and the life of a run directory (`lifecycle`: validate, resume, train, load).

Its modules import only `torch`, the standard library and `seqgan.base`, so text and image GANs share it
without extra weight.
"""

# Nothing is imported here: `import seqgan.core.config` must not load torch (the CLI parser imports it).
