"""Named presets: each is a `replace(...)` of the defaults, which are the paper's settings."""

from __future__ import annotations

from dataclasses import replace

from seqgan.base.errors import UserError
from seqgan.text.config import (
    AdversarialConfig,
    DataConfig,
    DiscriminatorConfig,
    EvalConfig,
    ExperimentConfig,
    GeneratorConfig,
    ScheduleConfig,
)

PAPER = ExperimentConfig(name="oracle-paper")

# Real-text defaults: a wider G than the oracle's, and a lighter D than the paper's 1,720-filter bank so
# that a run fits on 2 CPU cores (the paper's D stays one --set away).
TEXT_DATA = DataConfig(corpus="", tokenizer="word", vocab_size=5000, seq_len=32)
TEXT_G = GeneratorConfig(emb_dim=64, hidden_dim=64)
TEXT_D = DiscriminatorConfig(emb_dim=64, filter_sizes=(2, 3, 4, 5), num_filters=(64, 64, 64, 64))
# MLE with early stopping: on these corpora held-out NLL is lowest after 5-10 epochs at the paper's G learning
# rate and then rises (a 40-epoch pretraining overfits: train NLL falls while validation NLL climbs), so the
# MLE phases stop 3 epochs after their best NLL-valid and go back to it; 40 epochs is only a ceiling. The MLE
# baseline's adversarial phase stops the same way, so "MLE" in a study is an early-stopped model too.
TEXT_PATIENCE = 3
TEXT_SCHEDULE = ScheduleConfig(pretrain_g_epochs=40, pretrain_d_rounds=5, pretrain_d_epochs=1, adv_epochs=30,
                               adv_g_steps=1, adv_d_rounds=1, adv_d_epochs=1, num_negatives=2000, eval_every=2,
                               early_stop_patience=TEXT_PATIENCE)



# A transformer G (transformers' GPT-2 architecture, from scratch on the run's tokenizer) sized for 2 CPU cores:
# 2 blocks, width 128. Transformers want a smaller step than the paper's LSTM: at the LSTM's 0.01 the
# held-out NLL of a pretrained GPT G rose by more than a nat within a few policy-gradient steps. Adam at 1e-3
# for MLE and 3e-4 for the policy gradient; dropout 0.1 against overfitting (early stopping still decides).
GPT_G = GeneratorConfig(kind="gpt2", layers=2, heads=4, width=128, dropout=0.1, lr=1e-3)
GPT_ADV = AdversarialConfig(num_rollouts=8, g_lr=3e-4)
# GPU-sized: GPT-2 small's shape (12 blocks, 12 heads, width 768) and the paper's D; minutes per epoch on one
# GPU, far too slow on a CPU.
GPU_G = replace(GPT_G, layers=12, heads=12, width=768, lr=3e-4)
GPU_ADV = AdversarialConfig(num_rollouts=16, g_lr=3e-5)


def _gpt_preset(base: ExperimentConfig, name: str, gpu: bool = False) -> ExperimentConfig:
    """`base` with the transformer G (CPU- or GPU-sized)."""
    if gpu:
        return replace(base, name=name, generator=GPU_G, discriminator=DiscriminatorConfig(),
                       adversarial=replace(base.adversarial, g_lr=GPU_ADV.g_lr, num_rollouts=GPU_ADV.num_rollouts))
    return replace(base, name=name, generator=GPT_G, adversarial=replace(base.adversarial, g_lr=GPT_ADV.g_lr,
                                                                          num_rollouts=GPT_ADV.num_rollouts))


