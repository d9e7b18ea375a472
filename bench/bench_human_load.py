"""Benchmark: the human-eval rating server under a study's worth of raters at once, and a kill -9 mid-load.

The server is the real `python -m seqgan.human serve` process on a loopback port; the raters run as threads in
--clients separate processes, each acting like a browser: one keep-alive connection, GET the rating page, POST
the answer (303), GET the next page, with no pause between items (a far heavier load than people thinking).
A rater's answer to an item is a fixed function of the rater and the item, so every stored answer can be
checked against what that rater was told was saved.

Two phases, each on a fresh study of --items items (three sources) and --raters raters:

1. clean: every rater answers every item. Latency of each request (GET and POST) gives p50/p99.
2. kill: when --kill-at of all answers are acknowledged, the server gets SIGKILL; it is restarted on the same
   port after --downtime seconds and the raters carry on (reconnecting, as a browser would on reload).

Both phases must end with every acknowledged answer stored with the acknowledged value (0 lost), no
(rater, item) answered twice (0 duplicates, and no 409 "already answered" page), and every rater finished.
Prints a table and writes results/bench_human_load.json (or --out).

    python bench/bench_human_load.py [--raters 70] [--items 60] [--threads 8] [--clients 2]
"""

from __future__ import annotations

import argparse
import http.client
import math
import multiprocessing as mp
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import ROOT, machine, write_report  # first: puts the project root on sys.path

ITEM_RE = re.compile(r'name="item" value="([0-9a-f]{10})"')
DONE_TEXT = "You have judged all"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the benchmark's command line.

    Args:
        argv: arguments (default: sys.argv[1:]).
    """
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--raters", type=int, default=70, help="raters rating at once (default 70)")
    p.add_argument("--items", type=int, default=60, help="items per rater, a multiple of 3 (default 60)")
    p.add_argument("--threads", type=int, default=8, help="server worker threads (default 8, serve's default)")
    p.add_argument("--clients", type=int, default=2, help="rater processes, raters split among them (default 2)")
    p.add_argument("--kill-at", type=float, default=0.4, help="fraction acknowledged before kill -9 (default 0.4)")
    p.add_argument("--downtime", type=float, default=0.5, help="seconds between kill and restart (default 0.5)")
    p.add_argument("--timeout", type=float, default=300.0, help="give up a phase after this many seconds")
    p.add_argument("--dir", help="folder for the study files (default: a new temporary folder)")
    p.add_argument("--out", default=str(ROOT / "results" / "bench_human_load.json"), help="JSON output path")
    args = p.parse_args(argv)
    if args.items < 3 or args.items % 3:
        p.error("--items must be a positive multiple of 3")
    if args.raters < 1 or args.clients < 1 or not 0 < args.kill_at < 1:
        p.error("--raters and --clients must be at least 1, --kill-at between 0 and 1")
    return args


def says_human(token: str, code: str) -> bool:
    """The answer a rater gives an item: fixed per (rater, item), about half "human"."""
    return (int(code, 16) + sum(map(ord, token))) % 2 == 0


def make_study(folder: Path, items: int, raters: int) -> tuple[Path, list[str]]:
    """Create a study of `items` items from three text sources and invite `raters`; returns (db, tokens)."""
    from seqgan.human.store import Study, SystemSpec

    per = items // 3
    texts = {name: [f"{name} line {i}: the quiet {name} river runs on" for i in range(per)]
             for name in ("mle", "seqgan", "real")}
    specs = [SystemSpec("mle", "bench"), SystemSpec("seqgan", "bench"), SystemSpec("real", "bench", is_real=True)]
    db = folder / "study.db"
    with Study.create(db, specs, texts, seed=1) as study:
        tokens = [r.token for r in study.add_raters(raters)]
    return db, tokens


def start_server(db: Path, port: int, threads: int, log: Path) -> tuple[subprocess.Popen, int]:
    """Start `python -m seqgan.human serve` and wait for its "serving ... on URL" line; returns (process, port)."""
    argv = [sys.executable, "-m", "seqgan.human", "serve", "--study", str(db), "--host", "127.0.0.1",
            "--port", str(port), "--threads", str(threads)]
    with log.open("a") as err:  # a file, not a pipe: waitress' queue warnings must never block the server
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True)
    line = proc.stdout.readline()
    found = re.search(r"on http://127\.0\.0\.1:(\d+)/", line)
    if not found:
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}; see {log}")
    threading.Thread(target=proc.stdout.read, daemon=True).start()  # drain the rest
    return proc, int(found.group(1))


class Rater:
    """One rater: a keep-alive connection, answering items in the order the server gives them."""

    def __init__(self, port: int, token: str, deadline: float, acked: mp.Value) -> None:
        self.port, self.token, self.deadline, self.shared_acked = port, token, deadline, acked
        self.conn: http.client.HTTPConnection | None = None
        self.get_ms: list[float] = []
        self.post_ms: list[float] = []
        self.acked: list[tuple[str, str, int]] = []  # (token, item, human) the server answered 303 to
        self.errors = 0  # requests that failed (server gone); retried after reconnecting
        self.unknown = 0  # answers posted whose reply never came (the kill): saved or not, the next page says
        self.conflicts = 0  # 409 "already answered" pages
        self.done = False

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, str, float] | None:
        """One request on the kept-alive connection; None (and the connection dropped) when it failed."""
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            start = time.perf_counter()
            self.conn.request(method, path, body, FORM if body is not None else {})
            resp = self.conn.getresponse()
            text = resp.read().decode()
            return resp.status, text, (time.perf_counter() - start) * 1000.0
        except (OSError, http.client.HTTPException):
            self.errors += 1
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            time.sleep(0.05)
            return None

    def run(self) -> None:
        """Answer until the thank-you page (or the deadline)."""
        while time.monotonic() < self.deadline:
            got = self.request("GET", f"/r/{self.token}")
            if got is None:
                continue
            status, page, ms = got
            self.get_ms.append(ms)
            found = ITEM_RE.search(page)
            if status != 200 or not found:
                self.done = status == 200 and DONE_TEXT in page
                break
            code = found.group(1)
            human = says_human(self.token, code)
            body = f"item={code}&answer={'human' if human else 'machine'}"
            got = self.request("POST", f"/r/{self.token}/answer", body)
            if got is None:
                self.unknown += 1
                continue
            status, _page, ms = got
            self.post_ms.append(ms)
            if status == 303:
                self.acked.append((self.token, code, int(human)))
                with self.shared_acked.get_lock():
                    self.shared_acked.value += 1
            elif status == 409:
                self.conflicts += 1
        if self.conn is not None:
            self.conn.close()


def client_process(port: int, tokens: list[str], deadline_s: float, acked: mp.Value, out: mp.Queue) -> None:
    """A rater process: one thread per rater; puts its raters' results on `out`."""
    deadline = time.monotonic() + deadline_s
    raters = [Rater(port, token, deadline, acked) for token in tokens]
    threads = [threading.Thread(target=r.run) for r in raters]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put({
        "cpu_s": time.process_time(),
        "get_ms": [x for r in raters for x in r.get_ms],
        "post_ms": [x for r in raters for x in r.post_ms],
        "acked": [a for r in raters for a in r.acked],
        "errors": sum(r.errors for r in raters),
        "unknown": sum(r.unknown for r in raters),
        "conflicts": sum(r.conflicts for r in raters),
        "finished": sum(r.done for r in raters),
    })


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a live process has used so far (Linux /proc), or NaN elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of `values`, None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered), max(1, math.ceil(q / 100 * len(ordered)))) - 1], 1)


