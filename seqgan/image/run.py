"""Build an image run from its config, train it (or resume it) through the shared loop, load it to sample.

The run directory is the text runs' one: config.json (resolved config, argv, image shape), metrics.jsonl,
timing.jsonl, run.log, checkpoints/ (last.pt, adversarial.pt, eval-adversarial-E.pt generator snapshots),
metrics.json (final FID with its signature, precision and recall in the same features with theirs, the class
metric of the conditional variants, SSGAN's test_accuracy, BiGAN's latent_recon_mse) and samples.png
(a grid of 64 samples; one row per class for the conditional variants). Its life (validate then write, resume,
load) is `seqgan.core.lifecycle`'s; this module is the image kind of run.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from seqgan.base.errors import UserError
from seqgan.core.checkpoint import atomic_write_json
from seqgan.core.distributed import gather_objects, is_distributed, is_main
from seqgan.core.lifecycle import RunDir, RunKind, eval_seed
from seqgan.core.loop import Phase
from seqgan.core.protocol import GANPair
from seqgan.core.runtime import compile_nets, pick_device, seed_everything
from seqgan.image.builders import PAIRS
from seqgan.image.config import ImageConfig
from seqgan.image.nets import NetSpec, architecture
from seqgan.image.pair_metrics import PAIR_METRICS
from seqgan.image.prepare import (
    checked_labels,
    convert,
    convert_float,
    load_training_data,
    prepare_images,
    prepare_labels,
)
from seqgan.image.variants import VARIANTS

if TYPE_CHECKING:  # eval.fid imports the image data module; only the type is needed here
    from eval.fid import FIDResult

__all__ = ["PAIR_METRICS", "ImageRun", "build_image_run", "eval_seed", "load_image_run", "make_phases",
           "prepare_images", "train_image"]

PHASE = "adversarial"  # the one phase of an image run (the name text runs use for their GAN phase)
# config keys that may change when a run is resumed (to extend it or evaluate differently)
RESUMABLE_CHANGES = ("schedule.epochs:", "schedule.eval_every:", "schedule.checkpoint_every_s:",
                     "schedule.keep_snapshots:", "eval.")
GRID_SAMPLES = 64
GRID_PER_CLASS = 10  # samples.png of a conditional variant: K rows of this many images
DEFAULT_IMAGE_SHAPE = (1, 28, 28)  # of a run whose config.json predates its image_shape entry


def classifier_shaped(images: torch.Tensor) -> torch.Tensor:
    """Images (N, C, H, W) in [-1, 1] as the FID classifier reads them, (N, 1, 28, 28): resized and made grey
    when they are not so already."""
    return images if images.shape[1:] == (1, 28, 28) else convert_float(images, 28, 1)


@dataclass
class ImageRun:
    """A built image run: config, the pair, where it runs, and what its samples look like."""

    config: ImageConfig
    pair: GANPair
    device: torch.device
    image_shape: tuple[int, int, int]
    data_dir: str | None = None
    num_images: int = 0  # training images it was built with (0: built to sample)
    _extractor: object = field(default=None, repr=False)
    _test_set: tuple | None = field(default=None, repr=False)  # SSGAN: (images, labels) in the training shape

    def test_set(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The dataset's test split in the training shape on the run's device, and its labels: read once, kept for
        every later evaluation."""
        if self._test_set is None:
            from seqgan.image.data import load_image_dataset

            images, labels = load_image_dataset(self.config.data.dataset, "test", self.data_dir)  # (N, 1, 28, 28)
            images = convert(images, self.image_shape[1], self.image_shape[0]).to(self.device)
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

    def scores(self, n: int, precision_recall: bool = False) -> tuple[FIDResult, dict]:
        """`own_scores`; under torchrun rank 0 alone computes them (the feature extractor and the real statistics
        are cached files it may write) while the others wait for its numbers."""
        if not is_distributed():
            return self.own_scores(n, precision_recall)
        mine = self.own_scores(n, precision_recall) if is_main() else None
        return gather_objects(mine, "waiting for rank 0's FID")[0]

    def own_scores(self, n: int, precision_recall: bool = False) -> tuple[FIDResult, dict]:
        """FID (eval.fid.FIDResult) of n samples drawn with the run's evaluation seed, and the variant's class
        metric of the same samples as {name: value, name_signature: ...} ({} for an unconditional variant).

        Args:
            n: number of samples.
            precision_recall: also precision and recall (k = eval.pr_k) of the same samples in FID's features,
                as {precision, recall, precision_recall_signature} in the dict (the samples are read once).
        """
        from seqgan.image.fid_dataset import fid_of_samples, scores_of_samples

        extractor = self.extractor()
        fake = self.sample(n, torch.Generator().manual_seed(eval_seed(self.config)))  # (n, C, H, W)
        fake = classifier_shaped(fake)  # (n, 1, 28, 28)
        e = self.config.eval
        extra: dict = {}
        if precision_recall and n > e.pr_k:  # k-NN radii need more than k samples
            fid, pr = scores_of_samples(fake, self.dataset, self.data_dir, n_real=e.n_real,
                                        extractor=extractor, k=e.pr_k)
            extra = pr.to_dict()
        else:
            fid = fid_of_samples(fake, self.dataset, self.data_dir, n_real=e.n_real, extractor=extractor)
        metric = VARIANTS[self.config.train.loss].class_metric
        if not metric:
            return fid, extra
        from eval.class_metrics import score_samples

        # the conditional pairs' sample(n) conditions image i on class (or code) i % K: balanced_labels(n)
        return fid, {**extra, **score_samples(metric, extractor, fake, self.pair.balanced_labels(n))}

    def extractor(self):
        """The dataset's FID classifier (seqgan.image.fid_extractor.CNNExtractor): loaded or trained once, then kept."""
        from seqgan.image.fid_extractor import load_or_train_extractor

        if self._extractor is None:
            self._extractor = load_or_train_extractor(self.dataset, self.data_dir, device=self.device)
        return self._extractor

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
    if is_distributed():  # under torchrun: only the loss-based pairs split their batches (image_pair)
        check_splits(config, variant.pair)
    labels = checked_labels(config, images, labels) if variant.labels else None  # CGAN, ACGAN, SSGAN
    labels = None if labels is None else labels.to(device)
    spec = NetSpec(image_size=h, channels=c, latent_dim=m.latent_dim, width=m.width, g_batch_norm=m.g_batch_norm,
                   d_batch_norm=m.d_batch_norm)
    try:
        pair = PAIRS[variant.pair](config, variant, spec, images.to(device), labels,
                                   torch.Generator().manual_seed(config.seed))
    except ValueError as err:  # a net that cannot take this image size or variant
        raise UserError(f"model.net={m.net}: {err}") from err
    compile_nets([pair.generator, getattr(pair, "discriminator", None)], device)  # with --compile only
    return ImageRun(config, pair, device, (c, h, w), data_dir, len(images))


