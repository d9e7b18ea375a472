"""Re-judge stored `seqgan compare` reports with the current frontier rule, without re-running anything.

    python tools/refrontier.py results/frontier/coco/report.json results/frontier/oracle/report.json

report.json keeps MLE's temperature curve and every system's point, so each "beyond_reference_curve" verdict
can be recomputed by `seqgan.text.frontier.beyond_curve`. Rewrites those verdicts, "frontier_rule" (placed
after "reference", where `seqgan compare` writes it) and, when the report has one, its "verdict" sentences;
every other field is kept as it was. Then rebuilds report.md beside it with `report_markdown`. Prints each
verdict that changed; a report already judged by the current rule is left untouched.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from seqgan.base.errors import OneLineParser, UserError  # noqa: E402
from seqgan.base.files import atomic_write_json, atomic_write_text  # noqa: E402
from seqgan.text.frontier import FRONTIER_RULE, beyond_curve  # noqa: E402
from seqgan.text.verdict import compare_verdict, report_markdown  # noqa: E402

REFERENCE = "reference"  # the verdict cell of the system whose sweep is the curve: not judged against itself


def rejudge(report: dict) -> tuple[dict, list[tuple[str, object, object]]]:
    """The report with its frontier verdicts recomputed by the current rule, and (system, old, new) for each
    verdict that changed. Key order is kept; "frontier_rule" is added after "reference" if missing."""
    if report.get("kind") not in ("text", "oracle") or "systems" not in report:
        raise UserError("not a `seqgan compare` report.json (no kind or systems)")
    curve = report.get("temperature_curve") or []
    if not report.get("reference") or not curve:
        raise UserError("the report has no temperature curve (compared with --reference none): nothing to judge")
    is_text = report["kind"] == "text"
    changes = []
    for name, point in report["systems"].items():
        old = point.get("beyond_reference_curve")
        if old == REFERENCE:
            continue
        new = beyond_curve(point, curve, is_text)
        if new != old:
            changes.append((name, old, new))
        point["beyond_reference_curve"] = new
    out = {}
    for key, value in report.items():
        if key != "frontier_rule":
            out[key] = value
        if key == "reference":
            out["frontier_rule"] = FRONTIER_RULE
    if "verdict" in out:  # its sentences say which systems lie beyond the curve
        out["verdict"] = compare_verdict(out)
    return out, changes


def refrontier(report_json: str | Path) -> list[tuple[str, object, object]]:
    """Rewrite `report_json` (atomically) and the report.md beside it by the current rule; the changed verdicts.
    A file whose content would not change is not written."""
    path = Path(report_json)
    try:
        old_text = path.read_text(encoding="utf-8")
        report = json.loads(old_text)
    except (OSError, ValueError) as err:  # missing, unreadable, not JSON
        raise UserError(f"cannot read {path}: {err}") from err
    if not isinstance(report, dict):
        raise UserError(f"{path} is not a `seqgan compare` report.json (not a JSON object)")
    original = json.loads(old_text)  # `rejudge` updates the points of `report` in place
    new, changes = rejudge(report)
    if new != original or list(new) != list(original):
        atomic_write_json(path, new)
    md = path.with_name("report.md")
    text = report_markdown(new)
    if md.exists() and md.read_text(encoding="utf-8") != text:
        atomic_write_text(md, text)
    return changes


def _cell(flag: object) -> str:
    """A verdict as report.md shows it."""
    return {True: "yes", False: "no", None: "n/a"}.get(flag, str(flag))


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reports", nargs="+", help="report.json files written by `seqgan compare`")
    args = parser.parse_args(argv)
    try:
        for report_json in args.reports:
            changes = refrontier(report_json)
            print(f"{report_json}: rule {FRONTIER_RULE}, "
                  + (", ".join(f"{n} {_cell(o)} -> {_cell(v)}" for n, o, v in changes) or "no verdict changed"))
    except UserError as err:
        print(f"refrontier: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
