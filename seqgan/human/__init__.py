"""Blind human-or-machine evaluation in the browser (the SeqGAN paper's human Turing test).

`seqgan human-eval create` mixes and blinds samples into a SQLite study file, `invite` prints per-rater
links, `serve` runs the rating and organiser pages, and `results` reports each system's human score with
confidence intervals, pairwise significance tests and Fleiss' kappa. See docs/human_eval.md.
"""
