"""Results of a study as a dict, as text, and as CSV; the item sheet and answer import for other platforms."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from eval.human_stats import Answer, analyse
from seqgan.base.errors import UserError

from .lengths import length_lines, length_warning
from .records import LABEL_RE
from .store import Study

ANSWER_COLUMNS = ["rater", "item", "system", "answer", "fluency", "answered_at", "source"]
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection"), and generated
# text can start with anything; such cells are written with a leading ' so spreadsheets show them as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# RFC 4180's line end. With "\n" alone the csv module leaves a lone CR inside a cell unquoted, and readers then
# split the row there.
CSV_EOL = "\r\n"
HUMAN_WORDS = {"human", "person", "h", "1", "yes", "y", "true", "real"}
MACHINE_WORDS = {"machine", "m", "0", "no", "n", "false", "generated", "fake"}


def study_report(
    study: Study, unit: str = "rater", n_resamples: int = 10_000, seed: int | None = None
) -> dict:
    """Full results of a study (JSON-ready): scores with CIs, pairwise tests, Fleiss' kappa, counts.

    Args:
        study: the open study.
        unit: "rater" or "item": what the intervals and tests treat as independent.
        n_resamples: permutation test resamples.
        seed: permutation test seed; default the study's seed.
    """
    rows = study.answers()
    systems = study.systems()
    answers = [Answer(r.rater, r.item, r.system, r.human, r.fluency) for r in rows]
    report = analyse(
        answers,
        [s.name for s in systems],
        unit=unit,
        n_resamples=n_resamples,
        seed=study.seed if seed is None else seed,
    )
    real = {s.name for s in systems if s.is_real}
    for row in report["systems"]:
        row["real"] = row["system"] in real
    report["study"] = {
        "path": str(study.path),
        "title": study.title,
        "seed": study.seed,
        "items": study.item_count(),
        "fluency_question": study.fluency,
        "raters_invited": len(study.raters()),
    }
    config = study.config()
    if "draws" in config:  # how the items were drawn (studies made before the <unk> rule did not record it)
        report["study"]["unk_rule"] = config.get("unk_rule")
        report["study"]["draws"] = config["draws"]
    if isinstance(config.get("lengths"), dict):  # item lengths per source (older studies recorded none)
        report["study"]["lengths"] = config["lengths"]
        report["study"]["length_warning"] = length_warning(config["lengths"])
    return report


def _f(x: float | None, digits: int = 4) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _p(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{x:.4f}" if x >= 1e-4 else f"{x:.1e}"


def format_report(report: dict) -> str:
    """Human-readable text of `study_report`'s result.

    Args:
        report: the dict from `study_report`.
    """
    st = report["study"]
    pct = round(report["confidence"] * 100)
    lines = [
        f"{st['title']} ({st['path']}): {st['items']} items, {report['raters']} raters answered,"
        f" {report['answers']} answers",
        "",
    ]
    systems = report["systems"]
    has_fluency = any(r["fluency_answers"] for r in systems)
    w = max([6] + [len(r["system"]) + 2 for r in systems])
    # per source: items with at least one answer (the first line counts all the study's items)
    head = f"{'source':<{w}}  {'answered':>8}  {'answers':>7}  {'human':>6}  {'score':>6}"
    lines.append(head + f"  {pct}% CI (by {report['unit']})" + ("          fluency" if has_fluency else ""))
    for r in systems:
        name = r["system"] + (" *" if r.get("real") else "")
        ci = f"[{_f(r['ci_low'])}, {_f(r['ci_high'])}]"
        counts = f"{r['items']:>8}  {r['answers']:>7}  {r['judged_human']:>6}"
        line = f"{name:<{w}}  {counts}  {_f(r['score']):>6}  {ci}"
        if has_fluency:
            line += f"  {_f(r['fluency'], 2):>15}"
        lines.append(line)
    if any(r.get("real") for r in systems):
        lines.append("(* human-written)")
    if report["pairwise"] and report["answers"]:
        perm = report["pairwise"][0]["permutation"]
        lines += ["", "Pairwise, two-sided:"]
        head = f"{'a':<{w}}  {'b':<{w}}  {'diff':>7}  {'Welch t':>8}  {'df':>6}  {'t-test p':>8}"
        lines.append(head + f"  permutation p ({perm['kind']})")
        for pair in report["pairwise"]:
            t = pair["welch"]
            diff = "n/a" if pair["diff"] is None else f"{pair['diff']:+.4f}"
            cells = f"{diff:>7}  {_f(t['t'], 3):>8}  {_f(t['df'], 1):>6}  {_p(t['p']):>8}"
            lines.append(f"{pair['a']:<{w}}  {pair['b']:<{w}}  {cells}  {_p(pair['permutation']['p'])}")
        resamples = "all sign patterns" if perm["exact"] else f"{perm['n_resamples']} resamples"
        lines.append(
            f"(both tests over per-{report['unit']} scores; permutation test:"
            f" {resamples}, seed {perm['seed']})"
        )
    kappa = report["fleiss_kappa"]
    lines += [
        "",
        f"Fleiss' kappa (human/machine): {_f(kappa['kappa'], 3)}"
        f" over {kappa['items']} items answered at least twice",
    ]
    if st.get("lengths"):
        lines += ["", "Item lengths (words):", *(f"  {line}" for line in length_lines(st["lengths"]))]
    if st.get("length_warning"):
        lines.append(f"warning: {st['length_warning']}")
    return "\n".join(lines)


def csv_cell(value: object) -> str:
    """A CSV cell that no spreadsheet runs as a formula: text starting with = + - @ tab or CR gets a leading '.

    Args:
        value: the cell's value (None becomes empty).
    """
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def read_cell(value: str | None) -> str:
    """Undo `csv_cell`: drop the leading ' it adds, so sheets this tool wrote read back as they were.

    Args:
        value: a cell read from a CSV file (None for a missing one).
    """
    text = value or ""
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_STARTS) else text


def write_answers_csv(study: Study, out: TextIO) -> int:
    """Write every answer as CSV (one row each, with the system revealed); returns the row count.

    Args:
        study: the open study.
        out: text stream to write to.
    """
    writer = csv.writer(out, lineterminator=CSV_EOL)
    writer.writerow([csv_cell(c) for c in ANSWER_COLUMNS])
    rows = study.answers()
    for r in rows:
        cells = [r.rater, r.item, r.system, "human" if r.human else "machine", r.fluency, r.answered_at, r.source]
        writer.writerow([csv_cell(c) for c in cells])
    return len(rows)


def answers_csv_text(study: Study) -> str:
    """Every answer as one CSV string.

    Args:
        study: the open study.
    """
    buf = io.StringIO()
    write_answers_csv(study, buf)
    return buf.getvalue()


def write_items_csv(study: Study, out: TextIO) -> int:
    """Write the blinded item sheet for a crowdsourcing platform (item_id, text); returns the row count.

    Args:
        study: the open study.
        out: text stream to write to.
    """
    writer = csv.writer(out, lineterminator=CSV_EOL)
    writer.writerow(["item_id", "text"])
    items = study.items()
    for code, _system, text in items:
        writer.writerow([csv_cell(code), csv_cell(text)])
    return len(items)


def parse_answer(value: str, where: str) -> bool:
    """True for a "human" answer, False for "machine" (accepts human/machine, person, yes/no, 1/0, ...).

    Args:
        value: the cell.
        where: position for the error message.
    """
    word = value.strip().lower()
    if word in HUMAN_WORDS:
        return True
    if word in MACHINE_WORDS:
        return False
    raise UserError(f"{where}: answer {value[:40]!r} is neither human nor machine; use human/machine (or 1/0)")


def read_answers_csv(
    path: Path,
    rater_col: str = "rater",
    item_col: str = "item",
    answer_col: str = "answer",
    fluency_col: str = "fluency",
) -> list[tuple[str, str, bool, int | None]]:
    """Read answers collected elsewhere from a CSV with a header row.

    Args:
        path: the CSV file.
        rater_col: column with the rater (worker) id.
        item_col: column with the item id from the exported sheet.
        answer_col: column with the human/machine answer.
        fluency_col: column with the 1-5 fluency answer (optional; missing column or blank cell = none).
    """
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            return _read_answer_rows(path, fh, rater_col, item_col, answer_col, fluency_col)
    except OSError as err:
        raise UserError(f"cannot read {path}: {err.strerror}; check the path") from err
    except UnicodeDecodeError as err:
        raise UserError(f"{path} is not UTF-8 ({err}); save it as UTF-8 CSV") from err


def _read_answer_rows(
    path: Path, fh: TextIO, rater_col: str, item_col: str, answer_col: str, fluency_col: str
) -> list[tuple[str, str, bool, int | None]]:
    reader = csv.DictReader(fh)
    try:
        header = reader.fieldnames or []
        for flag, col in (("--rater-col", rater_col), ("--item-col", item_col), ("--answer-col", answer_col)):
            if col not in header:
                raise UserError(
                    f"{path} has no column {col!r} (columns: {', '.join(header) or 'none'});"
                    f" name the right one with {flag}"
                )
        rows: list[tuple[str, str, bool, int | None]] = []
        for rec in reader:
            where = f"{path}:{reader.line_num}"
            label = read_cell(rec.get(rater_col)).strip()
            if not LABEL_RE.match(label):
                raise UserError(f"{where}: rater id {label[:40]!r} must be 1-100 letters, digits or _.@:+-")
            code = read_cell(rec.get(item_col)).strip()
            human = parse_answer(read_cell(rec.get(answer_col)), where)
            fluency_cell = read_cell(rec.get(fluency_col)).strip() if fluency_col in header else ""
            fluency = None
            if fluency_cell:
                if fluency_cell not in {"1", "2", "3", "4", "5"}:
                    raise UserError(f"{where}: fluency {fluency_cell[:40]!r} must be a whole number from 1 to 5")
                fluency = int(fluency_cell)
            rows.append((label, code, human, fluency))
    except csv.Error as err:
        # Python's csv module refuses fields over csv.field_size_limit() (131072 characters by default); no
        # answer sheet needs one that long, so such a file is refused rather than the limit raised.
        raise UserError(  # the bad record starts on the line after the last one read whole
            f"{path}:{reader.line_num + 1}: not a readable CSV ({err}); answer files hold short cells"
            f" (at most {csv.field_size_limit()} characters each)"
        ) from err
    return rows


def import_answers(study: Study, rows: Iterable[tuple[str, str, bool, int | None]]) -> tuple[int, int]:
    """Add imported answers to a study; returns (added, already present).

    Args:
        study: the open study.
        rows: from `read_answers_csv`.
    """
    return study.import_answers(rows)
