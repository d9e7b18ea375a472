"""Config machinery every kind of run shares: frozen dataclasses built from nested dicts, typed `--set a.b=value`
overrides whose unknown keys name the closest known ones, the JSON round trip, and the resume rule (which keys
may change when a run is resumed).

A kind of run (text, image) declares its sections as frozen dataclasses validated in `__post_init__` with `check`,
and its top-level config as a subclass of `RunConfig`.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import types
import typing
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from seqgan.base.errors import UserError

MAX_SEED = 2**32 - 1  # seeds derived from the run's seed (evaluation, oracle data) must stay within 64 bits


def check(condition: bool, message: str) -> None:
    """Raise a UserError with `message` (which says the fix) unless `condition` holds."""
    if not condition:
        raise UserError(message)


def seed_arg(text: str) -> int:
    """argparse type of a --seed flag: an integer in 0..MAX_SEED (a bigger one overflows torch's seeding)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be an integer in 0..{MAX_SEED}, not {text!r}")
    return value


def add_sampling_arguments(parser: argparse.ArgumentParser, what: str, default_n: int, checkpoint_help: str) -> None:
    """--run-dir, -n, --seed and --checkpoint: what every command that samples a trained run takes.

    Args:
        parser: the command's parser.
        what: what -n counts ("sequences", "images").
        default_n: -n's default.
        checkpoint_help: what --checkpoint accepts for this kind of run.
    """
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("-n", type=int, default=default_n, help=f"number of {what} (default {default_n})")
    parser.add_argument("--seed", type=seed_arg, default=0)
    parser.add_argument("--checkpoint", default="last", help=checkpoint_help)


@dataclass(frozen=True)
class RunConfig:
    """The top-level config of a run: its name, seed and device, the JSON round trip, and what errors name.

    A subclass adds its sections (and may give `name` its own default); config.json keeps this field order.
    """

    KEYS_COMMAND: ClassVar[str] = "seqgan experiments --keys"  # named in unknown-key errors
    EXAMPLE_OVERRIDE: ClassVar[str] = "schedule.eval_every=1"  # named when a --set has no "="

    name: str = "run"
    seed: int = 1
    device: str = "auto"

    def __post_init__(self) -> None:
        check(bool(self.device), "device must be auto, cpu, cuda or cuda:N")
        check(0 <= self.seed <= MAX_SEED, f"seed must be an integer in 0..{MAX_SEED} (got {self.seed})")

    def to_dict(self) -> dict:
        """Plain nested dict (tuples become lists once written as JSON)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Any:
        """Inverse of `to_dict`; unknown keys are an error naming the closest ones, missing keys take defaults."""
        return config_from_dict(cls, data)


def config_from_dict(root: type, data: dict) -> Any:
    """Build the frozen config dataclass `root` from a nested dict; unknown keys name the closest known ones.

    Args:
        root: the top-level config class (ExperimentConfig, ImageConfig).
        data: nested plain data, e.g. read from config.json; missing keys take their defaults.
    """
    known = all_keys(root)
    keys_command = root.KEYS_COMMAND

    def build(cls: type, node: dict, prefix: str) -> Any:
        hints = typing.get_type_hints(cls)
        names = {f.name for f in fields(cls)}
        kwargs = {}
        for key, value in node.items():
            if key not in names:
                raise UserError(unknown_key_message(prefix + key, known, keys_command))
            hint = hints[key]
            if dataclasses.is_dataclass(hint):
                kwargs[key] = build(hint, value, prefix + key + ".")
            elif typing.get_origin(hint) is tuple:
                kwargs[key] = tuple(value)
            else:
                kwargs[key] = value
        return cls(**kwargs)

    return build(root, data, "")


def all_keys(cls: type, prefix: str = "") -> list[str]:
    """Every leaf key of a config dataclass as "section.key", in declaration order."""
    keys = []
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            keys += all_keys(hints[f.name], prefix + f.name + ".")
        else:
            keys.append(prefix + f.name)
    return keys


def unknown_key_message(key: str, known: list[str], keys_command: str = "seqgan experiments --keys") -> str:
    """The error for an unknown config key: the closest known keys, or the command that lists them."""
    close = difflib.get_close_matches(key, known, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; `{keys_command}` lists them"
    return f"unknown config key {key!r}{hint}"


def parse_value(key: str, text: str, hint: Any) -> Any:
    """The value of `--set key=text` as the type `hint` of the key (bool, int, float, str, tuples, optionals)."""
    origin = typing.get_origin(hint)
    try:
        if hint is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if hint is int:
            return int(text)
        if hint is float:
            return float(text)
        if hint is str:
            return text
        if origin is tuple:
            (item,) = {a for a in typing.get_args(hint) if a is not Ellipsis}
            return tuple(parse_value(key, part.strip(), item) for part in text.split(",") if part.strip())
        if origin in (typing.Union, types.UnionType):
            return None if text.lower() == "none" else parse_value(key, text, typing.get_args(hint)[0])
    except ValueError:
        pass
    else:
        raise UserError(f"config key {key!r} has unsupported type {hint}")
    kind = getattr(hint, "__name__", str(hint))
    raise UserError(f"--set {key}={text}: expected {kind}" + (" (comma-separated)" if origin is tuple else ""))


def apply_overrides(config: Any, overrides: list[str]) -> Any:
    """Apply `a.b=value` overrides with type checks; unknown keys name the closest known ones.

    All overrides are applied before validation, so related keys (filter sizes and counts) can change together.
    Works for any config dataclass with `to_dict` (ExperimentConfig, ImageConfig).

    Args:
        config: the preset.
        overrides: strings like "schedule.adv_epochs=10" or "discriminator.filter_sizes=2,3".
    """
    root = type(config)
    known = all_keys(root)
    data = config.to_dict()
    for item in overrides:
        if "=" not in item:
            raise UserError(f"--set {item!r}: expected KEY=VALUE, e.g. {root.EXAMPLE_OVERRIDE}")
        key, text = item.split("=", 1)
        key = key.strip()
        if key not in known:
            raise UserError(unknown_key_message(key, known, root.KEYS_COMMAND))
        *parents, leaf = key.split(".")
        node, cls = data, root
        for name in parents:
            node, cls = node[name], typing.get_type_hints(cls)[name]
        node[leaf] = parse_value(key, text.strip(), typing.get_type_hints(cls)[leaf])
    return config_from_dict(root, data)


def flatten_config(data: dict, prefix: str = "") -> dict:
    """A nested config dict as {"section.key": value} (what `--keys` prints and `--set` takes)."""
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(flatten_config(value, prefix + key + "."))
        else:
            out[prefix + key] = value
    return out


def config_changes(old: dict, new: dict, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """Every leaf key whose value differs between two nested config dicts, as (key, old, new)."""
    changes = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            changes += config_changes(a, b, prefix + key + ".")
        elif a != b:
            changes.append((f"{prefix}{key}", a, b))
    return changes


def config_differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    """Every leaf key whose value differs between two nested config dicts, as "key: old -> new"."""
    return [f"{key}: {a} -> {b}" for key, a, b in config_changes(old, new, prefix)]


def check_same_config(run_dir: Any, stored: dict, current: dict,
                      resumable: tuple[str, ...]) -> list[tuple[str, Any, Any]]:
    """Refuse to resume a run whose stored config differs from this one outside the `resumable` key prefixes;
    returns the changes a resume may make, as (key, stored value, new value), for the caller to announce.

    Args:
        run_dir: the run directory (named in the error).
        stored: the config dict in run_dir/config.json (already upgraded to this version's keys).
        current: the config dict of this invocation.
        resumable: prefixes of "key: old -> new" differences that may change on resume (e.g. "schedule.").
    """
    as_json = json.loads(json.dumps(current))  # tuples become lists, as in the stored file
    changes = config_changes(json.loads(json.dumps(stored)), as_json)
    # the preset's name and the kinds of model first: they say at once that another experiment is meant
    first = ("name", "generator.kind", "model.net", "train.loss", "data.corpus", "data.dataset")
    refused = sorted((c for c in changes if not f"{c[0]}: ".startswith(resumable)),
                     key=lambda c: first.index(c[0]) if c[0] in first else len(first))
    if refused:
        shown = "; ".join(f"{key}: {a} -> {b}" for key, a, b in refused[:3])
        more = f"; and {len(refused) - 3} more" if len(refused) > 3 else ""
        raise UserError(f"{run_dir} holds a run with a different configuration ({shown}{more}); "
                        "re-run with the same settings to resume, or use a new --run-dir")
    return [change for change in changes if f"{change[0]}: ".startswith(resumable)]


def change_notes(changes: list[tuple[str, Any, Any]]) -> list[str]:
    """The lines a resume prints for the settings it changes: "note: schedule.adv_epochs 20 -> 30 (resumable
    change)"; a resume rewrites config.json with the new values, so this is where the user sees them change."""
    return [f"note: {key} {a} -> {b} (resumable change)" for key, a, b in changes]


def config_to_json(config: RunConfig) -> str:
    """Indented JSON text of a config."""
    return json.dumps(config.to_dict(), indent=2)


def parse_seeds(text: str) -> list[int]:
    """`--seeds 1,2,3` as a list of ints; anything else is a one-line UserError."""
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError as err:
        raise UserError(f"--seeds must be comma-separated integers (got {text!r})") from err
