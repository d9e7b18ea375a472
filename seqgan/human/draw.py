"""Drawing a study's items from its sources so that `<unk>` says nothing about who wrote a text.

A word outside a text run's vocabulary shows as ``<unk>`` in a human-written line put through the run (its
tokenizer, `sources.as_generated`), but a trained model rarely samples ``<unk>``: measured on a word corpus,
61% of the real test lines held one against 20% of the samples, so a rater answering "a person" at every
``<unk>`` was right about 85% of the time. The rule here: **no item shows ``<unk>``**. Every source's
candidates (real lines after the run's encode -> truncate -> decode, a run's samples, lines of a file) that
hold ``<unk>`` are left out before the items are chosen, so both sides come from the texts the vocabulary
covers, the only ones a model can write without ``<unk>``.

Why this and not another way to equalize: writing a vocabulary word in place of ``<unk>`` would alter the
human text; drawing real lines so that their ``<unk>`` rate matches the samples' would match only the average,
not how many a line holds or where; a neutral placeholder would still mark the same lines. Leaving
``<unk>`` texts out of every source removes the cue altogether. It narrows the real side to lines the
vocabulary covers, which tend to use commoner words; the counts recorded with the study say how much was
left out.

It also shortens them: a long line holds a rare word more often than a short one. So the human-written items
are drawn from the lines without ``<unk>`` to match the lengths of all the candidate lines before the filter
(`lengths.choose_like`), and every source's item lengths are recorded and compared (`lengths`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from seqgan.base.errors import UserError

from .lengths import choose_like, length_lines, length_record, mean_words, word_count
from .sources import check_enough, choose, is_text_run, read_lines, real_candidates, run_samples

UNK_TEXT = "<unk>"  # how every tokenizer of this project shows an unknown word (text_data.tokenizer.SPECIALS)
UNK_RULE = (
    "no item shows <unk>: every text holding <unk> (a word outside the run's vocabulary) was left out of"
    " every source before the items were chosen, so <unk> cannot tell a person from a machine"
)
# A run directory is sampled n texts at a time first (what a study without <unk> always used), then in larger
# pools of n times these factors until n texts without <unk> turn up; each pool is seeded, so the draw is
# reproducible.
POOL_FACTORS = (1, 4, 16, 64)


@dataclass(frozen=True)
class Drawn:
    """One source's items, how many candidates were looked at and left out for <unk>, and (human-written texts
    only) the mean word count of every candidate before the filter and of those it kept."""

    name: str
    texts: list[str]
    considered: int
    dropped_unk: int
    requested: int
    candidates_mean: float | None = None
    clean_mean: float | None = None
    drawn_by_length: bool = False

    def record(self) -> dict:
        """The counts, for the study's metadata."""
        return {"considered": self.considered, "dropped_unk": self.dropped_unk, "requested": self.requested,
                "used": len(self.texts)}

    def lengths(self) -> dict:
        """The items' mean and median word count (and for human-written texts, the candidates'), for the
        study's metadata."""
        record = length_record(self.texts)
        if self.candidates_mean is not None:
            record.update(candidates=self.considered, candidates_mean_words=round(self.candidates_mean, 2),
                          clean_candidates=self.considered - self.dropped_unk,
                          clean_mean_words=round(self.clean_mean or 0.0, 2), drawn_by_length=self.drawn_by_length)
        return record

    def warning(self) -> str | None:
        """A warning when the <unk> rule left fewer items than requested, else None."""
        if len(self.texts) >= self.requested:
            return None
        return (f"{self.name}: {self.dropped_unk} of the {self.considered} texts considered hold {UNK_TEXT} and were"
                f" left out, leaving {len(self.texts)} items instead of --per-system {self.requested}; pass"
                f" --per-system {len(self.texts)} for the same number from every source")


def without_unk(texts: list[str], unk: str | None = UNK_TEXT) -> list[str]:
    """The texts that show no <unk> (`unk`: how the unknown token shows; None: there is none, all texts)."""
    return list(texts) if unk is None else [t for t in texts if unk not in t]


def unk_text(run_dir: str | Path | None) -> str | None:
    """How an unknown word shows in the texts of the text run in `run_dir`: "<unk>" (also without a text run),
    the unknown token of a pretrained generator's tokenizer, or None when that tokenizer has none (byte-level
    BPE writes every text)."""
    if not is_text_run(None if run_dir is None else str(run_dir)):
        return UNK_TEXT
    from text_data.tokenizer import load_run_tokenizer

    tok, specials = load_run_tokenizer(run_dir)
    return None if specials.unk is None else tok.id_to_token(specials.unk)