def check_splits(config: ImageConfig, pair: str) -> None:
    """Refuse a torchrun job for a variant whose steps do not split their batches yet, or a batch smaller than the
    number of processes (every process takes at least one row)."""
    from seqgan.core.distributed import env_world

    if pair != "gan":
        raise UserError(f"train.loss={config.train.loss} trains in one process only (its steps do not split "
                        "their batches yet); run it without torchrun")
    world = env_world()
    if world is not None and config.train.batch_size < world.size:
        raise UserError(f"train.batch_size={config.train.batch_size} is smaller than the {world.size} processes; "
                        "each process takes a share of every batch")


def make_phases(run: ImageRun) -> list[Phase]:
    """One phase of `schedule.epochs` epochs; an epoch is iters_per_epoch x (n_critic D steps, then 1 G step)."""
    s, t = run.config.schedule, run.config.train
    iteration = ((run.pair.d_step, t.n_critic), (run.pair.g_step, 1)) if t.n_critic else ((run.pair.g_step, 1),)
    return [Phase(PHASE, s.epochs, iteration * s.iters_per_epoch)]


def finish(run: ImageRun, run_dir: Path) -> dict:
    """Final FID on eval.final_samples samples (metrics.json, with its signature; precision and recall of the same
    samples unless eval.precision_recall is off; the conditional variants' class metric and the pair metric of
    SSGAN and BiGAN, each with its signature) and samples.png."""
    from seqgan.image.data import save_image_grid

    c = run.config
    final: dict = {"loss": c.train.loss, "net": c.model.net, "dataset": c.data.dataset, "seed": c.seed,
                   "experiment": c.name}
    if c.eval.fid:
        result, classes = run.scores(c.eval.final_samples, precision_recall=c.eval.precision_recall)
        final = {"fid": result.value, "fid_signature": result.signature, **classes, **final}
    final = {**run.pair_scores(c.eval.final_samples), **final}
    atomic_write_json(run_dir / "metrics.json", final)
    grid, nrow = run.sample_grid(torch.Generator().manual_seed(eval_seed(c)))
    save_image_grid(grid, run_dir / "samples.png", nrow=nrow)
    return final


