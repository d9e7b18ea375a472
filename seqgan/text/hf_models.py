"""Hugging Face causal language models: load a local one, wrap a run's tokenizer, export a generator.

Everything here works offline: models are read from local folders only (`local_files_only=True`), never from
the Hub. transformers is imported inside the functions, so that importing this module (and parsing the command
line) stays fast.

A run's generator is fed `<bos>` first and stops at `<eos>`. The exported tokenizer therefore puts `<bos>` in
front of every text it encodes (as a post-processor, so `encode(x, add_special_tokens=False)` is still the run's
ids), and the exported model's config and generation config name the run's `<bos>`, `<eos>` and `<pad>` ids, so
that `generate` and `pipeline("text-generation")` start and stop as the run's own sampler does.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqgan.base.errors import UserError
from seqgan.base.outputs import Inputs, check_output_folder
from text_data.tokenizer import BOS, EOS, PAD, SPECIALS, UNK, load_tokenizer

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase, PreTrainedTokenizerFast

MODEL_CONFIG = "config.json"
# the config fields different model families use for their number of positions, most specific first
CONTEXT_FIELDS = ("n_positions", "max_position_embeddings", "n_ctx")
MISSING_SHOWN = 3  # missing weight names quoted in an error


@dataclass(frozen=True)
class SpecialTokens:
    """The special tokens of a run's tokenizer (text_data.tokenizer's, with their fixed ids)."""

    pad: str = SPECIALS[PAD]
    bos: str = SPECIALS[BOS]
    eos: str = SPECIALS[EOS]
    unk: str = SPECIALS[UNK]

    def tokenizer_kwargs(self) -> dict[str, str]:
        """The keyword arguments a transformers tokenizer takes for them."""
        return {"pad_token": self.pad, "bos_token": self.bos, "eos_token": self.eos, "unk_token": self.unk}


def _offline() -> None:
    """Ask huggingface_hub never to reach the network (read when it is first imported; local_files_only=True on
    every call is what guarantees it afterwards)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' warnings, load reports and progress bars while inside: a user error must stay one
    line on stderr, and a successful load has nothing to report."""
    _offline()
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def _first_line(err: BaseException) -> str:
    """An exception's message cut to its first non-empty line (transformers' messages run over many lines)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


