"""A real `serve` process killed with SIGKILL mid-study loses no answer it acknowledged."""

from __future__ import annotations

import http.client
import os
import re
import signal
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


def start_server(db: Path) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "eval.human", "serve", "--study", str(db), "--port", "0", "--threads", "4"],
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
        except OSError:
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
