"""seqgan.text.config and seqgan.text.presets: overrides, types, validation, JSON round trip, presets."""

from __future__ import annotations

import json

import pytest

from seqgan.base.errors import UserError
from seqgan.core.config import all_keys as _all_keys
from seqgan.core.config import parse_value as _parse_value
from seqgan.text.config import (
    PAPER_FILTER_SIZES,
    PAPER_NUM_FILTERS,
    AdversarialConfig,
    DataConfig,
    DiscriminatorConfig,
    EvalConfig,
    ExperimentConfig,
    GeneratorConfig,
    ScheduleConfig,
    apply_overrides,
    config_to_json,
)
from seqgan.text.presets import PRESETS, get_preset


def test_defaults_are_the_papers_settings():
    c = ExperimentConfig()
    assert (c.generator.emb_dim, c.generator.hidden_dim, c.generator.lr, c.generator.grad_clip) == (32, 32, 0.01, 5.0)
    assert (c.data.vocab_size, c.data.seq_len) == (5000, 20)
    assert c.discriminator.filter_sizes == (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20) == PAPER_FILTER_SIZES
    assert c.discriminator.num_filters == (100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160)
    assert PAPER_NUM_FILTERS == c.discriminator.num_filters
    assert (c.discriminator.emb_dim, c.discriminator.dropout, c.discriminator.l2_reg, c.discriminator.lr) == (
        64, 0.25, 0.2, 1e-4)
    assert (c.adversarial.num_rollouts, c.adversarial.rollout_update_rate) == (16, 0.8)
    s = c.schedule
    assert (s.pretrain_g_epochs, s.pretrain_d_rounds, s.pretrain_d_epochs, s.adv_epochs, s.adv_g_steps,
            s.adv_d_rounds, s.adv_d_epochs) == (120, 50, 3, 200, 1, 5, 3)


def test_override_types():
    c = apply_overrides(ExperimentConfig(), [
        "schedule.adv_epochs=7",
        "generator.lr=0.5",
        "adversarial.rollout_update_rate=0",
        "discriminator.filter_sizes=2, 3",
        "discriminator.num_filters=8,9",
        "data.oracle=random",
        "seed=3",
    ])
    assert c.schedule.adv_epochs == 7 and type(c.schedule.adv_epochs) is int
    assert c.generator.lr == 0.5 and type(c.generator.lr) is float
    assert c.adversarial.rollout_update_rate == 0.0 and type(c.adversarial.rollout_update_rate) is float
    assert c.discriminator.filter_sizes == (2, 3) and c.discriminator.num_filters == (8, 9)
    assert c.data.oracle == "random" and c.seed == 3
    # the original is untouched (frozen dataclasses)
    assert ExperimentConfig().schedule.adv_epochs == 200


@pytest.mark.parametrize("text,value", [("true", True), ("1", True), ("Yes", True), ("on", True),
                                        ("false", False), ("0", False), ("NO", False), ("off", False)])
def test_parse_bool(text, value):
    assert _parse_value("x.flag", text, bool) is value


def test_parse_optional_and_tuple_of_floats():
    hint = int | None
    assert _parse_value("x", "none", hint) is None
    assert _parse_value("x", "4", hint) == 4
    assert _parse_value("x", "0.5,1.5", tuple[float, ...]) == (0.5, 1.5)
    with pytest.raises(UserError, match="expected bool"):
        _parse_value("x.flag", "maybe", bool)


@pytest.mark.parametrize("item,pattern", [
    ("schedule.adv_epochs=ten", r"schedule\.adv_epochs=ten: expected int"),
    ("schedule.adv_epochs=1.5", "expected int"),
    ("generator.lr=fast", "expected float"),
    ("discriminator.filter_sizes=2,x", r"discriminator\.filter_sizes=.*expected int"),
])
def test_ill_typed_values(item, pattern):
    with pytest.raises(UserError, match=pattern):
        apply_overrides(ExperimentConfig(), [item])


def test_unknown_key_names_the_closest():
    with pytest.raises(UserError, match=r"unknown config key 'schedule\.adv_epoch'.*schedule\.adv_epochs"):
        apply_overrides(ExperimentConfig(), ["schedule.adv_epoch=3"])
    with pytest.raises(UserError, match=r"generator\.hidden_dim"):
        apply_overrides(ExperimentConfig(), ["generator.hiden_dim=3"])
    with pytest.raises(UserError, match="unknown config key 'zzzz'"):
        apply_overrides(ExperimentConfig(), ["zzzz=3"])
    with pytest.raises(UserError, match="unknown config key 'schedule'"):  # a section is not a key
        apply_overrides(ExperimentConfig(), ["schedule=3"])


def test_missing_equals_sign():
    with pytest.raises(UserError, match="expected KEY=VALUE"):
        apply_overrides(ExperimentConfig(), ["schedule.adv_epochs"])


def test_related_overrides_are_validated_together():
    c = apply_overrides(ExperimentConfig(), ["discriminator.filter_sizes=2,3", "discriminator.num_filters=4,4"])
    assert c.discriminator.filter_sizes == (2, 3)
    with pytest.raises(UserError, match="filter_sizes .2 entries. and num_filters .12."):
        apply_overrides(ExperimentConfig(), ["discriminator.filter_sizes=2,3"])