def context_size(config: Any) -> int | None:
    """The number of positions a model's config allows (n_positions, max_position_embeddings or n_ctx), or None
    when it names none (the model then has no fixed limit we can check)."""
    for field in CONTEXT_FIELDS:
        value = getattr(config, field, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def check_context(model: PreTrainedModel, max_len: int) -> None:
    """Refuse sequences longer than the model's context, in one line.

    Args:
        model: a causal language model.
        max_len: the positions a sequence takes in the model (its tokens, and <bos> when it is fed first).
    """
    limit = context_size(model.config)
    if limit is not None and max_len > limit:
        raise UserError(f"sequences of {max_len} positions are longer than the model's context of {limit} "
                        f"positions ({type(model).__name__}); use a max length of at most {limit}")


def embedding_rows(model: PreTrainedModel) -> int:
    """The number of token ids the model's input embedding has a row for."""
    return int(model.get_input_embeddings().weight.shape[0])


def tokenizer_size(tokenizer: PreTrainedTokenizerBase) -> int:
    """The number of ids the tokenizer can produce: its vocabulary with added tokens, and its largest id + 1
    (a vocabulary with gaps in its ids still needs rows up to the largest)."""
    largest = max(tokenizer.get_vocab().values(), default=-1)
    return max(len(tokenizer), largest + 1)


def _check_model_dir(path: str | os.PathLike) -> Path:
    folder = Path(path).expanduser()
    if not folder.exists():
        raise UserError(f"model folder {path} does not exist; pass a folder holding a saved causal language model")
    if not folder.is_dir():
        raise UserError(f"{path} is a file; pass the folder a causal language model was saved into "
                        "(with save_pretrained)")
    if not (folder / MODEL_CONFIG).is_file():
        raise UserError(f"{path} has no {MODEL_CONFIG}, so it is not a saved Hugging Face model; pass the folder "
                        "a causal language model was saved into (with save_pretrained)")
    return folder


def _check_causal(config: Any, path: str | os.PathLike) -> None:
    """Refuse a config that does not describe a decoder-only language model."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    causal_classes = set(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values())
    architectures = list(getattr(config, "architectures", None) or [])
    known = config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    saved_as_lm = not architectures or any(name in causal_classes for name in architectures)
    if not known or not saved_as_lm or getattr(config, "is_encoder_decoder", False):
        what = architectures[0] if architectures else f"{config.model_type!r}"
        raise UserError(f"{path} holds a {what} model, which is not a causal language model (an encoder-only or "
                        "encoder-decoder model has no next-token head); pass a model saved with one, e.g. "
                        "GPT2LMHeadModel")


def load_causal_lm(path: str | os.PathLike, device: str = "auto") -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a causal language model and its tokenizer from a local folder, offline, in eval mode.

    Refused with a one-line UserError, before anything is written: a missing folder or config.json, a model
    that is not a causal language model (its config or its saved class says so, or its weights lack part of the
    language-model head, which would be left random), missing or unreadable weights, missing tokenizer files,
    and a tokenizer with more ids than the model has embedding rows. A tokenizer with fewer ids is accepted:
    many models pad their embedding table (to a multiple of 64, say) beyond their vocabulary.

    Args:
        path: the folder `save_pretrained` wrote (config.json, weights, tokenizer files).
        device: "auto", "cpu", "cuda" or "cuda:N".
    """
    folder = _check_model_dir(path)
    from seqgan.core.runtime import pick_device

    torch_device = pick_device(device)
    with quiet_transformers():
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

        try:
            config = AutoConfig.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise UserError(f"{folder / MODEL_CONFIG} cannot be read as a model config ({_first_line(err)})") from None
        _check_causal(config, path)
        try:
            model, info = AutoModelForCausalLM.from_pretrained(folder, config=config, local_files_only=True,
                                                               output_loading_info=True)
        except (OSError, ValueError, RuntimeError, KeyError, TypeError) as err:
            raise UserError(f"the weights in {path} cannot be loaded ({_first_line(err)}); the folder needs the "
                            "model.safetensors (or pytorch_model.bin) that save_pretrained writes") from None
        missing = sorted(info.get("missing_keys") or [])
        if missing:
            raise UserError(f"the weights in {path} lack {len(missing)} of the {type(model).__name__}'s tensors "
                            f"(e.g. {', '.join(missing[:MISSING_SHOWN])}), which would be left random; it was not "
                            "saved as a causal language model")
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise UserError(f"no usable tokenizer in {path} ({_first_line(err)}); save the model's tokenizer into "
                            "the same folder (tokenizer.save_pretrained)") from None
    # without tokenizer files, transformers builds an empty tokenizer of the config's model type instead of failing
    if not callable(getattr(tokenizer, "get_vocab", None)) or not set(tokenizer.get_vocab()) - set(
            tokenizer.all_special_tokens):
        raise UserError(f"no tokenizer files in {path} (its tokenizer has no tokens but special ones); save the "
                        "model's tokenizer into the same folder (tokenizer.save_pretrained)")
    ids, rows = tokenizer_size(tokenizer), embedding_rows(model)
    if ids > rows:
        raise UserError(f"the tokenizer in {path} has {ids} token ids but the model's embedding has only {rows} "
                        "rows; the tokenizer belongs to another model")
    return model.to(torch_device).eval(), tokenizer


def hf_tokenizer_from_run(tokenizer_json_path: str | os.PathLike, specials: SpecialTokens | None = None,
                          add_bos: bool = True) -> PreTrainedTokenizerFast:
    """A run's tokenizer.json as a transformers fast tokenizer with the run's encode and decode.

    `encode(x, add_special_tokens=False)` gives the run's ids of `x`; `decode(ids, skip_special_tokens=True)`
    gives back `x` for every line the run's tokenizer round-trips (no <unk>). Spacing and punctuation are the
    run's decoder's: the text is not cleaned up.

    Args:
        tokenizer_json_path: a tokenizer.json written by text_data.tokenizer (a run directory's).
        specials: the run's special tokens.
        add_bos: put <bos> before every encoded text (what a run's generator is fed first); with False,
            `encode(x)` is exactly the run's ids.
    """
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast

    specials = specials or SpecialTokens()
    tok = load_tokenizer(tokenizer_json_path)
    for token in (specials.pad, specials.bos, specials.eos, specials.unk):
        if tok.token_to_id(token) is None:
            raise UserError(f"{tokenizer_json_path} has no special token {token}; it must be a run's tokenizer.json")
    if add_bos:
        bos = (specials.bos, tok.token_to_id(specials.bos))
        tok.post_processor = processors.TemplateProcessing(single=f"{specials.bos} $A",
                                                           pair=f"{specials.bos} $A $B:1", special_tokens=[bos])
    return PreTrainedTokenizerFast(tokenizer_object=tok, clean_up_tokenization_spaces=False,
                                   **specials.tokenizer_kwargs())


def check_export_dir(out_dir: str | os.PathLike, flag: str = "--hf", inputs: Inputs = ()) -> Path:
    """Check the folder an export will create: not a file, a run directory or one of `inputs` (the output
    guard), not a folder with files in it, and in a folder that exists. Returns it as a Path.

    Args:
        out_dir: the output folder.
        flag: the option that named it (for messages).
        inputs: (option, path) pairs the command reads.
    """
    out = check_output_folder(out_dir, flag, inputs)
    if out.is_dir() and any(out.iterdir()):
        raise UserError(f"{flag} {out_dir} is a folder with files in it; pass a new or empty folder")
    if not out.parent.is_dir():
        raise UserError(f"{flag} {out_dir}: folder {out.parent} does not exist; create it first")
    return out


def _special_ids(tokenizer: PreTrainedTokenizerBase) -> dict[str, int]:
    return {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id}


def export_hf(model: PreTrainedModel, tokenizer_json_path: str | os.PathLike, out_dir: str | os.PathLike,
              specials: SpecialTokens | None = None, flag: str = "--hf", inputs: Inputs = ()) -> Path:
    """Write `model` with the run's tokenizer as a folder that AutoModelForCausalLM, AutoTokenizer and
    pipeline("text-generation") load, offline.

    The files are written into a temporary folder beside `out_dir` and renamed into place at the end, so an
    interrupted export leaves no half-written model. The config and generation config name the run's special
    ids; sampling is plain ancestral sampling (do_sample, no top-k), up to the model's context. `model` itself
    is not changed.

    Args:
        model: the generator's network (a transformers causal language model).
        tokenizer_json_path: the run's tokenizer.json.
        out_dir: a new or empty folder, in a folder that exists.
        specials: the run's special tokens.
        flag: the option that named `out_dir` (for messages).
        inputs: (option, path) pairs the caller reads, which `out_dir` must not be.
    """
    out = check_export_dir(out_dir, flag, [("tokenizer", tokenizer_json_path), *inputs])
    tokenizer = hf_tokenizer_from_run(tokenizer_json_path, specials)
    ids, rows = tokenizer_size(tokenizer), embedding_rows(model)
    if ids != rows:
        raise UserError(f"the run's tokenizer has {ids} token ids but the model's embedding has {rows} rows; "
                        "the model was not trained with this tokenizer")
    return write_export(model, tokenizer, out, _special_ids(tokenizer))


def export_pretrained(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, ids: dict[str, int],
                      out_dir: str | os.PathLike, flag: str = "--hf", inputs: Inputs = ()) -> Path:
    """`export_hf` for a generator that was a pretrained model: its own tokenizer, and the run's special ids
    (bos_token_id: the id the generator is fed first; eos_token_id, pad_token_id) in its configs.

    Args:
        model: the generator's network.
        tokenizer: the model's tokenizer, as the run kept it.
        ids: bos_token_id, eos_token_id and pad_token_id.
        out_dir: a new or empty folder, in a folder that exists.
        flag: the option that named `out_dir` (for messages).
        inputs: (option, path) pairs the caller reads, which `out_dir` must not be.
    """
    out = check_export_dir(out_dir, flag, inputs)
    ids_size, rows = tokenizer_size(tokenizer), embedding_rows(model)
    if ids_size > rows:
        raise UserError(f"the run's tokenizer has {ids_size} token ids but the model's embedding has only {rows} "
                        "rows; the model was not trained with this tokenizer")
    return write_export(model, tokenizer, out, ids)


def write_export(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, out: Path, ids: dict[str, int]) -> Path:
    """Write the model and tokenizer into `out` (checked: new or empty) through a temporary folder beside it, with
    `ids` (bos/eos/pad_token_id) in the saved config and generation config; `model` itself is not changed."""
    limit = context_size(model.config)
    if limit is not None:
        tokenizer.model_max_length = limit
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        with quiet_transformers():
            from transformers import AutoConfig, GenerationConfig

            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            # the saved copy of the config gets the run's ids, not the caller's model
            config = AutoConfig.from_pretrained(tmp, local_files_only=True)
            for name, value in ids.items():
                setattr(config, name, value)
            config.save_pretrained(tmp)
            generation = GenerationConfig(**ids, do_sample=True, top_k=0,
                                          **({"max_length": limit} if limit is not None else {}))
            generation.save_pretrained(tmp)
        # mkdtemp's folder (and some of the writers' files) are private; the export is an ordinary folder
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        for file in tmp.iterdir():
            os.chmod(file, 0o666 & ~umask)
        os.replace(tmp, out)  # onto a missing or (checked) empty folder: atomic
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
