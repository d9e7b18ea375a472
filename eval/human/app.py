"""The rating web app (Flask) and its server (waitress).

Routes (every one but the two static assets needs a secret token in the path; any other method or path,
OPTIONS and double slashes included, is 403 and never a redirect; GET routes answer HEAD too):

- ``GET  /r/<token>``          the rater's next item, or a thank-you page when done
- ``POST /r/<token>/answer``   one answer: ``item`` (blinded code), ``answer`` (human|machine), ``fluency``
- ``GET  /o/<token>``          organiser page: progress per rater and live results
- ``GET  /o/<token>/answers.csv`` and ``/o/<token>/results.json``
- ``GET  /assets/style.css`` and ``/assets/rate.js``

`serve` runs it with waitress, hardened for an open network: many connections, idle ones closed after a short
timeout, small request limits, and its arguments checked before anything binds.
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
import re
import socket
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from seqgan.base.errors import UserError

from .pages import ASSETS, TEMPLATES
from .report import answers_csv_text, study_report
from .store import Study

if TYPE_CHECKING:
    from flask import Flask

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self';"
    " frame-ancestors 'none'; base-uri 'none'"
)
DUPLICATE_NOTICE = "You had already answered that text; your first answer stands and nothing was changed."


@dataclass
class _Pending:
    answer: tuple[int, str, bool, int | None]
    done: bool = False
    result: bool | None = None
    error: BaseException | None = None


class GroupCommit:
    """Writes the answers of concurrent requests together: one transaction, so one disk sync, for all of them.

    Each commit waits for the disk (synchronous=FULL), so answers written one by one queue up behind each
    other's syncs. Here every request queues its answer, then takes the write lock; whoever holds it writes
    everything queued so far. A request whose answer an earlier holder wrote returns at once. An answer is
    still acknowledged only after the commit that stored it.
    """

    def __init__(self) -> None:
        self._write = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queue: list[_Pending] = []

    def record(self, study: Study, rater_id: int, item_code: str, human: bool, fluency: int | None) -> bool | None:
        """Store one answer; True if stored, False if already answered, None if the item is not the rater's.

        Args:
            study: this thread's open study.
            rater_id: the rater.
            item_code: the blinded item code.
            human: the answer.
            fluency: 1-5 or None.
        """
        entry = _Pending((rater_id, item_code, human, fluency))
        with self._queue_lock:
            self._queue.append(entry)
        with self._write:
            if not entry.done:
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                try:
                    results = study.record_answers([e.answer for e in batch])
                except BaseException as err:
                    for e in batch:
                        e.error, e.done = err, True
                    raise
                for e, stored in zip(batch, results, strict=True):
                    e.result, e.done = stored, True
        if entry.error is not None:
            raise RuntimeError("storing a batch of answers failed") from entry.error
        return entry.result


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


def is_loopback(host: str) -> bool:
    """Whether a host name or address only accepts connections from this machine.

    Args:
        host: e.g. "127.0.0.1", "localhost", "0.0.0.0".
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def base_url(host: str, port: int) -> str:
    """The http URL (ending in /) for a host and port.

    Args:
        host: host name or address.
        port: TCP port.
    """
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}/"


DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_THREADS = 8
# waitress' own defaults (100 connections, idle ones dropped after 120 s) let 100 idle sockets from anyone on
# the network lock every rater out for two minutes. Raters' browsers reconnect without a sound when an idle
# keep-alive connection is closed, so a short timeout costs them nothing.
DEFAULT_CONNECTION_LIMIT = 1000
DEFAULT_CHANNEL_TIMEOUT = 15
MAX_HEADER_BYTES = 32 * 1024  # tokens are 24 characters; no honest request comes near this
SWITCH_INTERVAL = 0.001  # seconds; see serve()
MAX_BODY_BYTES = 1024 * 1024  # above Flask's 64 KiB limit (which answers with a page), below disk-filling sizes


