"""`seqgan human-eval {create,invite,serve,results,export,import}`: a blind human-or-machine study.

Only argparse is imported here; Flask, waitress and numpy are imported when a command runs.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import stat
import sys
from pathlib import Path

from seqgan.base.errors import OneLineParser, UserError
from seqgan.base.outputs import check_output_file, write_output_text

from .pages import SUGGESTED_RATERS

DEFAULT_BASE_URL = "http://127.0.0.1:8000"


def _create(args: argparse.Namespace) -> int:
    from .draw import UNK_RULE, Drawn, draw_real, draw_system
    from .lengths import length_lines, length_warning
    from .sources import is_text_run, parse_system
    from .store import Study, SystemSpec

    if args.per_system < 1:
        raise UserError("--per-system must be at least 1")
    if Path(args.study).exists():
        raise UserError(f"{args.study} already exists; pick another --study path or delete the old one first")
    check_output_file(args.study, "--study")  # a path under a file, a missing folder, a run's own file
    specs: list[SystemSpec] = []
    drawn: dict[str, Drawn] = {}
    for spec in args.system:
        name, source = parse_system(spec)
        if name in drawn:
            raise UserError(f"--system {name} is given twice; give each system a different name")
        drawn[name] = draw_system(name, source, args.per_system, args.seed)
        specs.append(SystemSpec(name, source))
    first = specs[0].source if Path(specs[0].source).is_dir() else None
    if args.real is not None:
        if args.real_name in drawn:
            raise UserError(
                f"--system {args.real_name} clashes with the real texts' name; rename it or pass --real-name"
            )
        drawn[args.real_name] = draw_real(args.real_name, args.real, first, args.per_system, args.seed)
        source = f"test split of {first}" if args.real == "test" and first else args.real
        specs.append(SystemSpec(args.real_name, source, is_real=True))
    texts = {name: d.texts for name, d in drawn.items()}
    config = {
        "systems": args.system,
        "real": args.real,
        "per_system": args.per_system,
        "seed": args.seed,
        "fluency": args.fluency,
        "real_through_run": first if args.real is not None and is_text_run(first) else None,
        "unk_rule": UNK_RULE,
        "draws": {name: d.record() for name, d in drawn.items()},
        "lengths": {name: d.lengths() for name, d in drawn.items()},
    }
    with Study.create(
        args.study, specs, texts, args.seed, fluency=args.fluency, title=args.title, config=config
    ) as study:
        n = study.item_count()
    for d in drawn.values():
        if d.warning():
            print(f"warning: {d.warning()}", file=sys.stderr)
    if length_warning(config["lengths"]):
        print(f"warning: {length_warning(config['lengths'])}", file=sys.stderr)
    parts = ", ".join(f"{len(texts[s.name])} from {s.name}" for s in specs)
    print(
        f"created {args.study}: {n} blinded items ({parts}), seed {args.seed}"
        f"{', with a fluency question' if args.fluency else ''}"
    )
    left_out = ", ".join(f"{d.name} {d.dropped_unk} of {d.considered}" for d in drawn.values() if d.dropped_unk)
    if left_out:
        print(f"texts left out for <unk> (no item shows one): {left_out}")
    for line in length_lines(config["lengths"]):
        print(f"length of {line}")
    print(f"next: seqgan human-eval invite --study {args.study} --n {SUGGESTED_RATERS}")
    return 0


def _write_private(path: Path, text: str) -> None:
    """Write a new file readable by its owner only (mode 0600), atomically; never replaces an existing one."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)  # an old .tmp left by a crash keeps its mode otherwise
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _stdout_shared() -> bool:
    """Whether standard output is a file that other users may read (e.g. `invite ... > links.tsv`)."""
    try:
        st = os.fstat(sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):
        return False
    return stat.S_ISREG(st.st_mode) and bool(st.st_mode & 0o077)


