"""`seqgan bleu`: paper-style BLEU, Self-BLEU and sacrebleu/chrF of text files, one sentence per line.

Only argparse is imported here; numpy, nltk and sacrebleu are imported when the command runs.
"""

from __future__ import annotations

import argparse
import json
import sys

from seqgan.base.errors import UserError

MAX_ORDER = 9
DEFAULT_ORDERS = "2,3,4,5"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `bleu` sub-command.

    Args:
        subparsers: the CLI's sub-parser collection.
    """
    p = subparsers.add_parser(
        "bleu",
        help="paper-style BLEU / Self-BLEU (nltk-equal, fast), optional sacrebleu and chrF",
        description=(
            "Paper-style (SeqGAN/Texygen) BLEU: every hypothesis line is scored against ALL reference lines "
            "with nltk sentence_bleu semantics, and the mean is reported. Files are UTF-8, one sentence per "
            "line; blank lines are empty sentences."
        ),
    )
    p.add_argument("--refs", metavar="FILE", help="reference sentences ('-' = stdin)")
    p.add_argument("--hyps", metavar="FILE", help="hypotheses / generated samples ('-' = stdin)")
    p.add_argument(
        "-n",
        dest="orders",
        default=DEFAULT_ORDERS,
        metavar="N[,N...]",
        help=f"n-gram orders, comma-separated, each in 1..{MAX_ORDER} (default {DEFAULT_ORDERS})",
    )
    p.add_argument(
        "--smoothing",
        default="method1",
        metavar="NAME",
        help="nltk smoothing: none (= method0) or method1..method7 (default method1, as Texygen)",
    )
    p.add_argument(
        "--tokenize",
        default=None,
        metavar="MODE",
        help="how both files are split into tokens: char | word (whitespace split, for pre-tokenized text; "
        "default) | nltk (nltk's Treebank word tokenizer on each line, punctuation split off; no downloaded "
        "data needed) | none (whitespace split)",
    )
    p.add_argument(
        "--tokenizer-from",
        default=None,
        metavar="RUN_DIR",
        help="tokenize both files with this text run's own tokenizer, exactly as `seqgan compare` scores the "
        "run (references are also cut at the run's max length); use it for samples of a run against its "
        "data/test.txt",
    )
    p.add_argument("--lowercase", action="store_true", help="lower-case before tokenizing")
    p.add_argument(
        "--self-bleu",
        action="store_true",
        help="also report leave-one-out Self-BLEU of the hypotheses (--refs then optional)",
    )
    p.add_argument(
        "--self-bleu-samples",
        default=None,
        metavar="N",
        help="Self-BLEU over a seeded random subset of N hypotheses (default: all)",
    )
    p.add_argument(
        "--sacrebleu",
        action="store_true",
        help="also report sacrebleu corpus BLEU and chrF (0..100, its own tokenizer); needs one "
        "reference line per hypothesis line",
    )
    p.add_argument("--processes", default="1", metavar="P", help="worker processes for BLEU (default 1)")
    p.add_argument("--seed", default="0", metavar="S", help="seed of the Self-BLEU subset (default 0)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def _int_option(value: str | None, flag: str, minimum: int) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or number < minimum:
        raise UserError(f"{flag} must be an integer >= {minimum}, got {value!r}")
    return number


def parse_orders(text: str) -> list[int]:
    """Parse `-n 2,3,4` into sorted distinct orders.

    Args:
        text: comma-separated integers in 1..MAX_ORDER.
    """
    orders = []
    for part in text.split(","):
        try:
            n = int(part.strip())
        except ValueError:
            n = None
        if n is None or not 1 <= n <= MAX_ORDER:
            raise UserError(
                f"-n must be comma-separated integers in 1..{MAX_ORDER} (e.g. -n 2,3,4), got {text!r}"
            )
        orders.append(n)
    return sorted(set(orders))


def read_lines(path: str, what: str) -> list[str]:
    """Read a UTF-8 text file (or stdin for '-') as lines, without line terminators.

    Args:
        path: file path or '-'.
        what: name of the option, for error messages.
    """
    name = "<stdin>" if path == "-" else path
    if path == "-":
        stream = getattr(sys.stdin, "buffer", None)
        data = stream.read() if stream is not None else sys.stdin.read().encode("utf-8")
    else:
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            raise UserError(f"{what} file not found: {path}; check the path") from None
        except IsADirectoryError:
            raise UserError(f"{what} is a directory, not a file: {path}") from None
        except PermissionError:
            raise UserError(f"{what} file is not readable (permission denied): {path}") from None
        except NotADirectoryError:  # a folder on the path is a regular file
            raise UserError(f"{what} file not found: {path} (part of that path is a file, not a folder)") from None
        except OSError as err:
            raise UserError(f"{what} file {path} cannot be read ({err.strerror or err})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise UserError(
            f"mismatched encodings: {what} file {name} is not valid UTF-8 (byte offset {err.start}, "
            f"line {line}); convert it first, e.g. `iconv -f LATIN1 -t UTF-8 {name} > {name}.utf8`"
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")  # not splitlines(): it would also split at U+2028, U+0085, ...
    if lines and lines[-1] == "":
        lines.pop()
    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    if not any(line.strip() for line in lines):
        raise UserError(f"{what} file {name} is empty (no non-empty lines)")
    return lines


def run(args: argparse.Namespace) -> int:
    """Score the files and print a table or JSON.

    Args:
        args: parsed `seqgan bleu` arguments.
    """
    from eval import bleu as B
    from seqgan.text.tokenization import run_tokenization

    orders = parse_orders(args.orders)
    smoothing = B.normalize_smoothing(args.smoothing)
    if args.tokenizer_from is not None and (args.tokenize is not None or args.lowercase):
        raise UserError("--tokenizer-from RUN_DIR sets the tokenization (and the run's tokenizer the case); "
                        "drop --tokenize/--lowercase")
    mode = args.tokenize or "word"
    if mode not in B.TOKENIZE_MODES:
        raise UserError(f"unknown --tokenize {mode!r}; use one of {', '.join(B.TOKENIZE_MODES)}")
    processes = _int_option(args.processes, "--processes", 1)
    seed = _int_option(args.seed, "--seed", 0)
    n_self = _int_option(args.self_bleu_samples, "--self-bleu-samples", 2)
    if args.hyps is None:
        raise UserError("--hyps FILE is required ('-' reads stdin)")
    if args.refs is None and not args.self_bleu:
        raise UserError(
            "--refs FILE is required (or pass --self-bleu to score the hypotheses against each other)"
        )
    if args.refs == "-" and args.hyps == "-":
        raise UserError("only one of --refs and --hyps can be '-' (stdin)")
    if n_self is not None and not args.self_bleu:
        raise UserError("--self-bleu-samples needs --self-bleu")

    hyp_lines = read_lines(args.hyps, "--hyps")
    ref_lines = read_lines(args.refs, "--refs") if args.refs is not None else None
    if args.sacrebleu and ref_lines is None:
        raise UserError("--sacrebleu needs --refs")
    if args.sacrebleu and len(ref_lines) != len(hyp_lines):
        raise UserError(
            f"--sacrebleu needs one reference line per hypothesis line: --refs has {len(ref_lines)} "
            f"lines, --hyps has {len(hyp_lines)}"
        )

    # one tokenization for both sides; with a run's tokenizer, references are cut as the run cut its test split
    if args.tokenizer_from is not None:
        run_tok = run_tokenization(args.tokenizer_from)
        tok = run_tok.label
        hyps = run_tok.tokens(hyp_lines)
        refs = run_tok.references(ref_lines) if ref_lines is not None else None
        if refs is not None and not refs:
            raise UserError(f"no --refs line has a token under the tokenizer of {args.tokenizer_from} within its "
                            f"max length {run_tok.max_len}")
    else:
        tok = mode + ("+lowercase" if args.lowercase else "")
        hyps = B.tokenize_lines(hyp_lines, mode, args.lowercase)
        refs = B.tokenize_lines(ref_lines, mode, args.lowercase) if ref_lines is not None else None
        warning = B.spacing_mismatch(ref_lines, hyp_lines) if ref_lines and mode in ("word", "none") else None
        if warning:
            print(f"seqgan bleu: warning: {warning}", file=sys.stderr)
    rows: list[dict] = []
    need = B.needed_order(max(orders), smoothing)
    if refs is not None:
        refset = B.ReferenceSet(refs, need)
        stats = refset.stats(hyps, processes=processes)
        for n in orders:
            per = B.sentence_scores(stats, n, smoothing=smoothing)
            sig = B.bleu_signature((1.0 / n,) * n, smoothing, tok, refset.n_refs, len(hyps))
            rows.append({"metric": "bleu", "n": n, "score": float(per.mean()), "signature": sig})
    if args.self_bleu:
        index = B.self_bleu_sample_index(len(hyps), n_self, seed)
        stats = B.self_bleu_stats([hyps[int(i)] for i in index], need)
        for n in orders:
            per = B.sentence_scores(stats, n, smoothing=smoothing)
            sig = B.self_bleu_signature((1.0 / n,) * n, smoothing, tok, len(index), len(hyps), seed)
            rows.append({"metric": "self-bleu", "n": n, "score": float(per.mean()), "signature": sig})
    if args.sacrebleu:
        for n in orders:
            s = B.corpus_sacrebleu(hyp_lines, ref_lines, max_ngram_order=n, lowercase=args.lowercase)
            rows.append({"metric": "sacrebleu", "n": n, "score": s.score, "signature": s.signature})
        s = B.corpus_chrf(hyp_lines, ref_lines, lowercase=args.lowercase)
        rows.append({"metric": "chrf", "n": None, "score": s.score, "signature": s.signature})

    if args.json:
        print(
            json.dumps({"hyps": args.hyps, "refs": args.refs, "results": rows}, indent=2, ensure_ascii=False)
        )
    else:
        print(format_table(rows))
    return 0


def format_table(rows: list[dict]) -> str:
    """Render result rows as an aligned text table.

    Args:
        rows: dicts with metric, n, score, signature.
    """
    cells = [("metric", "n", "score", "signature")]
    for r in rows:
        digits = 2 if r["metric"] in ("sacrebleu", "chrf") else 6
        cells.append(
            (r["metric"], "-" if r["n"] is None else str(r["n"]), f"{r['score']:.{digits}f}", r["signature"])
        )
    widths = [max(len(c[i]) for c in cells) for i in range(3)]
    return "\n".join(f"{a:<{widths[0]}}  {b:>{widths[1]}}  {c:>{widths[2]}}  {d}" for a, b, c, d in cells)
