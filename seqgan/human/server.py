"""Serving a study with waitress, hardened for an open network: many connections, idle ones closed after a short
timeout, small request limits, and the arguments checked before anything binds.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

from seqgan.base.errors import UserError

from .app import create_app
from .pages import SUGGESTED_RATERS
from .store import Study


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
            f"no raters invited yet: run `seqgan human-eval invite --study {study_path} --n {SUGGESTED_RATERS}`",
            flush=True,
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
