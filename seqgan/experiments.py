"""Named presets: each is a `replace(...)` of the defaults, which are the paper's settings."""

from __future__ import annotations

from dataclasses import replace

from seqgan.config import (
    AdversarialConfig,
    DataConfig,
    DiscriminatorConfig,
    EvalConfig,
    ExperimentConfig,
    ScheduleConfig,
)
from seqgan.errors import UserError

PAPER = ExperimentConfig(name="oracle-paper")

PRESETS: dict[str, tuple[str, ExperimentConfig]] = {
    "oracle-paper": (
        "SeqGAN Table 1 exactly: 120 MLE epochs, 50 x (10k negatives, 3 D epochs), 200 x (1 G step, "
        "5 x (10k negatives, 3 D epochs)). Hours on 2 CPU cores; fine on a GPU; resumable.",
        PAPER,
    ),
    "oracle": (
        "The paper's models on the original oracle with a schedule that finishes in well under 45 min on "
        "2 CPU cores: 50 MLE epochs, 10 D pretraining rounds, 100 adversarial epochs of 1 G step and one "
        "D epoch on 2,500 fresh negatives + 2,500 real.",
        replace(PAPER, name="oracle", schedule=ScheduleConfig(
            pretrain_g_epochs=50, pretrain_d_rounds=10, pretrain_d_epochs=1, adv_epochs=100, adv_g_steps=1,
            adv_d_rounds=1, adv_d_epochs=1, num_negatives=2500, eval_every=5)),
    ),
    "oracle-tiny": (
        "A seconds-long smoke run: a random 200-token oracle, length 10, a small D, a few epochs.",
        replace(PAPER, name="oracle-tiny",
                data=DataConfig(oracle="random", train="sample", num_train=256, num_test=256, vocab_size=200,
                                seq_len=10, oracle_emb_dim=16, oracle_hidden_dim=16),
                discriminator=DiscriminatorConfig(emb_dim=16, filter_sizes=(2, 3, 5), num_filters=(16, 16, 16)),
                schedule=ScheduleConfig(pretrain_g_epochs=3, pretrain_d_rounds=2, pretrain_d_epochs=1,
                                        adv_epochs=4, adv_g_steps=1, adv_d_rounds=1, adv_d_epochs=1,
                                        num_negatives=128, eval_every=2, checkpoint_every_s=0.0),
                adversarial=AdversarialConfig(num_rollouts=4),
                eval=EvalConfig(num_samples=256)),
    ),
}


def get_preset(name: str) -> ExperimentConfig:
    """The preset's config; unknown names list the known ones."""
    if name not in PRESETS:
        raise UserError(f"unknown experiment {name!r}; known: {', '.join(PRESETS)} (see `seqgan experiments`)")
    return PRESETS[name][1]