# the image kind of run, as `seqgan.core.lifecycle` sees it: one phase, no branching, `--checkpoint adversarial` is
# not a name it takes, and an unreadable last.pt is refused (delete it to start again) rather than replaced by
# the end of the phase; config.json records the image shape, from which sampling rebuilds the nets without data
IMAGE = RunKind(command="seqgan image-train", title="an image run", config_class=ImageConfig,
                resumable=RESUMABLE_CHANGES, phase_names=(PHASE,), build_phases=make_phases, finish=finish,
                best_key=lambda records: "fid", epoch_phase=PHASE, named_phase_ends=False,
                resume_from_phase_ends=False, best_digits=3,
                record=lambda run: {"image_shape": list(run.image_shape), "num_train_images": run.num_images},
                start_detail=lambda run: f" ({run.num_images} images {'x'.join(map(str, run.image_shape))})",
                data_parallel=True)  # the loss-based pairs split their batches; the others refuse (check_splits)


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
    def build() -> ImageRun:
        if images is None:
            train_images, train_labels = load_training_data(config, data_dir)
        else:
            train_images, train_labels = prepare_images(config, images), prepare_labels(config, labels)
        return build_image_run(config, train_images, data_dir, labels=train_labels)

    return RunDir(run_dir, IMAGE).train(config, build, argv=argv)


def resolve_checkpoint(run_dir: str | Path, checkpoint: str) -> tuple[Path, bool, str]:
    """Which file `--checkpoint` names: (path, holds only a generator snapshot, a description).

    Args:
        run_dir: an image run.
        checkpoint: "last"; "best" (the evaluation with the lowest FID); an evaluated EPOCH or adversarial:EPOCH.
    """
    resolved = RunDir(run_dir, IMAGE).resolve(checkpoint)
    return resolved.path, resolved.generator_only, resolved.description


def load_image_run(run_dir: str | Path, checkpoint: str = "last", device: str | None = None,
                   data_dir: str | None = None) -> ImageRun:
    """Rebuild a trained image run from its directory (no training data needed) and load a checkpoint.

    Args:
        run_dir: a run directory written by `train_image`.
        checkpoint: "last", "best" (lowest FID) or an evaluated epoch ("10" or "adversarial:10").
        device: where to load it (default: the run's config).
        data_dir: where named datasets live (for FID).
    """
    def build(config: ImageConfig, record: dict, state: dict) -> ImageRun:
        config = replace(config, device=device) if device else config
        return build_image_run(config, None, data_dir, tuple(record.get("image_shape", DEFAULT_IMAGE_SHAPE)))

    return RunDir(run_dir, IMAGE).load(checkpoint, build)