def _pick(name: str, candidates: list[str], n: int, seed: int, what: str, human: bool = False,
          unk: str | None = UNK_TEXT) -> Drawn:
    """Up to n of the candidates without <unk>, chosen with the seed; a one-line error when none is left.

    Human-written candidates (`human`) are drawn to match the lengths of all of them (`lengths.choose_like`)
    when the filter left some out and there is a choice to make; with nothing left out a plain seeded draw is
    already unbiased (and draws what studies made before did). Any other source is what a model or a file
    holds, drawn plainly: its lengths are not reshaped.
    """
    check_enough(candidates, n, what)  # too little text at all is the old, plain error
    clean = without_unk(candidates, unk)
    if not clean:
        raise UserError(
            f"{name}: every one of the {len(candidates)} texts of {what} holds {UNK_TEXT}, and items with"
            f" {UNK_TEXT} would give their source away; use a run with a larger vocabulary or other texts"
        )
    k = min(n, len(clean))
    by_length = human and len(clean) < len(candidates) and k < len(clean)
    if by_length:
        texts = choose_like(clean, [word_count(t) for t in candidates], k, seed)
    else:
        texts = choose(clean, k, seed, what)
    if not human:
        return Drawn(name, texts, len(candidates), len(candidates) - len(clean), n)
    return Drawn(name, texts, len(candidates), len(candidates) - len(clean), n,
                 mean_words(candidates), mean_words(clean), by_length)


def draw_system(name: str, source: str, n: int, seed: int) -> Drawn:
    """n items of one system without <unk>: lines of a file, or samples drawn from a trained run directory.

    Args:
        name: the system's name (for messages).
        source: a file path or a run directory.
        n: how many items.
        seed: random seed (for choosing lines, or passed to the sampler).
    """
    path = Path(source)
    if path.is_file():
        return _pick(name, read_lines(path), n, seed, str(path))
    if not path.is_dir():
        raise UserError(f"{source} is neither a file nor a run directory; check the path")
    unk = unk_text(path)
    for factor in POOL_FACTORS:
        pool = run_samples(path, n * factor, seed)
        if factor == POOL_FACTORS[0] and len(pool) < n:
            raise UserError(f"sampling {path} gave {len(pool)} non-empty texts, fewer than --per-system {n}")
        clean = without_unk(pool, unk)
        if len(clean) >= n:
            break
    if not clean:
        raise UserError(
            f"{name}: every one of the {len(pool)} samples drawn from {path} holds {UNK_TEXT}, and items with"
            f" {UNK_TEXT} would give their source away; sample from a better-trained run"
        )
    return Drawn(name, clean[:n], len(pool), len(pool) - len(clean), n)


def draw_real(name: str, source: str, first_run_dir: str | None, n: int, seed: int) -> Drawn:
    """n human-written items without <unk> (`sources.real_candidates`: through the first system's text run).

    Args:
        name: the human-written source's name (for messages).
        source: a file path, or "test".
        first_run_dir: the first --system's source if it is a run directory, else None.
        n: how many items.
        seed: random seed for choosing them.
    """
    texts, what = real_candidates(source, first_run_dir)
    return _pick(name, texts, n, seed, what, human=True, unk=unk_text(first_run_dir))


def items_note(config: dict, has_real: bool) -> str | None:
    """What the organiser page says about how the items were drawn, from the study's recorded config.

    Studies made before the <unk> rule carry no counts; for those it says what was done then.

    Args:
        config: the study's config (as `create` recorded it).
        has_real: whether the study has a human-written source.
    """
    draws = config.get("draws")
    if not isinstance(draws, dict):
        if not has_real:
            return None
        return ("Human-written texts taken with a text run went through its tokenizer, length limit and decoding"
                " like its samples, so unknown words show as <unk> in both.")
    run = config.get("real_through_run")
    if run:
        how = (f"Human-written texts went through the tokenizer, length limit and decoding of {run}, like its"
               " samples. ")
    elif has_real:
        how = "Human-written texts are shown as written (no text run to put them through). "
    else:
        how = ""
    counts = "; ".join(
        f"{name} {d.get('considered')} considered, {d.get('dropped_unk')} left out, {d.get('used')} used"
        for name, d in draws.items() if isinstance(d, dict)
    )
    rule = str(config.get("unk_rule") or UNK_RULE)
    note = f"{how}{rule[:1].upper()}{rule[1:]}. Texts per source: {counts}."
    lengths = config.get("lengths")
    if isinstance(lengths, dict) and length_lines(lengths):  # studies made before lengths were recorded: none
        note += " Length of the " + "; ".join(length_lines(lengths)) + "."
    return note
