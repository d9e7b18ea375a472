"""Class metrics of conditional generators, read by the FID classifier: does a sample show what G was given?

`class_accuracy` (CGAN, ACGAN): the share of samples the classifier assigns to the class they were conditioned
on. `code_accuracy` (InfoGAN, whose categorical code is learned without labels, so code value j may come to mean
any digit): the same share after the best one-to-one matching of code values to predicted classes, found with
the Hungarian algorithm (scipy.optimize.linear_sum_assignment, imported lazily). Both come from a confusion
matrix of counts; the signature says which classifier read the samples.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from seqgan.base.version import VERSION


def _checked(conditioned: torch.Tensor, predicted: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if conditioned.shape != predicted.shape or conditioned.dim() != 1 or len(conditioned) == 0:
        raise ValueError(f"need two equally long non-empty 1-d tensors, got {tuple(conditioned.shape)} and "
                         f"{tuple(predicted.shape)}")
    return conditioned.long().cpu(), predicted.long().cpu()


def confusion(conditioned: torch.Tensor, predicted: torch.Tensor) -> torch.Tensor:
    """Counts (V, P): row v = the samples conditioned on value v, column p = predicted class p.

    Args:
        conditioned: (N,) int64 class or code values G was given.
        predicted: (N,) int64 classes the classifier predicted.
    """
    conditioned, predicted = _checked(conditioned, predicted)
    v, p = int(conditioned.max()) + 1, int(predicted.max()) + 1
    return torch.bincount(conditioned * p + predicted, minlength=v * p).view(v, p)  # (V, P)


def class_accuracy(conditioned: torch.Tensor, predicted: torch.Tensor) -> float:
    """Share of samples predicted as the class they were conditioned on.

    Args:
        conditioned: (N,) int64 classes G was given.
        predicted: (N,) int64 predicted classes.
    """
    conditioned, predicted = _checked(conditioned, predicted)
    return (conditioned == predicted).double().mean().item()


def code_accuracy(conditioned: torch.Tensor, predicted: torch.Tensor) -> float:
    """Share of samples predicted as the class their code value is matched to, under the one-to-one matching of
    code values to classes that maximises it (Hungarian algorithm; unmatched values count as wrong).

    Args:
        conditioned: (N,) int64 categorical code values G was given.
        predicted: (N,) int64 predicted classes.
    """
    from scipy.optimize import linear_sum_assignment

    counts = confusion(conditioned, predicted).numpy()  # (V, P)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum()) / len(conditioned)


METRICS: dict[str, Callable[[torch.Tensor, torch.Tensor], float]] = {
    "class_accuracy": class_accuracy,
    "code_accuracy": code_accuracy,
}


def classifier_signature(classifier) -> str:
    """The part of a signature that names the classifier which read the images: name, test accuracy, checksum."""
    return f"classifier:{classifier.name}|acc:{classifier.accuracy:.4f}|sha:{classifier.checksum[:8]}"


def score_samples(metric: str, classifier, images: torch.Tensor, conditioned: torch.Tensor) -> dict:
    """{metric: value, metric_signature: ...} of generated images read by a classifier.

    Args:
        metric: a key of METRICS.
        classifier: e.g. a seqgan.image.fid_extractor.CNNExtractor (its `predict` gives classes).
        images: (N, C, H, W) float in [-1, 1], in the classifier's input shape.
        conditioned: (N,) int64 what each image was conditioned on.
    """

    value = METRICS[metric](conditioned, classifier.predict(images))
    signature = (f"{metric}|{classifier_signature(classifier)}|n:{len(images)}|values:{int(conditioned.max()) + 1}"
                 f"|balanced|ours:{VERSION}")
    return {metric: value, f"{metric}_signature": signature}
