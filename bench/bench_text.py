"""Tokenizing a large text file into id tensors: time, tokens/s and peak memory.

    python bench/bench_text.py --mb 100 --out results/bench_text.json

Generates a synthetic corpus of about `--mb` megabytes (word-like lines, fixed seed) in a temporary folder,
trains a word tokenizer on the first 10% of its lines (as a training split would be), then encodes every
line into a padded (N, T) tensor in chunks (the `encode_lines` path a run uses). Target: 100 MB
in <= 60 s with <= 4 GB peak memory on 2 cores.

Then, when the COCO captions are in the data folder (--data-dir, $SEQGAN_DATA or ../shared/data), times
MLE epochs of the `coco` preset's generator on its training split and reports tokens/s (real tokens,
<eos> included, padding not counted). Peak memory is measured before that part.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

from _common import machine, write_report  # first: puts the project root on sys.path

from text_data.dataset import encode_lines
from text_data.tokenizer import build_tokenizer


def coco_mle_throughput(data_dir: str | None, epochs: int, preset: str = "coco") -> dict | None:
    """Median seconds per MLE epoch of the preset's G on the COCO training split (one warm-up epoch first) and
    tokens/s; None without the corpus. bench_transformer.py calls it for the LSTM and the transformer G."""
    import statistics

    import torch

    from seqgan.base.errors import UserError
    from seqgan.text.presets import get_preset
    from seqgan.text.run import build_run

    config = get_preset(preset)
    try:
        run = build_run(config, data_dir)
    except UserError as err:
        print(f"coco MLE throughput skipped: {err}")
        return None
    gen = torch.Generator().manual_seed(0)
    run.pair.mle_epoch(gen)  # warm-up
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        run.pair.mle_epoch(gen)
        times.append(time.perf_counter() - start)
    tokens = int(run.task.train.lengths.sum())
    median = statistics.median(times)
    return {"sequences": int(run.task.train.ids.shape[0]), "seq_len": run.task.seq_len, "tokens": tokens,
            "epoch_s_median": median, "epoch_s_all": times, "tokens_per_s": tokens / median,
            "batch_size": config.generator.batch_size, "hidden_dim": config.generator.hidden_dim,
            "vocab_size": run.task.vocab_size}


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
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--coco-epochs", type=int, default=3, help="timed MLE epochs on coco (0 = skip)")
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
    if args.coco_epochs > 0:
        coco = coco_mle_throughput(args.data_dir, args.coco_epochs)
        if coco is not None:
            result["coco_mle"] = coco
            print(f"coco MLE epoch: {coco['epoch_s_median']:.2f} s for {coco['sequences']:,} sequences, "
                  f"{coco['tokens_per_s']:,.0f} tokens/s")
    write_report(args.out, {**result, "machine": machine()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
