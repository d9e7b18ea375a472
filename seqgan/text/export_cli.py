"""`seqgan export`: write a text run's transformer generator (gpt2, or a pretrained model) as a Hugging Face
model folder.

Only the standard library is imported here; torch and transformers are imported when the command runs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from seqgan.base.errors import UserError

EXPORTABLE_KIND = "gpt2"
PRETRAINED_KIND = "pretrained"  # a run made with --generator-from: exported with the model's own tokenizer
DEFAULT_KIND = "lstm"  # runs written before generator.kind existed have the LSTM generator
LSTM_MESSAGE = ("the LSTM generator cannot be exported to the Hugging Face format; only transformer runs can "
                "(generator.kind=gpt2 or --generator-from)")
RUN_CONFIG = "config.json"
TOKENIZER_FILE = "tokenizer.json"  # text_data.tokenizer.TOKENIZER_FILE, not imported to keep parsing light


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `export` sub-command.

    Args:
        subparsers: the CLI's sub-parser collection.
    """
    p = subparsers.add_parser(
        "export",
        help="write a gpt2 or --generator-from text run's generator as a Hugging Face model folder",
        description="Write the generator of a text run trained with generator.kind=gpt2 or from a pretrained "
        "model (--generator-from), with the run's tokenizer, into a new folder that transformers loads offline: "
        "AutoModelForCausalLM.from_pretrained, AutoTokenizer.from_pretrained and pipeline('text-generation', "
        "model=OUT).",
    )
    p.add_argument("--run-dir", required=True, metavar="DIR",
                   help="a text run directory (generator.kind=gpt2, or made with --generator-from)")
    p.add_argument("--hf", required=True, metavar="OUT",
                   help="the folder to create (new or empty; its parent folder must exist)")
    p.add_argument("--checkpoint", default="last",
                   help="which checkpoint: last (default), best, a phase name, or PHASE:EPOCH")
    p.set_defaults(func=run)


def generator_kind(run_dir: str | Path) -> str:
    """The generator.kind a run directory's config.json records ("lstm" when it names none).

    Args:
        run_dir: a run directory written by `seqgan train`.
    """
    folder = Path(run_dir)
    if not folder.is_dir():
        raise UserError(f"--run-dir {run_dir} is not a folder; pass a run directory of `seqgan train`")
    path = folder / RUN_CONFIG
    try:
        config = json.loads(path.read_text(encoding="utf-8"))["config"]
        generator = config.get("generator") or {}
        if not isinstance(generator, dict):
            raise TypeError("generator is not an object")
    except FileNotFoundError:
        raise UserError(f"--run-dir {run_dir} has no {RUN_CONFIG}; pass a run directory of `seqgan train`") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise UserError(f"{path} is unreadable ({err}); is {run_dir} a run directory of `seqgan train`?") from None
    return str(generator.get("kind") or DEFAULT_KIND)


def run(args: argparse.Namespace) -> int:
    """Export the run's generator.

    Args:
        args: parsed `seqgan export` arguments.
    """
    run_dir = Path(args.run_dir)
    kind = generator_kind(run_dir)
    if kind == DEFAULT_KIND:
        raise UserError(LSTM_MESSAGE)
    if kind not in (EXPORTABLE_KIND, PRETRAINED_KIND):
        raise UserError(f"generator.kind={kind} cannot be exported to the Hugging Face format; only "
                        f"generator.kind={EXPORTABLE_KIND} runs and runs made with --generator-from can")
    tokenizer = run_dir / TOKENIZER_FILE
    if not tokenizer.is_file():
        raise UserError(f"--run-dir {run_dir} has no {TOKENIZER_FILE}; only text runs (trained on a corpus) can be "
                        "exported, not oracle runs")
    from seqgan.text.hf_models import check_export_dir

    inputs = [("--run-dir", run_dir)]
    check_export_dir(args.hf, "--hf", inputs)  # before the slow load: a wrong --hf fails at once

    from transformers import PreTrainedModel

    from seqgan.text.api import describe_checkpoint
    from seqgan.text.hf_models import export_hf
    from seqgan.text.run import load_generator

    loaded = load_generator(run_dir, checkpoint=args.checkpoint)
    model = getattr(loaded.pair.generator, "model", None)
    if not isinstance(model, PreTrainedModel):
        raise UserError(f"the generator of {run_dir} holds no transformers model; only generator.kind="
                        f"{EXPORTABLE_KIND} runs can be exported")
    if kind == PRETRAINED_KIND:
        from seqgan.text.hf_models import export_pretrained
        from seqgan.text.pretrained import load_hf_tokenizer

        g = loaded.pair.generator
        ids = {"bos_token_id": g.start_token, "eos_token_id": g.eos_token, "pad_token_id": g.pad_token}
        out = export_pretrained(model, load_hf_tokenizer(run_dir), ids, args.hf, flag="--hf", inputs=inputs)
    else:
        out = export_hf(model, tokenizer, args.hf, flag="--hf", inputs=inputs)
    what, _note = describe_checkpoint(run_dir, args.checkpoint)
    print(f"exported the generator of {run_dir} ({what}) to {out}")
    return 0
