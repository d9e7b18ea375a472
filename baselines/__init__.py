"""The SeqGAN paper's baselines beside MLE: scheduled sampling and PG-BLEU.

They build on the text GAN (seqgan.text) and BLEU (eval.bleu); seqgan.text.adversarial imports them only when a
run's method names one, so nothing in seqgan loads them at import time.
"""
