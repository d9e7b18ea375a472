"""A text run directory's way of writing text: its tokenizer and max length, read from the directory alone.

`seqgan train` leaves tokenizer.json, config.json and data/train.txt in the run directory. From them this
rebuilds the run's encode -> truncate (or drop) -> decode path, so that text from elsewhere (human-written
lines in a study, say) reads exactly as the run's own samples do. Only the JSON is read, not the run's config
classes, so anything that reads text can use it without the training code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from seqgan.base.errors import UserError
from text_data.corpus import read_text_file
from text_data.dataset import model_texts, resolve_max_len
from text_data.tokenizer import WORD_IDS, SpecialIds, load_run_tokenizer


@dataclass(frozen=True)
class RunCodec:
    """A text run's tokenizer, max length T (<eos> included), too-long policy ("truncate" or "drop") and special
    ids."""

    tokenizer: object
    max_len: int
    too_long: str
    specials: SpecialIds = WORD_IDS

    def texts(self, lines: list[str]) -> list[str]:
        """`lines` as the run's generator would write them (`model_texts`); lines with no tokens, or too long
        with "drop", are left out.

        Args:
            lines: the texts.
        """
        return model_texts(self.tokenizer, lines, self.max_len, self.too_long, self.specials)


def run_data_config(run_dir: str | Path) -> dict:
    """The `data` section of a run's config.json (as `seqgan train` wrote it).

    Args:
        run_dir: a run directory.
    """
    path = Path(run_dir) / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))["config"]["data"]
        if not isinstance(data, dict):
            raise TypeError("data is not an object")
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UserError(f"{path} is unreadable ({err}); is {run_dir} a text run directory?") from err
    return data


def load_run_codec(run_dir: str | Path) -> RunCodec:
    """The encode -> truncate -> decode path of the text run in `run_dir`.

    The max length is the run's data.seq_len or, when that is 0 ("auto"), sized from its saved training split
    by the very rule training used (`resolve_max_len`), so it is the T the run trained and samples with.

    Args:
        run_dir: a text run's directory (config.json, tokenizer.json, data/train.txt).
    """
    run_dir = Path(run_dir)
    data = run_data_config(run_dir)
    try:
        seq_len, too_long = int(data["seq_len"]), str(data["too_long"])
    except (KeyError, TypeError, ValueError) as err:
        raise UserError(f"{run_dir / 'config.json'} has no usable data.seq_len and data.too_long ({err}); "
                        f"is {run_dir} a text run directory?") from err
    tok, specials = load_run_tokenizer(run_dir)
    train = [] if seq_len else [x for x in read_text_file(run_dir / "data" / "train.txt") if x]
    max_len, _notes = resolve_max_len(seq_len, tok, train)
    return RunCodec(tok, max_len, too_long, specials)


def texts_as_generated(run_dir: str | Path, lines: list[str]) -> list[str]:
    """`lines` the way the text run in `run_dir` writes text: its tokenizer, its max length (truncate or drop),
    decoded as its samples are, so human-written lines and samples differ only by the model.

    Args:
        run_dir: a text run's directory (config.json, tokenizer.json, data/train.txt).
        lines: the texts.
    """
    return load_run_codec(run_dir).texts(lines)
