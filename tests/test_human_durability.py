"""A real `serve` process: killed with SIGKILL mid-study it loses no acknowledged answer; idle connections
from anyone on the network cannot lock raters out."""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("flask")
pytest.importorskip("waitress")

from tests.test_human_support import make_study  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def start_server(db: Path, *extra: str) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "seqgan.human", "serve", "--study", str(db), "--port", "0", "--threads", "4", *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    match = re.search(r"on http://127\.0\.0\.1:(\d+)/", line)
    if not match:
        proc.kill()
        raise AssertionError(f"server did not start: {line!r} {proc.stderr.read()}")
    return proc, int(match.group(1))


def rate_until_refused(
    port: int, token: str, acked: list[tuple[str, str, int]], stop: threading.Event
) -> None:
    """Answer items one by one; record (token, item, human) only when the server acknowledged (303)."""
    n = 0
    while not stop.is_set():
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", f"/r/{token}")
            page = conn.getresponse().read().decode()
            found = re.search(r'name="item" value="([0-9a-f]{10})"', page)
            if not found:
                return  # done
            human = n % 3 != 0
            body = f"item={found.group(1)}&answer={'human' if human else 'machine'}"
            conn.request(
                "POST", f"/r/{token}/answer", body, {"Content-Type": "application/x-www-form-urlencoded"}
            )
            resp = conn.getresponse()
            resp.read()
            conn.close()
        except (OSError, http.client.HTTPException):  # e.g. IncompleteRead when killed mid-reply
            return  # the server is gone
        if resp.status == 303:
            acked.append((token, found.group(1), int(human)))
            n += 1


def test_sigkill_mid_study_loses_no_acknowledged_answer(tmp_path: Path) -> None:
    db, tokens, _owner = make_study(tmp_path, per_system=15, raters=3)
    proc, port = start_server(db)
    acked: list[tuple[str, str, int]] = []
    stop = threading.Event()
    threads = [threading.Thread(target=rate_until_refused, args=(port, t, acked, stop)) for t in tokens]
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 20
        while len(acked) < 30 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(acked) >= 30, "raters made too little progress"
        os.kill(proc.pid, signal.SIGKILL)  # mid-study: the rater threads are still posting
        proc.wait(timeout=10)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
        proc.stderr.close()
    assert len(acked) < 3 * 45, "the kill came after the study was over"

    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = {
            (token, code, human)
            for token, code, human in conn.execute(
                "SELECT r.token, i.code, x.human FROM answers x JOIN raters r ON r.id = x.rater_id"
                " JOIN items i ON i.id = x.item_id"
            )
        }
    missing = [a for a in acked if a not in stored]
    assert missing == []
    assert len(stored) >= len(acked)

    # A restarted server carries on where each rater stopped.
    proc, port = start_server(db)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", f"/r/{tokens[0]}")
        page = conn.getresponse().read().decode()
        done = sum(1 for token, _code, _h in stored if token == tokens[0])
        assert f"Item <strong>{done + 1}</strong> of 45" in page
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        proc.stdout.close()
        proc.stderr.close()


def stop_server(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    proc.stdout.close()
    proc.stderr.close()


def open_idle(port: int, n: int) -> list[socket.socket]:
    """n connections that never finish a request: half send nothing, half half a request line."""
    socks = []
    for i in range(n):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        socks.append(sock)
        if i % 2:
            sock.sendall(b"GET /r/")
    return socks


def timed_rating_page(port: int, token: str, timeout: float) -> tuple[int, bytes, float]:
    start = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", f"/r/{token}")
        resp = conn.getresponse()
        return resp.status, resp.read(), time.monotonic() - start
    finally:
        conn.close()


def test_200_idle_connections_do_not_lock_a_rater_out(tmp_path: Path) -> None:
    db, tokens, _owner = make_study(tmp_path, per_system=2, raters=1)
    proc, port = start_server(db)  # the defaults
    socks: list[socket.socket] = []
    try:
        socks = open_idle(port, 200)
        time.sleep(0.2)  # let the server accept them all
        status, body, seconds = timed_rating_page(port, tokens[0], timeout=5)
        assert status == 200 and b"Item <strong>1</strong> of 6" in body
        assert seconds < 1.0
    finally:
        for sock in socks:
            sock.close()
        stop_server(proc)


def test_idle_connections_past_the_limit_are_closed_after_the_channel_timeout(tmp_path: Path) -> None:
    db, tokens, _owner = make_study(tmp_path, per_system=2, raters=1)
    proc, port = start_server(db, "--connection-limit", "20", "--channel-timeout", "1")
    socks: list[socket.socket] = []
    try:
        socks = open_idle(port, 25)  # more than the limit: the rater queues behind them
        time.sleep(0.2)
        status, body, seconds = timed_rating_page(port, tokens[0], timeout=15)
        assert status == 200 and b"Item <strong>1</strong> of 6" in body
        # Idle for 1 s, then closed at the next sweep (every second or so): a few seconds, not waitress' 120 + 30.
        assert seconds < 8.0
        socks[0].settimeout(5)
        assert socks[0].recv(100) == b""  # the server closed the first idle connection
    finally:
        for sock in socks:
            sock.close()
        stop_server(proc)
