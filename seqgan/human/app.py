"""The rating web app (Flask): the rating pages, the organiser page and their downloads.

Routes (every one but the two static assets needs a secret token in the path; any other method or path,
OPTIONS and double slashes included, is 403 and never a redirect; GET routes answer HEAD too):

- ``GET  /r/<token>``          the rater's next item, or a thank-you page when done
- ``POST /r/<token>/answer``   one answer: ``item`` (blinded code), ``answer`` (human|machine), ``fluency``
- ``GET  /o/<token>``          organiser page: progress per rater and live results
- ``GET  /o/<token>/answers.csv`` and ``/o/<token>/results.json``
- ``GET  /assets/style.css`` and ``/assets/rate.js``

`server.serve` runs it with waitress; `group_commit` writes the answers of concurrent requests together.
"""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from .draw import items_note
from .group_commit import GroupCommit
from .pages import ASSETS, SUGGESTED_RATERS, TEMPLATES
from .report import answers_csv_text, study_report
from .store import Study

if TYPE_CHECKING:
    from flask import Flask

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self';"
    " frame-ancestors 'none'; base-uri 'none'"
)
DUPLICATE_NOTICE = "You had already answered that text; your first answer stands and nothing was changed."


def create_app(study_path: str | Path, refresh_seconds: int = 15) -> Flask:
    """Build the Flask app serving one study file.

    Args:
        study_path: the study database.
        refresh_seconds: how often the organiser page reloads itself.
    """
    from flask import Flask, Response, abort, redirect, render_template, request, url_for
    from jinja2 import DictLoader

    study_path = Path(study_path)
    Study.open(study_path).close()  # fail now, with a clear message, if it is not a study

    app = Flask(__name__, static_folder=None)
    app.jinja_loader = DictLoader(TEMPLATES)
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    # Only the routes below answer: no automatic OPTIONS replies, and no redirect from a path with doubled
    # slashes to a merged one (both must be set before the routes are added).
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    app.url_map.merge_slashes = False

    # One connection per worker thread, kept open. Opening and closing the only connection to a WAL database
    # for each request checkpoints the WAL every time, which cost more than the request itself.
    local = threading.local()
    # Answers are written under one lock, so threads wait their turn there, woken at once, instead of in
    # SQLite's busy handler (which polls with sleeps of up to 100 ms); concurrent answers share one commit.
    writer = GroupCommit()

    def study() -> Study:
        opened = getattr(local, "study", None)
        if opened is None:
            opened = local.study = Study.open(study_path)
        return opened

    @app.teardown_request
    def _drop_after_error(exc: BaseException | None) -> None:
        opened = getattr(local, "study", None)
        if exc is not None and opened is not None:  # start the next request on a fresh connection
            local.study = None
            opened.close()

    @app.after_request
    def _headers(resp: Response) -> Response:
        resp.headers["Content-Security-Policy"] = CSP
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["Cache-Control"] = "no-store"
        return resp

    def message(status: int, heading: str, text: str, back: str | None = None):
        page = render_template("message.html", page_title=heading, heading=heading, message=text, back=back)
        return page, status

    @app.errorhandler(403)
    @app.errorhandler(404)
    @app.errorhandler(405)
    def _forbidden(_err: Exception):
        # Unknown paths and methods get the same answer as a bad token: nothing here without a valid link.
        return message(
            403, "No access", "This page needs a valid invitation link. Use the exact link you were sent."
        )

    @app.errorhandler(413)
    def _too_big(_err: Exception):
        return message(413, "Too large", "That request was too large; nothing was saved.")

    @app.get("/assets/<name>")
    def asset(name: str) -> Response:
        if name not in ASSETS:
            abort(403)
        mimetype, body = ASSETS[name]
        return Response(body, headers={"Content-Type": mimetype})

    def rating_page(token: str, notice: str | None = None, status: int = 200):
        s = study()
        rater = s.rater_by_token(token)
        if rater is None:
            abort(403)
        item = s.next_item(rater.id)
        if item is None:
            total = s.assigned_count(rater.id)
            return render_template(
                "done.html", page_title=s.title, title=s.title, total=total, notice=notice
            ), status
        page = render_template(
            "rate.html",
            page_title=s.title,
            title=s.title,
            item=item,
            token=token,
            fluency=s.fluency,
            notice=notice,
        )
        return page, status

    @app.get("/r/<token>")
    def rate(token: str):
        return rating_page(token)

    @app.post("/r/<token>/answer")
    def answer(token: str):
        s = study()
        rater = s.rater_by_token(token)
        if rater is None:
            abort(403)
        back = url_for("rate", token=token)
        choice = request.form.get("answer", "")
        if choice not in ("human", "machine"):
            return message(
                400, "Answer missing", "Choose “a person” or “a machine”; nothing was saved.", back
            )
        fluency = None
        if s.fluency:
            cell = request.form.get("fluency", "")
            if cell not in ("1", "2", "3", "4", "5"):
                return message(
                    400, "Fluency missing", "Choose a fluency from 1 to 5; nothing was saved.", back
                )
            fluency = int(cell)
        new = writer.record(s, rater.id, request.form.get("item", ""), choice == "human", fluency)
        if new is None:
            return message(400, "Unknown text", "That text is not one of yours; nothing was saved.", back)
        if not new:
            return rating_page(token, notice=DUPLICATE_NOTICE, status=409)
        return redirect(back, code=303)

    def organiser_study(token: str) -> Study:
        s = study()
        if not s.is_organiser(token):
            abort(403)
        return s

    @app.get("/o/<token>")
    def organiser(token: str):
        s = organiser_study(token)
        report = study_report(s)
        systems = s.systems()

        def fmt(x: float | None, digits: int = 3, sign: bool = False) -> str:
            if x is None or (isinstance(x, float) and math.isnan(x)):
                return "–"
            return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"

        def fmtp(x: float | None) -> str:
            if x is None:
                return "–"
            return f"{x:.4f}" if x >= 1e-4 else f"{x:.1e}"

        def pct(x: float | None) -> float:
            return 0.0 if x is None else round(100.0 * min(1.0, max(0.0, x)), 2)

        return render_template(
            "organiser.html",
            page_title=f"{s.title} (organiser)",
            title=s.title,
            token=token,
            report=report,
            raters=s.progress(),
            real={sp.name for sp in systems if sp.is_real},
            items_note=items_note(s.config(), any(sp.is_real for sp in systems)),
            suggested_raters=SUGGESTED_RATERS,
            n_items=s.item_count(),
            seed=s.seed,
            perm_seed=s.seed,
            fluency=s.fluency,
            refresh=refresh_seconds,
            base=request.host_url,
            study_name=study_path.name,
            fmt=fmt,
            fmtp=fmtp,
            pct=pct,
        )

    @app.get("/o/<token>/results.json")
    def organiser_json(token: str) -> Response:
        s = organiser_study(token)
        return Response(json.dumps(study_report(s), indent=2), headers={"Content-Type": "application/json"})

    @app.get("/o/<token>/answers.csv")
    def organiser_csv(token: str) -> Response:
        s = organiser_study(token)
        return Response(
            answers_csv_text(s),
            headers={
                "Content-Type": "text/csv; charset=utf-8",
                "Content-Disposition": f'attachment; filename="{study_path.stem}-answers.csv"',
            },
        )

    return app