def _corpus_preset(corpus: str, **data: object) -> ExperimentConfig:
    """A named-corpus preset: the text models and schedule, with the corpus's own data settings."""
    return replace(PAPER, name=corpus, data=replace(TEXT_DATA, corpus=corpus, **data), generator=TEXT_G,
                   discriminator=TEXT_D, schedule=TEXT_SCHEDULE, adversarial=AdversarialConfig(num_rollouts=8))


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
    "text-small": (
        "Your own text (--corpus FILE): word tokens, up to 5,000 types, a max length that fits 99% of the "
        "training lines (at most 256 tokens; --max-len fixes it), a light D; MLE "
        "pretraining (up to 50 epochs) stops 3 epochs after its best validation NLL and keeps that epoch; "
        "minutes on 2 CPU cores for a few thousand lines.",
        replace(PAPER, name="text-small", data=replace(TEXT_DATA, seq_len=0),  # 0: sized from the corpus
                generator=TEXT_G, discriminator=TEXT_D,
                schedule=ScheduleConfig(pretrain_g_epochs=50, pretrain_d_rounds=3, pretrain_d_epochs=1,
                                        adv_epochs=20, adv_g_steps=1, adv_d_rounds=1, adv_d_epochs=1,
                                        num_negatives=1000, eval_every=5, early_stop_patience=TEXT_PATIENCE),
                adversarial=AdversarialConfig(num_rollouts=8)),
    ),
    "poems": (
        "Chinese quatrains (SeqGAN paper), character tokens, 24 characters + <eos>; MLE until validation NLL "
        "has not improved for 3 epochs (at most 40; the best epoch is kept), 5 D rounds, 30 adversarial epochs "
        "(1 G step with 8 rollouts, 1 D epoch on 2,000 fresh negatives).",
        _corpus_preset("poems", tokenizer="char", vocab_size=6000, seq_len=25),
    ),
    "obama": (
        "Obama speech paragraphs (substitute corpus), lower-cased words, first 40 tokens; schedule as poems.",
        _corpus_preset("obama", lowercase=True, vocab_size=10_000, seq_len=40),
    ),
    "coco": (
        "COCO captions (Texygen's files, shipped test split), lower-cased words, up to 38 tokens; schedule as "
        "poems.",
        _corpus_preset("coco", lowercase=True, vocab_size=6000, seq_len=38),
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


PRESETS.update({
    "text-small-gpt2": (
        "text-small with a transformer G (GPT-2 architecture from scratch: 2 blocks, 4 heads, width 128, "
        "dropout 0.1; Adam 1e-3 for MLE, 3e-4 for the policy gradient).",
        _gpt_preset(PRESETS["text-small"][1], "text-small-gpt2"),
    ),
    "poems-gpt2": ("poems with the transformer G of text-small-gpt2.", _gpt_preset(PRESETS["poems"][1], "poems-gpt2")),
    "coco-gpt2": ("coco with the transformer G of text-small-gpt2.", _gpt_preset(PRESETS["coco"][1], "coco-gpt2")),
    "poems-gpt2-gpu": (
        "poems with a GPT-2-small-shaped G (12 blocks, 12 heads, width 768; Adam 3e-4 / 3e-5) and the paper's D, "
        "16 rollouts: for a GPU.",
        _gpt_preset(PRESETS["poems"][1], "poems-gpt2-gpu", gpu=True),
    ),
    "coco-gpt2-gpu": ("coco with the GPU-sized transformer G and D of poems-gpt2-gpu.",
                      _gpt_preset(PRESETS["coco"][1], "coco-gpt2-gpu", gpu=True)),
    "obama-gpt2": ("obama with the transformer G of text-small-gpt2.", _gpt_preset(PRESETS["obama"][1], "obama-gpt2")),
    "obama-gpt2-gpu": ("obama with the GPU-sized transformer G and D of poems-gpt2-gpu.",
                       _gpt_preset(PRESETS["obama"][1], "obama-gpt2-gpu", gpu=True)),
})


def get_preset(name: str) -> ExperimentConfig:
    """The preset's config; unknown names list the known ones."""
    if name not in PRESETS:
        raise UserError(f"unknown experiment {name!r}; known: {', '.join(PRESETS)} (see `seqgan experiments`)")
    return PRESETS[name][1]
