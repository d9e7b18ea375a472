"""A pretrained causal language model as a text run's generator (generator.kind=pretrained, `--generator-from`).

A new run reads the model and its tokenizer from the local folder generator.pretrained names, offline
(`hf_models.load_causal_lm`). The run then encodes its corpus with that tokenizer and takes its special ids
from it: start = <bos> (or <eos> when there is none), <eos>, pad = <pad> (or <eos>), unk (None for byte-level
BPE, which has none).

The run directory keeps what rebuilds G and the tokenizer without that folder, so sampling, evaluating,
exporting and resuming work even once it is gone:

- `model/`: the model's config.json and its tokenizer files (as `save_pretrained` writes them), and
  `source.json` (the folder it came from and a fingerprint of its files);
- `tokenizer.json` and `special_ids.json`: the tokenizer the data is encoded with, and its special ids
  (`text_data.tokenizer.load_run_tokenizer`).

The weights are in the checkpoints only. A run that has none yet (it was stopped before its first checkpoint)
reads them from the folder again, which must still hold the same model (the fingerprint).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from seqgan.base.errors import UserError
from seqgan.base.files import atomic_write_json
from seqgan.text.hf_models import context_size, load_causal_lm, quiet_transformers
from seqgan.text.transformer_generator import CausalLMGenerator
from text_data.tokenizer import SpecialIds, load_run_tokenizer

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

MODEL_DIR = "model"  # in the run directory: the model's config and tokenizer files
SOURCE_FILE = "source.json"  # in MODEL_DIR: the folder the model came from, and its fingerprint
# the small files that say which model and tokenizer a folder holds (hashed); the weights are only sized
FINGERPRINT_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                     "vocab.json", "merges.txt", "tokenizer.model", "added_tokens.json")
WEIGHT_SUFFIXES = (".safetensors", ".bin")
FINE_TUNING_LR = 1e-3  # learning rates above this are a from-scratch model's: a pretrained one is warned about
PROBE_TOKENS = 4  # positions of the check that the wrapper reproduces the model's logits
LOGIT_TOLERANCE = 1e-4  # relative to the largest logit


@dataclass
class Pretrained:
    """A pretrained generator's parts, as a run uses them.

    Attributes:
        model: the causal LM, fp32, in eval mode (its weights are random when rebuilt from a run directory:
            the checkpoint fills them).
        tokenizer: the `tokenizers.Tokenizer` the run encodes and decodes with.
        specials: its special ids.
        source: what `model/source.json` holds (the folder and its fingerprint).
        hf_tokenizer: the transformers tokenizer (None when rebuilt from a run directory, which has it in
            `model/`).
    """

    model: PreTrainedModel
    tokenizer: Any
    specials: SpecialIds
    source: dict
    hf_tokenizer: PreTrainedTokenizerBase | None = None

    @property
    def vocab_size(self) -> int:
        """G's vocabulary: the rows of the model's LM head (at least the tokenizer's ids; some models pad it)."""
        return int(self.model.get_output_embeddings().weight.shape[0])


def fingerprint(folder: Path) -> dict:
    """Which model a folder holds, cheaply: the SHA-256 of its config and tokenizer files, the sizes of its
    weight files."""
    out: dict[str, Any] = {}
    for name in FINGERPRINT_FILES:
        path = folder / name
        if path.is_file():
            out[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.name.endswith(WEIGHT_SUFFIXES):
            out[path.name] = path.stat().st_size
    return out


def special_ids(tokenizer: PreTrainedTokenizerBase, path: str) -> SpecialIds:
    """The run's special ids from a model's tokenizer: start = bos (eos without one), eos, pad (eos without
    one), unk (None without one, or when it is one of the others). A tokenizer without <eos> is refused: lines
    must end."""
    eos = tokenizer.eos_token_id
    if eos is None:
        raise UserError(f"the tokenizer in {path} has no end-of-text token (eos_token); seqgan ends every line with "
                        "one: save the tokenizer with eos_token set")
    bos, pad, unk = tokenizer.bos_token_id, tokenizer.pad_token_id, tokenizer.unk_token_id
    start, pad = eos if bos is None else bos, eos if pad is None else pad
    # GPT-2's tokenizer names <|endoftext|> as its unknown token too, but byte-level BPE never produces one: an
    # "unknown" id that is a control id marks no unknown word
    return SpecialIds(start=start, eos=eos, pad=pad, unk=None if unk in (start, eos, pad) else unk)


def run_tokenizer(hf_tokenizer: PreTrainedTokenizerBase, lowercase: bool) -> Any:
    """The `tokenizers.Tokenizer` a run encodes its corpus with: the fast tokenizer's own, without truncation
    or padding, lower-casing first with data.lowercase, and encoding the text of special tokens as text (as
    `load_run_tokenizer` reads it back)."""
    from tokenizers import Tokenizer, normalizers

    tok = Tokenizer.from_str(hf_tokenizer.backend_tokenizer.to_str())
    if lowercase:  # the run's copy only: the model's tokenizer files (and an export) stay as the model had them
        tok.normalizer = normalizers.Sequence([normalizers.Lowercase()]
                                              + ([tok.normalizer] if tok.normalizer is not None else []))
    tok.no_truncation()
    tok.no_padding()
    tok.encode_special_tokens = True
    return tok


def _from_folder(path: str, lowercase: bool) -> Pretrained:
    """A new run's generator and tokenizer, from the folder --generator-from names (UserErrors: see
    `load_causal_lm`; a tokenizer that is not a fast one, or has no <eos>)."""
    model, hf_tokenizer = load_causal_lm(path, device="cpu")
    if not getattr(hf_tokenizer, "is_fast", False) or getattr(hf_tokenizer, "backend_tokenizer", None) is None:
        raise UserError(f"the tokenizer in {path} is a slow (Python) tokenizer; seqgan needs a fast one (a "
                        "tokenizer.json): save it with tokenizer.save_pretrained from a fast tokenizer")
    specials = special_ids(hf_tokenizer, path)
    source = {"path": str(path), "fingerprint": fingerprint(Path(path).expanduser())}
    return Pretrained(model.float().eval(), run_tokenizer(hf_tokenizer, lowercase), specials, source, hf_tokenizer)


def _from_run_dir(run_dir: Path) -> Pretrained:
    """A run's generator (random weights, for a checkpoint to fill) and tokenizer, from its own files."""
    folder = run_dir / MODEL_DIR
    with quiet_transformers():
        from transformers import AutoConfig, AutoModelForCausalLM

        try:
            config = AutoConfig.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise UserError(f"{folder / 'config.json'} cannot be read as a model config ({err}); the run directory "
                            "is damaged") from None
        with torch.random.fork_rng(devices=[]):  # random weights the checkpoint replaces: keep the global stream
            model = AutoModelForCausalLM.from_config(config)
    tok, specials = load_run_tokenizer(run_dir)
    try:
        source = json.loads((folder / SOURCE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise UserError(f"{folder / SOURCE_FILE} is unreadable ({err}); the run directory is damaged") from None
    return Pretrained(model.float().eval(), tok, specials, source)


def has_checkpoint(run_dir: Path | None, phase_names: tuple[str, ...]) -> bool:
    """Whether the run directory holds a checkpoint a re-run continues from (last.pt or a phase's end)."""
    if run_dir is None:
        return False
    return any((run_dir / "checkpoints" / f"{name}.pt").is_file() for name in ("last", *phase_names))


def load_pretrained(path: str, lowercase: bool, run_dir: Path | None, needs_weights: bool) -> Pretrained:
    """The pretrained generator of a run: from its run directory once that holds the model's files, else from
    the folder `path` (a new run).

    Args:
        path: generator.pretrained (the folder --generator-from named).
        lowercase: data.lowercase.
        run_dir: the run directory, or None.
        needs_weights: G must start from the pretrained weights (no checkpoint will be loaded into it): read
            from `path`, which must then still hold the model the run was made from.
    """
    if run_dir is None or not (run_dir / MODEL_DIR / "config.json").is_file():
        return _from_folder(path, lowercase)
    kept = _from_run_dir(run_dir)
    if not needs_weights:
        return kept
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise UserError(f"{run_dir} has no checkpoint yet, so its generator starts from the weights in {path}, "
                        "which no longer exists; restore that folder, or start a new --run-dir")
    if fingerprint(folder) != kept.source.get("fingerprint"):
        raise UserError(f"{path} holds another model than the one {run_dir} was made from (its files differ), and "
                        "the run has no checkpoint yet to continue from; use a new --run-dir")
    fresh = _from_folder(path, lowercase)
    return Pretrained(fresh.model, kept.tokenizer, kept.specials, kept.source)


def check_fits_context(model: PreTrainedModel, seq_len: int, path: str) -> None:
    """Refuse a max length whose sequences (the start token and T tokens when scored) exceed the model's
    context, in one line."""
    limit = context_size(model.config)
    if limit is not None and seq_len + 1 > limit:
        raise UserError(f"data.seq_len {seq_len} (--max-len) needs {seq_len + 1} positions with the start token, "
                        f"more than the context of {limit} of the model in {path}; use --max-len {limit - 1} or "
                        "less")


def check_linear_head(generator: CausalLMGenerator, path: str) -> None:
    """Refuse a model whose logits are not its LM head applied to its backbone's last hidden state (a final
    soft-capping or logit scaling, say): G computes them that way, so it would not be the model. Also checks
    that the key/value cache continues a sequence exactly."""
    model = generator.model
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            ids = (torch.arange(PROBE_TOKENS) % generator.vocab_size).unsqueeze(0).to(generator.head.weight.device)
            ids[0, 0] = generator.start_token
            theirs = model(input_ids=ids).logits.float()
            ours = generator(ids)
            hidden, cache = generator.prefill(ids[:, :-1])
            step = generator.hidden(ids[:, -1:], cache)[:, -1]
    finally:
        model.train(was_training)
    tolerance = LOGIT_TOLERANCE * max(1.0, float(theirs.abs().max()))
    if not torch.allclose(ours, theirs, atol=tolerance, rtol=0):
        raise UserError(f"the {type(model).__name__} in {path} computes its logits otherwise than by its LM head "
                        "from its last hidden state (e.g. soft-capping or scaling them); seqgan cannot use it as "
                        "its generator")
    if not torch.allclose(generator.logits(step), theirs[:, -1], atol=tolerance, rtol=0):
        raise UserError(f"the {type(model).__name__} in {path} does not continue a sequence from its key/value "
                        "cache as it computes it whole; seqgan cannot use it as its generator")


def pretrained_generator(pretrained: Pretrained, seq_len: int, path: str) -> CausalLMGenerator:
    """G wrapping the pretrained model, checked: T fits its context, and G's logits are the model's."""
    check_fits_context(pretrained.model, seq_len, path)
    s = pretrained.specials
    generator = CausalLMGenerator(pretrained.model, seq_len, s.start, s.eos, s.pad)
    check_linear_head(generator, path)
    return generator


def learning_rate_notes(generator_lr: float, adversarial_lr: float) -> list[str]:
    """A warning when G's learning rates are a from-scratch model's (the presets' are the LSTM's 0.01), which
    would wash out what the pretrained model knows."""
    if max(generator_lr, adversarial_lr) <= FINE_TUNING_LR:
        return []
    return [f"warning: generator.lr {generator_lr:g} and adversarial.g_lr {adversarial_lr:g} are learning rates "
            "for a model trained from scratch; a pretrained model is usually fine-tuned with much smaller ones, "
            "e.g. --set generator.lr=5e-5 --set adversarial.g_lr=1e-5"]


def save_model_files(pretrained: Pretrained, run_dir: Path) -> None:
    """Write `model/` (config, tokenizer files, source.json) into a new run directory; a run that has it keeps
    its own. Written into a temporary folder first and renamed into place, so it is whole or absent."""
    target = run_dir / MODEL_DIR
    if target.exists() or pretrained.hf_tokenizer is None:
        return
    tmp = Path(tempfile.mkdtemp(prefix=f".{MODEL_DIR}.", suffix=".tmp", dir=run_dir))
    try:
        with quiet_transformers():
            pretrained.model.config.save_pretrained(tmp)
            pretrained.hf_tokenizer.save_pretrained(tmp)
        atomic_write_json(tmp / SOURCE_FILE, pretrained.source)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp's folder is private; the run's files are ordinary ones
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def load_hf_tokenizer(run_dir: Path) -> PreTrainedTokenizerBase:
    """The transformers tokenizer a pretrained run keeps in `model/` (what an export ships)."""
    with quiet_transformers():
        from transformers import AutoTokenizer

        try:
            return AutoTokenizer.from_pretrained(run_dir / MODEL_DIR, local_files_only=True)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise UserError(f"the tokenizer in {run_dir / MODEL_DIR} cannot be read ({err}); the run directory is "
                            "damaged") from None
