"""Tokenizing a large text file into id tensors: time, tokens/s and peak memory.

    python bench/bench_text.py --mb 100 --out results/bench_text.json

Generates a synthetic corpus of about `--mb` megabytes (word-like lines, fixed seed) in a temporary folder,
trains a word tokenizer on the first 10% of its lines (as a training split would be), then encodes every
line into a padded (N, T) tensor in chunks (the `encode_lines` path a run uses). Target (issue 4): 100 MB
in <= 60 s with <= 4 GB peak memory on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from text_data.dataset import encode_lines  # noqa: E402
from text_data.tokenizer import build_tokenizer  # noqa: E402


def make_corpus(path: Path, megabytes: float, seed: int = 0) -> int:
    """Write ~megabytes of lines drawn from a Zipf-like 20,000-word vocabulary; returns the line count."""
    rng = random.Random(seed)
    vocab = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))
             for _ in range(20_000)]
    weights = [1.0 / (i + 1) for i in range(len(vocab))]
    target, written, lines = megabytes * 1e6, 0, 0
    with open(path, "w", encoding="utf-8") as fh:
        while written < target:
            block = [" ".join(rng.choices(vocab, weights, k=rng.randint(5, 30))) + " ." for _ in range(10_000)]
            text = "\n".join(block) + "\n"
            fh.write(text)
            written += len(text)
            lines += len(block)
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=100.0)
    parser.add_argument("--max-len", type=int, default=32)
    parser.add_argument("--out", default="results/bench_text.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "corpus.txt"
        n_lines = make_corpus(path, args.mb)
        start = time.perf_counter()
        with open(path, encoding="utf-8") as fh:
            train = [line for _, line in zip(range(n_lines // 10), fh)]
        tok = build_tokenizer("word", train, vocab_size=30_000)
        del train
        trained = time.perf_counter()
        with open(path, encoding="utf-8") as fh:
            enc = encode_lines(tok, (line.rstrip("\n") for line in fh), args.max_len)
        done = time.perf_counter()
        tokens = int(enc.lengths.sum())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {"megabytes": args.mb, "lines": n_lines, "tokens_incl_eos": tokens, "tokenizer_train_s": trained - start,
              "encode_s": done - trained, "total_s": done - start, "tokens_per_s": tokens / (done - trained),
              "peak_rss_mb": peak_mb, "ids_shape": list(enc.ids.shape), "truncated": enc.truncated}
    for key, value in result.items():
        print(f"{key:18s} {value:,.2f}" if isinstance(value, float) else f"{key:18s} {value}")
    print(f"target: total <= 60 s ({'met' if result['total_s'] <= 60 else 'NOT met'}), "
          f"peak <= 4096 MB ({'met' if peak_mb <= 4096 else 'NOT met'})")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