def _invite(args: argparse.Namespace) -> int:
    from .store import Study

    out = None
    if args.out:  # checked before any rater is added
        out = check_output_file(args.out, "--out", [("--study", args.study)])
        if out.exists():
            raise UserError(
                f"{args.out} already exists; pick another --out path (`invite --list` prints every link again)"
            )
        check_output_file(out, "--out", [("--study", args.study)])  # nor a run's file, nor beside a database
    with Study.open(args.study) as study:
        # links printed again (--list, --organiser, more raters) lead where the first ones did, unless told otherwise
        base = (args.base_url or study.base_url() or DEFAULT_BASE_URL).rstrip("/")
        if args.organiser:
            lines = [f"{base}/o/{study.organiser_token}"]
        else:
            if args.list:
                raters = [r for r in study.raters() if r.token]
            else:
                if args.n is None:
                    raise UserError("say how many raters to invite with --n N (or --list / --organiser)")
                raters = study.add_raters(args.n, args.prefix)
            lines = [f"{rater.label}\t{base}/r/{rater.token}" for rater in raters]
        if args.base_url is not None or not (args.list or args.organiser):
            study.record_base_url(base)  # `serve` then listens where the links lead
    if out is not None:
        _write_private(out, "".join(line + "\n" for line in lines))
        print(f"wrote {len(lines)} links to {out} (readable only by you: they are secret)", file=sys.stderr)
    else:
        for line in lines:
            print(line)
        if _stdout_shared():
            print(
                "note: the file these secret links went to is readable by other users;"
                " `chmod 600` it, or write it with --out FILE",
                file=sys.stderr,
            )
    if not (args.list or args.organiser):
        print(
            f"{len(lines)} invitation links; send one to each rater. Start the server with"
            f" `seqgan human-eval serve --study {args.study}`.",
            file=sys.stderr,
        )
    return 0


def _serve(args: argparse.Namespace) -> int:
    from .server import serve

    return serve(
        args.study,
        host=args.host,
        port=args.port,
        threads=args.threads,
        public_url=args.base_url,
        connection_limit=args.connection_limit,
        channel_timeout=args.channel_timeout,
    )


def _results(args: argparse.Namespace) -> int:
    from .report import format_report, study_report, write_answers_csv
    from .store import Study

    if args.resamples < 1:
        raise UserError("--resamples must be at least 1")
    if args.csv:  # before any work: never the study itself, a run's file or a folder
        check_output_file(args.csv, "--csv", [("--study", args.study)])
    with Study.open(args.study) as study:
        report = study_report(study, unit=args.unit, n_resamples=args.resamples, seed=args.seed)
        if args.csv:
            buf = io.StringIO()
            n = write_answers_csv(study, buf)
            write_output_text(args.csv, buf.getvalue())
            print(f"wrote {n} answers to {args.csv}", file=sys.stderr)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_report(report))
    return 0


def _export(args: argparse.Namespace) -> int:
    from .report import write_items_csv
    from .store import Study

    if args.out != "-":
        check_output_file(args.out, "--out", [("--study", args.study)])
    with Study.open(args.study) as study:
        if args.out == "-":
            n = write_items_csv(study, sys.stdout)
        else:
            buf = io.StringIO()
            n = write_items_csv(study, buf)
            write_output_text(args.out, buf.getvalue())
    print(
        f"wrote {n} blinded items (columns item_id, text); collect answers with columns rater, item, answer"
        f" and read them back with `seqgan human-eval import --study {args.study} --answers FILE`",
        file=sys.stderr,
    )
    return 0


def _import(args: argparse.Namespace) -> int:
    from .report import import_answers, read_answers_csv
    from .store import Study

    rows = read_answers_csv(
        Path(args.answers), args.rater_col, args.item_col, args.answer_col, args.fluency_col
    )
    with Study.open(args.study) as study:
        added, duplicates = import_answers(study, rows)
    print(
        f"imported {added} answers from {args.answers}"
        + (f"; {duplicates} were already in the study and were left as they were" if duplicates else "")
    )
    return 0