def check_listen_args(host: str, port: int, threads: int, connection_limit: int, channel_timeout: int) -> str:
    """Check serve's arguments before anything binds; returns the host without IPv6 brackets.

    Args:
        host: address or host name to listen on.
        port: TCP port, 0 for any free one.
        threads: worker threads.
        connection_limit: most connections open at once.
        channel_timeout: seconds before an idle connection is closed.
    """
    if threads < 1:
        raise UserError(f"--threads {threads}: the server needs at least 1 worker thread")
    if not 0 <= port <= 65535:
        raise UserError(f"--port {port} is not a TCP port; use 1-65535 (or 0 for any free port)")
    if connection_limit < 1:
        raise UserError(f"--connection-limit {connection_limit} must be at least 1")
    if channel_timeout < 1:
        raise UserError(f"--channel-timeout {channel_timeout} must be at least 1 second")
    bare = host.strip().strip("[]")
    if not bare:
        raise UserError("--host is empty; use 127.0.0.1 (this machine only) or 0.0.0.0 (every network interface)")
    hint = "use an address such as 127.0.0.1 or 0.0.0.0, or a host name this machine resolves"
    try:
        ipaddress.ip_address(bare)
        return bare
    except ValueError:
        if re.fullmatch(r"[0-9.]+", bare):  # looks like an IPv4 address but is not one: no DNS look-up for it
            raise UserError(f"--host {host!r} is not a valid IP address; {hint}") from None
    try:
        socket.getaddrinfo(bare, port or None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as err:
        raise UserError(f"--host {host!r} is neither an IP address nor a name this machine resolves; {hint}") from err
    return bare


def ensure_file_room(connection_limit: int, threads: int, explicit: bool) -> tuple[int, str | None]:
    """Make sure the process may open enough files for `connection_limit` sockets, raising its soft limit.

    Returns the connection limit to use and a note when the default had to be lowered.

    Args:
        connection_limit: the wanted limit.
        threads: worker threads (each holds the study file and its -wal and -shm open).
        explicit: whether the user asked for this limit (then a shortfall is an error, not a note).
    """
    try:
        import resource
    except ImportError:  # not on POSIX: nothing to check
        return connection_limit, None
    headroom = 32 + 4 * threads
    need = connection_limit + headroom
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY or soft >= need:
        return connection_limit, None
    room = soft - headroom
    if explicit or room < 10:
        raise UserError(
            f"--connection-limit {connection_limit} needs {need} open files but this process may open only"
            f" {soft}; lower --connection-limit to {max(room, 1)} or raise the limit with `ulimit -n`"
        )
    return room, f"this process may open only {soft} files, so at most {room} connections are kept open"


def listen_defaults(recorded: str | None) -> tuple[str | None, int | None]:
    """The host and port that the invitation links' address implies, when it names this server directly.

    An http address with an explicit port gives the port; its host too when it is a loopback one. An https
    address, or one without a port, goes through a proxy, so it says nothing about where to listen.

    Args:
        recorded: the base URL `invite` recorded in the study, or None.
    """
    if not recorded:
        return None, None
    try:
        parts = urlsplit(recorded)
        port = parts.port
    except ValueError:
        return None, None
    if parts.scheme != "http" or port is None or not 1 <= port <= 65535:
        return None, None
    host = parts.hostname or ""
    return (host if is_loopback(host) else None), port


def link_warning(recorded: str | None, host: str, port: int, links: str) -> str | None:
    """Why the raters' links might not reach this server, or None when they look right.

    Args:
        recorded: the base URL the invitation links point at, or None.
        host: bound host.
        port: bound port.
        links: the base URL this server prints its links with.
    """
    if not recorded or recorded.rstrip("/") == links.rstrip("/"):
        return None
    rec_host, rec_port = listen_defaults(recorded)
    lead = f"the invitation links point at {recorded.rstrip('/')}/, "
    if rec_port is not None and rec_port != port:
        return lead + f"but this server listens on port {port}: drop --port, or send new links"
    if rec_port is not None and rec_host is None and is_loopback(host):
        return lead + "but this server listens on this machine only: pass --host 0.0.0.0 (or that address)"
    if rec_port is None and links.rstrip("/") != base_url(host, port).rstrip("/"):
        return lead + f"but this server prints links for {links}; check --base-url"
    return None


def serve(
    study_path: str | Path,
    host: str | None = None,
    port: int | None = None,
    threads: int = DEFAULT_THREADS,
    public_url: str | None = None,
    connection_limit: int | None = None,
    channel_timeout: int = DEFAULT_CHANNEL_TIMEOUT,
) -> int:
    """Serve a study with waitress until interrupted; prints the URL and the organiser link first.

    Args:
        study_path: the study database.
        host: address to bind; None: the invitation links' host when it is a loopback one, else 127.0.0.1.
        port: TCP port (0 picks a free one, and the line "serving on URL" says which); None: the invitation
            links' port when they name one over http, else 8000.
        threads: worker threads.
        public_url: the address raters use, if not the bound one (e.g. behind a proxy), for printed links.
        connection_limit: most connections open at once (None: 1000, fewer if the open-file limit is lower).
        channel_timeout: seconds after which an idle connection is closed.
    """
    given_host = host is not None
    try:
        from waitress import create_server
    except ImportError as err:
        raise UserError("serving needs the waitress package; run `pip install waitress`") from err
    with Study.open(study_path) as s:
        organiser_token = s.organiser_token
        n_raters = len([r for r in s.raters() if r.token])
        recorded = s.base_url()
    notes: list[str] = []
    rec_host, rec_port = listen_defaults(recorded)
    if port is None and rec_port is not None:
        port = rec_port
        notes.append(f"port {port}")
    if host is None and rec_host is not None:
        host = rec_host
        if host != DEFAULT_HOST:
            notes.append(f"host {host}")
    if notes:
        notes = [f"{' and '.join(notes)} from the study's invitation links ({recorded.rstrip('/')}/);"
                 " --host/--port override it"]
    host = check_listen_args(
        DEFAULT_HOST if host is None else host,
        DEFAULT_PORT if port is None else port,
        threads,
        DEFAULT_CONNECTION_LIMIT if connection_limit is None else connection_limit,
        channel_timeout,
    )
    port = DEFAULT_PORT if port is None else port
    limit, room_note = ensure_file_room(
        DEFAULT_CONNECTION_LIMIT if connection_limit is None else connection_limit,
        threads,
        explicit=connection_limit is not None,
    )
    if room_note:
        notes.append(f"{room_note} (--connection-limit)")
    app = create_app(study_path)
    try:
        server = create_server(
            app,
            host=host,
            port=port,
            threads=threads,
            connection_limit=limit,
            channel_timeout=channel_timeout,
            # Idle connections are looked for every few seconds (waitress: every 30 s), so one is closed at
            # most a few seconds after its timeout.
            cleanup_interval=max(1, min(5, channel_timeout // 2)),
            # select() cannot watch file descriptors above 1023; poll() has no such limit.
            asyncore_use_poll=True,
            max_request_header_size=MAX_HEADER_BYTES,
            max_request_body_size=MAX_BODY_BYTES,
        )
    except OSError as err:
        raise UserError(
            f"cannot listen on {host}:{port} ({err.strerror or err}); pick another --port"
            + ("" if given_host else " or --host")
        ) from err
    # A host name with several addresses (localhost: 127.0.0.1 and ::1) gets one socket each.
    bound_port = int(getattr(server, "effective_port", None) or server.effective_listen[0][1])
    url = base_url(host, bound_port)
    links = (public_url.rstrip("/") + "/") if public_url else url
    print(f"serving {study_path} on {url}", flush=True)
    print(f"organiser page: {links}o/{organiser_token}", flush=True)
    for note in notes:
        print(note, flush=True)
    if n_raters == 0:
        print(
            f"no raters invited yet: run `seqgan human-eval invite --study {study_path} --n 10`", flush=True
        )
    else:
        print(
            f"{n_raters} raters invited;"
            f" `seqgan human-eval invite --study {study_path} --list` prints their links",
            flush=True,
        )
    warning = link_warning(recorded, host, bound_port, links)
    if warning:
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    if os.name == "posix" and Path(study_path).stat().st_mode & 0o077:
        print(
            f"warning: {study_path} holds every rater's secret token and other users may read it;"
            f" run `chmod 600 {study_path}`",
            file=sys.stderr,
            flush=True,
        )
    if not is_loopback(host):
        print(
            f"warning: listening on {host}, reachable from other machines over plain HTTP;"
            " put it behind HTTPS (and pass --base-url) before sending links over the internet",
            file=sys.stderr,
            flush=True,
        )
    # The worker threads hand the GIL over at every SQLite call and socket write; with Python's default 5 ms
    # switch interval a request waits behind busy threads that long at each hand-over. 1 ms halved the p99
    # latency and raised throughput under 70 raters at once (bench/bench_human_load.py).
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        server.run()  # returns on Ctrl-C
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        sys.setswitchinterval(switch_interval)
    print("stopped; every acknowledged answer is saved in the study file", file=sys.stderr)
    return 0
