"""How long a study's items are, per source, and drawing human-written items whose lengths match their candidates.

Leaving out every text that shows ``<unk>`` (`draw`) removes one cue but adds another: a long line holds a rare
word more often than a short one, so the real lines that survive the filter are shorter than the real lines
as a whole (on one 3,000-line corpus the kept test lines averaged 11.3 words against 13.0 for all of them), and
length then tells raters something about who wrote a text. `choose_like` undoes what the filter did to the
lengths of the human-written side; `length_warning` says when sources still differ in length, whatever the
cause (a model's samples are what the model writes and are never reshaped).

Length is counted in words: whitespace-separated pieces of the text as the rater sees it (``<unk>`` counts as
one), which is what a rater can notice, whatever the run's tokenizer.
"""

from __future__ import annotations

import bisect
import random
import statistics

# At most this many length bins for `choose_like`: finer bins follow the unfiltered distribution more closely,
# but every bin needs clean lines of its own; with 10 bins a bin is one tenth of the candidates.
MAX_LENGTH_BINS = 10
# Sources whose mean item lengths differ by more than this fraction (the longer mean over the shorter, minus 1)
# get a warning: a gap of a fifth (say 10 against 12 words) is one a rater comparing items can notice.
LENGTH_GAP = 0.2


def word_count(text: str) -> int:
    """How many whitespace-separated words the text shows."""
    return len(text.split())


def mean_words(texts: list[str]) -> float:
    """Mean word count of the texts (0.0 for none)."""
    return statistics.fmean(word_count(t) for t in texts) if texts else 0.0


def length_record(texts: list[str]) -> dict:
    """Mean and median word count of a source's drawn items, for the study's metadata."""
    counts = [word_count(t) for t in texts]
    return {
        "items": len(counts),
        "mean_words": round(statistics.fmean(counts), 2) if counts else None,
        "median_words": statistics.median(counts) if counts else None,
    }


def choose_like(clean: list[str], all_lengths: list[int], n: int, seed: int) -> list[str]:
    """n of the `clean` texts, drawn so their word counts follow the distribution of `all_lengths`.

    Why stratify: the clean lines are a length-biased subset of the candidates (long lines are left out more
    often), so a plain random draw from them inherits that bias. Cutting the *unfiltered* candidates' lengths
    into bins at their quantiles and giving each bin the share of the n items that it holds of all candidates
    puts back the unfiltered length distribution, at the resolution of the bins, while every item is still a
    real, untouched line without ``<unk>``, chosen at random (seeded) within its bin. Weighting each clean line
    by (share of all lines at its length) / (share of clean lines at its length) would aim at the same thing
    but leaves the achieved distribution to chance; bins fix the counts and need no density estimate. When a bin
    has too few clean lines (typically the longest, where the filter bites hardest), the missing items are the
    remaining clean lines nearest in length to that bin, so the shortfall is made up as close to the right
    length as the corpus allows. The lines come back in their original order, like `sources.choose`.

    Args:
        clean: the candidates without ``<unk>`` (at least n of them).
        all_lengths: the word counts of every candidate before the filter.
        n: how many to draw.
        seed: random seed.
    """
    rng = random.Random(seed)
    bins = min(MAX_LENGTH_BINS, n)
    ordered = sorted(all_lengths)
    # Lower edges of bins 1..bins-1 at the quantiles; equal lengths never straddle an edge, so ties merge bins.
    edges = sorted({ordered[len(ordered) * j // bins] for j in range(1, bins)})
    n_bins = len(edges) + 1
    share = [0] * n_bins
    low, high = [None] * n_bins, [None] * n_bins
    for length in ordered:
        b = bisect.bisect_right(edges, length)
        share[b] += 1
        low[b] = length if low[b] is None else low[b]
        high[b] = length
    quota = _quotas(share, n, rng)
    members: list[list[int]] = [[] for _ in range(n_bins)]
    lengths = [word_count(t) for t in clean]
    for i, length in enumerate(lengths):
        members[bisect.bisect_right(edges, length)].append(i)
    picked: set[int] = set()
    short: list[int] = []  # one entry per missing item: the bin it belongs to
    for b in range(n_bins):
        take = min(quota[b], len(members[b]))
        picked.update(rng.sample(members[b], take))
        short += [b] * (quota[b] - take)
    if short:
        tie = {i: rng.random() for i in range(len(clean)) if i not in picked}
        for b in short:
            best = min(
                (i for i in tie if i not in picked),
                key=lambda i, b=b: (max(low[b] - lengths[i], lengths[i] - high[b], 0), tie[i]),
            )
            picked.add(best)
    return [clean[i] for i in sorted(picked)]


def _quotas(share: list[int], n: int, rng: random.Random) -> list[int]:
    """n items shared out in proportion to `share`: each bin gets the whole part of its share of n, and the
    items left over go to bins by systematic sampling on the fractional parts, so every bin's expected count is
    exactly its share. (Giving them to the largest remainders, a fixed choice, would tilt a small draw the same
    way every time, by up to half an item per bin, a large tilt when bins hold two or three items.)"""
    total = sum(share)
    quota = [n * s // total for s in share]
    start = rng.randrange(total)  # the points start, start + total, ... over the remainders laid end to end

    def points_before(x: int) -> int:
        return -((start - x) // total)  # how many of the points lie below x (x >= 0)

    below = 0
    for b, s in enumerate(share):
        rest = n * s % total
        quota[b] += points_before(below + rest) - points_before(below)
        below += rest
    return quota


def length_warning(lengths: dict) -> str | None:
    """A one-line warning when the sources' mean item lengths differ by more than LENGTH_GAP, else None.

    Args:
        lengths: source name -> `length_record` (as recorded in the study's config).
    """
    means = {
        name: rec["mean_words"] for name, rec in lengths.items()
        if isinstance(rec, dict) and isinstance(rec.get("mean_words"), (int, float)) and rec["mean_words"] > 0
    }
    if len(means) < 2:
        return None
    short, long = min(means, key=means.__getitem__), max(means, key=means.__getitem__)
    gap = means[long] / means[short] - 1
    if gap <= LENGTH_GAP:
        return None
    listing = ", ".join(f"{name} {mean:.1f}" for name, mean in means.items())
    return (f"mean item lengths differ between sources (words: {listing}; {long} is {gap:.0%} longer than"
            f" {short}, more than {LENGTH_GAP:.0%}): length alone can tell raters the sources apart")


def length_lines(lengths: dict) -> list[str]:
    """One line per source: its items' mean and median word count, and for human-written texts drawn through
    the <unk> filter, the mean of every candidate before it (and of those it kept).

    Args:
        lengths: source name -> `length_record`, as recorded in the study's config.
    """
    lines = []
    for name, rec in lengths.items():
        if not isinstance(rec, dict) or rec.get("mean_words") is None:
            continue
        line = f"{name} items ({rec['items']}): mean {rec['mean_words']:.1f} words, median {rec['median_words']:g}"
        if rec.get("candidates_mean_words") is not None:
            line += (f" (all {rec['candidates']} candidates before the <unk> filter: mean"
                     f" {rec['candidates_mean_words']:.1f}, the {rec['clean_candidates']} without <unk>:"
                     f" {rec['clean_mean_words']:.1f}"
                     + ("; drawn to match the lengths of all candidates)" if rec.get("drawn_by_length") else ")"))
        lines.append(line)
    return lines
