"""seqgan: SeqGAN and the GAN family on one small, fast, reproducible PyTorch core.

`import seqgan` stays light; heavy libraries (datasets, transformers, nltk, matplotlib) load lazily.
"""

from seqgan.base.version import VERSION as __version__  # noqa: F401
