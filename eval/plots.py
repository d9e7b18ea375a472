"""Figures of a comparison report (matplotlib, imported lazily; files written atomically)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from seqgan.base.errors import UserError
from seqgan.base.files import atomic_write_bytes


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise UserError("plots need matplotlib: pip install matplotlib (or pass --no-plots)") from err
    return plt


def _save(fig, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())


def frontier_plot(report: dict, path: Path) -> None:
    """Every system as a point on the quality-diversity plane, the reference's temperature sweep as a curve."""
    plt = _pyplot()
    is_text = report["kind"] == "text"
    xk, yk = ("self_bleu4", "bleu4") if is_text else ("nll_test", "nll_oracle")
    fig, ax = plt.subplots(figsize=(6, 4.5))
    curve = report["temperature_curve"]
    if curve:
        xs, ys = [c[xk] for c in curve], [c[yk] for c in curve]
        ax.plot(xs, ys, "-o", color="0.5", ms=3, label=f"{report['reference']}, temperature sweep")
        for c in curve:
            ax.annotate(f"{c['temperature']:g}", (c[xk], c[yk]), fontsize=7, color="0.4",
                        xytext=(3, 3), textcoords="offset points")
    for name, p in report["systems"].items():
        ax.plot(p[xk], p[yk], "o" if name != report.get("reference") else "s", ms=8, label=name)
    if is_text and report.get("real_text"):
        r = report["real_text"]
        ax.plot(r[xk], r[yk], "*", ms=12, color="k", label="real text (test)")
    if is_text:
        ax.set_xlabel("Self-BLEU-4 (lower = more diverse)")
        ax.set_ylabel("BLEU-4 vs test split (higher = better quality)")
    else:
        ax.set_xlabel("NLL-test (lower = covers held-out data)")
        ax.set_ylabel("NLL-oracle (lower = better quality)")
    ax.set_title(f"Quality-diversity frontier: {report['task']}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, path)
    plt.close(fig)


def training_plot(report: dict, path: Path) -> None:
    """Held-out NLL (and BLEU-4 on text) of every system over training."""
    plt = _pyplot()
    is_text = report["kind"] == "text"
    keys = ["nll_valid", "bleu4"] if is_text else ["nll_oracle", "nll_test"]
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.8))
    for ax, key in zip(np.atleast_1d(axes), keys):
        for name, rows in report["training_curves"].items():
            pts = [(r["step"], r[key]) for r in rows if key in r]
            if pts:
                ax.plot(*zip(*pts), "-", label=name)
        ax.set_xlabel("epoch (MLE pretraining, then adversarial)")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].legend(fontsize=8)
    _save(fig, path)
    plt.close(fig)


def distribution_plot(report: dict, per_sample: dict, path: Path) -> None:
    """Histogram of per-sample BLEU-4 (text) or per-sample NLL-oracle (oracle) per system."""
    plt = _pyplot()
    key = report["metric_for_tests"]
    fig, ax = plt.subplots(figsize=(6, 3.8))
    values = [np.asarray(per_sample[name][key]) for name in report["systems"]]
    lo, hi = min(v.min() for v in values), max(v.max() for v in values)
    bins = np.linspace(lo, hi, 40)
    for name, v in zip(report["systems"], values):
        ax.hist(v, bins=bins, histtype="step", label=name)
    ax.set_xlabel("per-sample BLEU-4" if key == "bleu4" else "per-sample NLL-oracle (nats/token)")
    ax.set_ylabel("samples")
    ax.legend(fontsize=8)
    _save(fig, path)
    plt.close(fig)


def draw_report_plots(report: dict, per_sample: dict, out_dir: Path) -> list[str]:
    """Write frontier.png, training.png, distribution.png into out_dir; returns their file names."""
    frontier_plot(report, out_dir / "frontier.png")
    training_plot(report, out_dir / "training.png")
    distribution_plot(report, per_sample, out_dir / "distribution.png")
    return ["frontier.png", "training.png", "distribution.png"]