def check_store(db: Path, acked: list[tuple[str, str, int]]) -> dict:
    """Compare the study file with what the raters were told was saved."""
    with sqlite3.connect(db) as conn:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        rows = conn.execute(
            "SELECT r.token, i.code, x.human FROM answers x JOIN raters r ON r.id = x.rater_id"
            " JOIN items i ON i.id = x.item_id"
        ).fetchall()
    stored = {(token, code): human for token, code, human in rows}
    lost = sum(1 for token, code, human in acked if stored.get((token, code)) != human)
    acked_keys = [(token, code) for token, code, _h in acked]
    wrong = sum(1 for (token, code), human in stored.items() if human != says_human(token, code))
    return {
        "integrity": integrity,
        "stored": len(rows),
        "stored_distinct": len(stored),
        "acknowledged": len(acked),
        "acknowledged_twice": len(acked_keys) - len(set(acked_keys)),
        "lost": lost,
        "wrong_value": wrong,
        "saved_without_ack": len(set(stored) - set(acked_keys)),
    }


def run_phase(args: argparse.Namespace, folder: Path, kill: bool) -> dict:
    """One phase on a fresh study; with `kill`, SIGKILL the server at --kill-at and restart it."""
    folder.mkdir()
    db, tokens = make_study(folder, args.items, args.raters)
    total = args.items * args.raters
    log = folder / "server.log"
    server, port = start_server(db, 0, args.threads, log)
    load_before = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    acked = mp.Value("i", 0)
    out: mp.Queue = mp.Queue()
    shares = [tokens[i :: args.clients] for i in range(args.clients)]
    clients = [mp.Process(target=client_process, args=(port, share, args.timeout, acked, out)) for share in shares]
    start = time.perf_counter()
    for c in clients:
        c.start()
    kill_info = None
    server_cpu = 0.0
    try:
        if kill:
            while acked.value < args.kill_at * total and any(c.is_alive() for c in clients):
                time.sleep(0.005)
            at = acked.value
            server_cpu += cpu_seconds(server.pid)
            os.kill(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
            killed = time.perf_counter()
            time.sleep(args.downtime)
            server, _ = start_server(db, port, args.threads, log)
            kill_info = {"acknowledged_before_kill": at, "down_s": round(time.perf_counter() - killed, 3)}
        results = [out.get(timeout=args.timeout + 60) for _ in clients]
        for c in clients:
            c.join(timeout=30)
        wall = time.perf_counter() - start
        server_cpu += cpu_seconds(server.pid)
    finally:
        for c in clients:
            if c.is_alive():
                c.kill()
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    get_ms = [x for r in results for x in r["get_ms"]]
    post_ms = [x for r in results for x in r["post_ms"]]
    all_ms = get_ms + post_ms
    acked_list = [tuple(a) for r in results for a in r["acked"]]
    store = check_store(db, acked_list)
    finished = sum(r["finished"] for r in results)
    return {
        "phase": "kill -9 and restart" if kill else "clean",
        "raters": args.raters,
        "items": args.items,
        "answers_expected": total,
        "wall_s": round(wall, 2),
        "answers_per_s": round(store["stored"] / wall, 1),
        "requests": len(all_ms),
        "requests_per_s": round(len(all_ms) / wall, 1),
        "p50_ms": percentile(all_ms, 50),
        "p99_ms": percentile(all_ms, 99),
        "max_ms": max(all_ms) if all_ms else None,
        "get_p50_ms": percentile(get_ms, 50),
        "get_p99_ms": percentile(get_ms, 99),
        "post_p50_ms": percentile(post_ms, 50),
        "post_p99_ms": percentile(post_ms, 99),
        "server_cpu_s": round(server_cpu, 2),
        "server_cpu_ms_per_request": round(1000 * server_cpu / max(1, len(all_ms)), 3),
        "rater_processes_cpu_s": round(sum(r["cpu_s"] for r in results), 2),
        "failed_requests": sum(r["errors"] for r in results),
        "answers_without_reply": sum(r["unknown"] for r in results),
        "conflict_pages": sum(r["conflicts"] for r in results),
        "raters_finished": finished,
        "load_average_before": load_before,
        "kill": kill_info,
        **store,
    }


def fs_type(path: Path) -> str:
    """The file system type holding `path` (from /proc/mounts), e.g. ext4, overlay, tmpfs."""
    best, kind = "", "unknown"
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            mount, typ = line.split()[1], line.split()[2]
            if str(path.resolve()).startswith(mount) and len(mount) > len(best):
                best, kind = mount, typ
    except OSError:
        pass
    return kind


def main(argv: list[str] | None = None) -> int:
    """Run both phases, print the table, write the JSON; exit 1 if any answer was lost or doubled."""
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench_human_load_") as tmp:
        folder = Path(tmp)
        filesystem = fs_type(folder)
        phases = [run_phase(args, folder / "clean", kill=False), run_phase(args, folder / "kill", kill=True)]
    cols = ["phase", "wall_s", "answers_per_s", "requests_per_s", "p50_ms", "p99_ms", "max_ms",
            "acknowledged", "stored", "lost", "acknowledged_twice", "conflict_pages", "raters_finished"]
    print(f"{args.raters} raters x {args.items} items at once, server threads {args.threads},"
          f" {args.clients} rater processes, study on {filesystem}")
    print("  ".join(f"{c:>19}" if i == 0 else f"{c:>10}" for i, c in enumerate(cols)))
    for ph in phases:
        cells = []
        for i, c in enumerate(cols):
            v = ph[c]
            text = f"{v:.1f}" if isinstance(v, float) else str(v)
            cells.append(f"{text:>19}" if i == 0 else f"{text:>10}")
        print("  ".join(cells))
    kill = phases[1]["kill"]
    print(f"kill -9 after {kill['acknowledged_before_kill']} acknowledged answers, server down {kill['down_s']} s;"
          f" {phases[1]['answers_without_reply']} answers in flight got no reply"
          f" ({phases[1]['saved_without_ack']} of them were saved anyway)")
    ok = all(
        ph["lost"] == 0 and ph["acknowledged_twice"] == 0 and ph["conflict_pages"] == 0 and ph["wrong_value"] == 0
        and ph["integrity"] == "ok" and ph["raters_finished"] == args.raters and ph["stored"] == ph["answers_expected"]
        for ph in phases
    )
    report = {
        "benchmark": "human-eval rating server under load (loopback)",
        "config": {k: getattr(args, k) for k in ("raters", "items", "threads", "clients", "kill_at", "downtime")},
        "study_filesystem": filesystem,
        "target": "0 lost, 0 duplicate; p99 <= 300 ms on 2 cores",
        "passed": ok,
        "phases": phases,
        "machine": machine(),
    }
    path = write_report(args.out, report)
    print(f"{'all checks passed' if ok else 'CHECK FAILED'}; wrote {path}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
