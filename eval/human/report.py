"""Results of a study as a dict, as text, and as CSV; the item sheet and answer import for other platforms."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from seqgan.errors import UserError

from .stats import Answer, analyse
from .store import LABEL_RE, Study

ANSWER_COLUMNS = ["rater", "item", "system", "answer", "fluency", "answered_at", "source"]
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
    head = f"{'source':<{w}}  {'items':>5}  {'answers':>7}  {'human':>6}  {'score':>6}"
    lines.append(head + f"  {pct}% CI (by {report['unit']})" + ("          fluency" if has_fluency else ""))
    for r in systems:
        name = r["system"] + (" *" if r.get("real") else "")
        ci = f"[{_f(r['ci_low'])}, {_f(r['ci_high'])}]"
        counts = f"{r['items']:>5}  {r['answers']:>7}  {r['judged_human']:>6}"
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
    return "\n".join(lines)


def write_answers_csv(study: Study, out: TextIO) -> int:
    """Write every answer as CSV (one row each, with the system revealed); returns the row count.

    Args:
        study: the open study.
        out: text stream to write to.
    """
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(ANSWER_COLUMNS)
    rows = study.answers()
    for r in rows:
        writer.writerow(
            [
                r.rater,
                r.item,
                r.system,
                "human" if r.human else "machine",
                "" if r.fluency is None else r.fluency,
                r.answered_at,
                r.source,
            ]
        )
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
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["item_id", "text"])
    items = study.items()
    for code, _system, text in items:
        writer.writerow([code, text])
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
    raise UserError(f"{where}: answer {value!r} is neither human nor machine; use human/machine (or 1/0)")


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
        text = path.read_text(encoding="utf-8-sig")
    except OSError as err:
        raise UserError(f"cannot read {path}: {err.strerror}; check the path") from err
    except UnicodeDecodeError as err:
        raise UserError(f"{path} is not UTF-8 ({err}); save it as UTF-8 CSV") from err
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    for flag, col in (("--rater-col", rater_col), ("--item-col", item_col), ("--answer-col", answer_col)):
        if col not in header:
            raise UserError(
                f"{path} has no column {col!r} (columns: {', '.join(header) or 'none'});"
                f" name the right one with {flag}"
            )
    rows: list[tuple[str, str, bool, int | None]] = []
    for n, rec in enumerate(reader, start=2):
        where = f"{path}:{n}"
        label = (rec.get(rater_col) or "").strip()
        if not LABEL_RE.match(label):
            raise UserError(f"{where}: rater id {label!r} must be 1-100 letters, digits or _.@:+-")
        code = (rec.get(item_col) or "").strip()
        human = parse_answer(rec.get(answer_col) or "", where)
        fluency_cell = (rec.get(fluency_col) or "").strip() if fluency_col in header else ""
        fluency = None
        if fluency_cell:
            if fluency_cell not in {"1", "2", "3", "4", "5"}:
                raise UserError(f"{where}: fluency {fluency_cell!r} must be a whole number from 1 to 5")
            fluency = int(fluency_cell)
        rows.append((label, code, human, fluency))
    return rows


def import_answers(study: Study, rows: Iterable[tuple[str, str, bool, int | None]]) -> tuple[int, int]:
    """Add imported answers to a study; returns (added, already present).

    Args:
        study: the open study.
        rows: from `read_answers_csv`.
    """
    return study.import_answers(rows)
