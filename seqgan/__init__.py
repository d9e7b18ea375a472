"""seqgan: SeqGAN and the GAN family on one small, fast, reproducible PyTorch core.

`import seqgan` stays light; heavy libraries (datasets, transformers, nltk, matplotlib) load lazily.
"""

__version__ = "0.1.0"
