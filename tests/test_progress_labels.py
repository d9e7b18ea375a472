"""Progress lines say where their numbers come from when the epoch they name was not evaluated, and the ETA of
a phase that may stop early is an upper bound."""

from __future__ import annotations

import re

from seqgan.core.loop import Phase, train_adversarial
from seqgan.core.runtime import seed_everything
from tests.test_core import ToyPair, _phases
from tests.test_early_stopping import CurvePair

TIMES = r"\(elapsed \d+:\d\d:\d\d, \w+ ETA [^)]+\)$"


def _toy_lines(tmp_path, capsys) -> list[str]:
    pair = ToyPair()
    train_adversarial(pair, _phases(pair), tmp_path, seed_everything(11),
                      evaluate=lambda phase, epoch: {"val": float(pair.w.sum())}, eval_every=2,
                      checkpoint_every_s=3600.0, progress_every_s=0.0)
    return capsys.readouterr().err.splitlines()[1:]


def test_numbers_of_an_earlier_evaluation_say_where_they_come_from(tmp_path, capsys):
    """Evaluations at a 2, a 3, b 2, b 4, b 5 (eval_every=2 and each phase's end). An epoch line that is not
    evaluated, and every line inside an epoch, showed the previous numbers as if they were the epoch's."""
    lines = _toy_lines(tmp_path, capsys)

    def line(where: str) -> str:
        return next(x for x in lines if x.startswith(f"{where}  "))

    assert re.match(r"\[a\] epoch 1/3  val=-?\d+\.\d{4} \(from before training\)  " + TIMES, line("[a] epoch 1/3"))
    assert re.match(r"\[a\] epoch 2/3  val=-?\d+\.\d{4}  " + TIMES, line("[a] epoch 2/3"))  # its own numbers
    assert re.match(r"\[b\] epoch 1/5  val=-?\d+\.\d{4} \(from a epoch 3\)  " + TIMES, line("[b] epoch 1/5"))
    assert re.match(r"\[b\] epoch 3/5  val=-?\d+\.\d{4} \(from epoch 2\)  " + TIMES, line("[b] epoch 3/5"))
    assert re.match(r"\[b\] epoch 3/5, 33% done  val=-?\d+\.\d{4} \(from epoch 2\)  " + TIMES,
                    line("[b] epoch 3/5, 33% done"))
    for evaluated in ("[a] epoch 3/3", "[b] epoch 2/5", "[b] epoch 4/5", "[b] epoch 5/5"):
        assert "(from" not in line(evaluated), line(evaluated)


def _curve_lines(tmp_path, capsys, phases) -> list[str]:
    pair = CurvePair()
    train_adversarial(pair, phases(pair), tmp_path, seed_everything(5), evaluate=pair.evaluate, eval_every=5,
                      checkpoint_every_s=3600.0, snapshot=lambda: {"w": pair.w.clone()},
                      restore=lambda s: setattr(pair, "w", s["w"].clone()), progress_every_s=0.0)
    return capsys.readouterr().err.splitlines()


def test_after_early_stopping_the_numbers_are_those_of_the_best_epoch_and_say_so(tmp_path, capsys):
    """Phase a (patience 2, evaluated every epoch) stops at epoch 4 and goes back to its best epoch 2, whose
    weights phase b starts from: b's unevaluated first epoch shows epoch 2's numbers, labelled so."""
    def phases(pair):
        return [Phase("a", 10, ((pair.g_step, 1),), patience=2, monitor="nll_valid", eval_every=1),
                Phase("b", 2, ((pair.g_step, 1),), eval_every=5)]

    lines = _curve_lines(tmp_path, capsys, phases)
    b1 = next(x for x in lines if x.startswith("[b] epoch 1/2  "))
    assert "nll_valid=7.0000" in b1 and "(from a epoch 2)" in b1, b1


def test_the_eta_of_a_phase_with_early_stopping_is_an_upper_bound(tmp_path, capsys):
    """pretrain_g's ETA assumed all its epochs even when early stopping ended it at a fraction of them."""
    def phases(pair):
        return [Phase("a", 10, ((pair.g_step, 1),), patience=2, monitor="nll_valid", eval_every=1),
                Phase("b", 2, ((pair.g_step, 1),), eval_every=1)]

    lines = [x for x in _curve_lines(tmp_path, capsys, phases) if " ETA " in x]
    watched = [x for x in lines if x.startswith("[a]")]
    plain = [x for x in lines if x.startswith("[b]")]
    assert watched and plain
    for line in watched:
        assert re.search(r"a ETA <= \d+:\d\d:\d\d; early stopping may end it sooner\)$", line), line
    for line in plain:
        assert re.search(r"b ETA \d+:\d\d:\d\d\)$", line), line