def _help(parser: argparse.ArgumentParser):
    def show(_args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return 2

    return show


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `human-eval` command and its actions.

    Args:
        subparsers: the top-level parser's sub-parsers.
    """
    parser = subparsers.add_parser(
        "human-eval",
        help="blind human-or-machine study in the browser",
        description="Run a blind 'written by a person or a machine?' study (the SeqGAN paper's human Turing"
        " test): create it, invite raters, serve the rating page, read the results.",
    )
    parser.set_defaults(func=_help(parser))
    actions = parser.add_subparsers(dest="human_eval_action", metavar="ACTION")

    def study_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--study", required=True, metavar="FILE.db", help="the study file (SQLite)")

    p = actions.add_parser("create", help="draw, mix and blind the items into a new study file")
    p.add_argument(
        "--system",
        action="append",
        required=True,
        metavar="NAME=SOURCE",
        help="a system and where its texts come from: a trained run directory (samples are drawn),"
        " a text file (one item per line) or a .jsonl file; repeat for each system",
    )
    p.add_argument(
        "--real",
        metavar="FILE|test",
        help="human-written texts: a text file, or 'test' for the first system's run-dir test split",
    )
    p.add_argument("--real-name", default="real", help="name of the human-written source (default: real)")
    p.add_argument(
        "--per-system", type=int, default=20, metavar="N", help="items from each source (default 20)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed for sampling, choosing and mixing (default 0)")
    p.add_argument("--fluency", action="store_true", help="also ask how fluent each text is (1-5)")
    p.add_argument("--title", default="Human or machine?", help="heading shown to raters")
    study_arg(p)
    p.set_defaults(func=_create)

    p = actions.add_parser("invite", help="add raters and print their invitation links")
    study_arg(p)
    p.add_argument("--n", type=int, metavar="N", help="how many new raters to invite")
    p.add_argument("--prefix", default="r", help="rater label prefix (default r: r001, r002, ...)")
    p.add_argument(
        "--base-url",
        help=f"address raters reach the server at (default {DEFAULT_BASE_URL}); `serve` listens on its port",
    )
    p.add_argument(
        "--out", metavar="FILE", help="write the links to this new file, readable only by you (default: print them)"
    )
    p.add_argument("--list", action="store_true", help="print the links of the raters invited so far")
    p.add_argument("--organiser", action="store_true", help="print the organiser page's secret link")
    p.set_defaults(func=_invite)

    p = actions.add_parser("serve", help="serve the rating pages and the organiser page")
    study_arg(p)
    p.add_argument(
        "--host",
        help="address to listen on (default 127.0.0.1: this machine only; or the invitation links' host"
        " when it is a loopback one)",
    )
    p.add_argument(
        "--port",
        type=int,
        help="port (default: the invitation links' port when they name one over http, else 8000;"
        " 0 picks a free one)",
    )
    p.add_argument("--threads", type=int, default=8, help="worker threads (default 8)")
    p.add_argument(
        "--connection-limit",
        type=int,
        metavar="N",
        help="most connections open at once (default 1000, or what the open-file limit allows)",
    )
    p.add_argument(
        "--channel-timeout",
        type=int,
        default=15,
        metavar="SECONDS",
        help="close a connection idle this long (default 15)",
    )
    p.add_argument(
        "--base-url",
        metavar="URL",
        help="address raters reach the server at, if not http://HOST:PORT (for links)",
    )
    p.set_defaults(func=_serve)

    p = actions.add_parser("results", help="scores with confidence intervals, significance tests, agreement")
    study_arg(p)
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--csv", metavar="FILE", help="also write every answer to this CSV file (an existing file is "
                   "replaced, never the study itself)")
    p.add_argument(
        "--unit",
        choices=["rater", "item"],
        default="rater",
        help="what is independent: raters (paired permutation test, default) or items (unpaired)",
    )
    p.add_argument("--resamples", type=int, default=10_000, help="permutation test resamples (default 10000)")
    p.add_argument("--seed", type=int, default=None, help="permutation test seed (default: the study's seed)")
    p.set_defaults(func=_results)

    p = actions.add_parser("export", help="write the blinded item sheet (CSV) for a crowdsourcing platform")
    study_arg(p)
    p.add_argument("--out", default="-", metavar="FILE.csv", help="output file (default: standard output; an "
                   "existing file is replaced, never the study itself)")
    p.set_defaults(func=_export)

    p = actions.add_parser("import", help="read answers collected elsewhere (CSV) into the study")
    study_arg(p)
    p.add_argument("--answers", required=True, metavar="FILE.csv", help="CSV with a header row")
    p.add_argument("--rater-col", default="rater", help="column with the rater/worker id (default rater)")
    p.add_argument("--item-col", default="item", help="column with the item_id of the sheet (default item)")
    p.add_argument("--answer-col", default="answer", help="column with human/machine (default answer)")
    p.add_argument(
        "--fluency-col", default="fluency", help="column with fluency 1-5, optional (default fluency)"
    )
    p.set_defaults(func=_import)


def main(argv: list[str] | None = None) -> int:
    """Run `human-eval` on its own (``python -m seqgan.human ACTION ...``); same exit codes as `seqgan`.

    Args:
        argv: arguments after ``human-eval``; default sys.argv[1:].
    """
    parser = OneLineParser(prog="python -m seqgan.human")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["human-eval", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args) or 0)
    except UserError as err:
        print(f"seqgan human-eval: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