def test_value_with_equals_sign_and_spaces():
    c = apply_overrides(ExperimentConfig(), [" name = a=b "])
    assert c.name == "a=b"


@pytest.mark.parametrize("name", list(PRESETS))
def test_json_round_trip(name):
    config = apply_overrides(get_preset(name), ["seed=9", "discriminator.filter_sizes=2,3",
                                                "discriminator.num_filters=8,8"])
    text = config_to_json(config)
    back = ExperimentConfig.from_dict(json.loads(text))
    assert back == config
    assert isinstance(back.discriminator.filter_sizes, tuple)
    assert ExperimentConfig.from_dict(config.to_dict()) == config


def test_from_dict_rejects_unknown_keys():
    data = ExperimentConfig().to_dict()
    data["schedule"]["adv_epochz"] = 1
    with pytest.raises(UserError, match=r"schedule\.adv_epochz.*schedule\.adv_epochs"):
        ExperimentConfig.from_dict(data)


def test_from_dict_partial_uses_defaults():
    c = ExperimentConfig.from_dict({"seed": 4, "schedule": {"adv_epochs": 2}})
    assert c.seed == 4 and c.schedule.adv_epochs == 2 and c.schedule.pretrain_g_epochs == 120


@pytest.mark.parametrize("build,message", [
    (lambda: DataConfig(oracle="paper"), "data.oracle must be auto, original or random"),
    (lambda: DataConfig(train="x"), "data.train must be shipped or sample"),
    (lambda: DataConfig(num_test=0), "num_test must be >= 1"),
    (lambda: DataConfig(seq_len=1), "seq_len must be >= 2"),
    (lambda: GeneratorConfig(hidden_dim=0), "generator sizes must be >= 1"),
    (lambda: GeneratorConfig(lr=0.0), "generator.lr must be > 0"),
    (lambda: DiscriminatorConfig(kind="lstm"), "discriminator.kind must be cnn or rnn"),
    (lambda: DiscriminatorConfig(filter_sizes=(), num_filters=()), "non-zero length"),
    (lambda: DiscriminatorConfig(dropout=1.0), r"discriminator.dropout must be in \[0, 1\)"),
    (lambda: ScheduleConfig(adv_epochs=-1), "schedule.adv_epochs must be >= 0"),
    (lambda: ScheduleConfig(eval_every=0), "eval_every must be >= 1"),
    (lambda: AdversarialConfig(method="gail"), "adversarial.method must be one of seqgan, constant, mle, ss, pg-bleu"),
    (lambda: AdversarialConfig(num_rollouts=0), "num_rollouts must be >= 1"),
    (lambda: AdversarialConfig(rollout_update_rate=1.0), r"rollout_update_rate must be in \[0, 1\)"),
    (lambda: AdversarialConfig(baseline="ema"), "baseline must be none or mean"),
    (lambda: AdversarialConfig(reduction="max"), "reduction must be sum or mean"),
    (lambda: AdversarialConfig(g_lr=float("nan")), "g_lr must be > 0"),
    (lambda: EvalConfig(num_samples=0), "eval.num_samples must be >= 1"),
])
def test_post_init_validation(build, message):
    with pytest.raises(UserError, match=message):
        build()


def test_validation_also_applies_to_overrides():
    with pytest.raises(UserError, match="num_rollouts must be >= 1"):
        apply_overrides(ExperimentConfig(), ["adversarial.num_rollouts=0"])


@pytest.mark.parametrize("item", ["discriminator.batch_size=0", "discriminator.lr=-1", "discriminator.emb_dim=0",
                                  "generator.init_std=-1", "discriminator.num_filters=0,8,8,8,8,8,8,8,8,8,8,8"])
def test_values_that_crash_later_are_rejected_up_front(item):
    with pytest.raises(UserError):
        apply_overrides(ExperimentConfig(), [item])


def test_all_keys_are_settable():
    keys = _all_keys(ExperimentConfig)
    assert "schedule.adv_epochs" in keys and "discriminator.filter_sizes" in keys and "seed" in keys
    assert len(keys) == len(set(keys))
    defaults = ExperimentConfig().to_dict()
    for key in keys:  # setting every key to its own default is a no-op
        *parents, leaf = key.split(".")
        node = defaults
        for p in parents:
            node = node[p]
        value = node[leaf]
        text = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
        assert apply_overrides(ExperimentConfig(), [f"{key}={text}"]) == ExperimentConfig(), key


def test_presets():
    assert set(PRESETS) >= {"oracle-paper", "oracle", "oracle-tiny"}
    assert get_preset("oracle-paper") == ExperimentConfig(name="oracle-paper")
    tiny = get_preset("oracle-tiny")
    assert tiny.data.oracle == "random" and tiny.schedule.checkpoint_every_s == 0.0
    oracle = get_preset("oracle")
    assert oracle.generator == ExperimentConfig().generator and oracle.discriminator == ExperimentConfig().discriminator
    with pytest.raises(UserError, match="unknown experiment 'oracle-huge'.*oracle-tiny"):
        get_preset("oracle-huge")
