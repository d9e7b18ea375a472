"""Shared helpers for the human-eval tests: small studies made from text files, a server in a thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from seqgan.human.cli import main as human_main
from seqgan.human.store import Study

SYSTEMS = ("mle", "seqgan")
WORDS = {
    "mle": "moon river lantern willow frost ember harbor meadow",
    "seqgan": "sparrow valley thunder orchid pebble candle velvet summit",
    "real": "autumn garden whisper silver mountain shadow morning rain",
}


def write_sources(folder: Path, per_system: int, extra: dict[str, list[str]] | None = None) -> dict[str, str]:
    """Write one text file per source (mle, seqgan, real); return {text: source name}.

    Args:
        folder: where to write mle.txt, seqgan.txt, real.txt.
        per_system: lines per file.
        extra: source -> lines to use instead of the generated ones.
    """
    owner: dict[str, str] = {}
    for name, words in WORDS.items():
        ws = words.split()
        lines = [
            f"{ws[i % len(ws)]} {ws[(3 * i + 1) % len(ws)]} line {i} of {len(ws)}" for i in range(per_system)
        ]
        if extra and name in extra:
            lines = extra[name]
        (folder / f"{name}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        owner.update({line: name for line in lines})
    return owner


def make_study(
    folder: Path,
    per_system: int = 4,
    raters: int = 2,
    fluency: bool = False,
    extra: dict[str, list[str]] | None = None,
) -> tuple[Path, list[str], dict[str, str]]:
    """Create a study from text files and invite raters; return (db path, rater tokens, {text: source}).

    Args:
        folder: working folder.
        per_system: items per source.
        raters: raters to invite.
        fluency: ask the fluency question too.
        extra: source -> lines to use instead of the generated ones.
    """
    owner = write_sources(folder, per_system, extra)
    db = folder / "study.db"
    argv = ["create", "--study", str(db), "--per-system", str(per_system), "--seed", "7"]
    for name in SYSTEMS:
        argv += ["--system", f"{name}={folder / (name + '.txt')}"]
    argv += ["--real", str(folder / "real.txt")]
    if fluency:
        argv.append("--fluency")
    assert human_main(argv) == 0
    with Study.open(db) as study:
        tokens = [r.token for r in study.add_raters(raters)] if raters else []
    return db, tokens, owner


@contextmanager
def running_server(db: Path) -> Iterator[str]:
    """Serve a study with waitress on a free loopback port in a thread; yields the base URL (ending in /).

    Args:
        db: the study file.
    """
    from waitress import create_server

    from seqgan.human.app import create_app

    server = create_server(create_app(db), host="127.0.0.1", port=0, threads=4)

    def serve() -> None:
        try:
            server.run()
        except OSError:  # shutdown closes the sockets under the loop's select(): EBADF there is expected
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}/"
    finally:
        from waitress import wasyncore

        server.close()
        server.task_dispatcher.shutdown()
        wasyncore.close_all(server._map, ignore_all=True)
        thread.join(timeout=5)


def test_make_study_writes_every_source(tmp_path: Path) -> None:
    db, tokens, owner = make_study(tmp_path, per_system=3, raters=2)
    with Study.open(db) as study:
        assert study.item_count() == 9
        assert sorted(s.name for s in study.systems()) == ["mle", "real", "seqgan"]
        assert {owner[text] for _code, _sys, text in study.items()} == {"mle", "seqgan", "real"}
    assert len(set(tokens)) == 2
