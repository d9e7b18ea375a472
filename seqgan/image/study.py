"""The loss study of Lucic et al. ("Are GANs Created Equal?") on our core, as one command.

Every (loss, seed) pair is one ordinary image run under out/<loss>/seed<S> (so it resumes like any run); the
summary puts our final FID (mean +- std over seeds) beside the survey's best FID and compares the rankings
(Spearman's rho), since our FID uses a small classifier's features and theirs Inception's.
"""

from __future__ import annotations

import io
import json
import statistics
from pathlib import Path

from eval.significance import mean_std
from seqgan.base.errors import UserError
from seqgan.core.checkpoint import atomic_write_bytes, atomic_write_json, atomic_write_text
from seqgan.core.lifecycle import RunDir
from seqgan.core.log import MetricsLog
from seqgan.image.config import ImageConfig, apply_image_overrides, image_config
from seqgan.image.run import IMAGE, train_image
from seqgan.image.variants import SURVEY_FID, VARIANTS

# the scores a variant logs of itself beside FID (class metrics, SSGAN's and BiGAN's pair metrics)
OWN_SCORES = ("class_accuracy", "code_accuracy", "test_accuracy", "latent_recon_mse", "recon_label_agreement")
STILL_FALLING = 0.01  # a relative drop of the mean FID between the last two evaluations that says "not converged"
NAMES = {"mm": "MM GAN", "ns": "NS GAN", "lsgan": "LSGAN", "wgan": "WGAN", "wgan-gp": "WGAN-GP", "dragan": "DRAGAN",
         "began": "BEGAN", "vae": "VAE", "hinge": "hinge GAN", "cgan": "CGAN", "acgan": "ACGAN", "infogan": "InfoGAN",
         "ssgan": "SSGAN", "bigan": "BiGAN", "lapgan": "LAPGAN"}


def run_image_study(dataset: str, losses: list[str], seeds: list[int], out_dir: str | Path, scale: str = "cpu",
                    net: str | None = None, overrides: list[str] | None = None, data_dir: str | None = None,
                    preset: str = "short") -> dict:
    """Train every (loss, seed) run (resuming any that exist), then write summary.json, table.md, samples.png.

    Args:
        dataset: mnist or fashion_mnist (canonical name).
        losses: keys of VARIANTS.
        seeds: seeds to run.
        out_dir: runs go to out_dir/<loss>/seed<S>.
        scale: "cpu" or "gpu" preset.
        net: a net to use instead of the preset's.
        overrides: `--set` strings applied to every run.
        data_dir: data folder.
        preset: "short" or "converged" (seqgan.image.presets), for every loss.
    """
    unknown = [name for name in losses if name not in VARIANTS]
    if unknown:
        raise UserError(f"unknown loss(es) {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    configs = {loss: apply_image_overrides(image_config(dataset, loss, scale, net, preset=preset), overrides or [])
               for loss in losses}  # every config is validated before the first run starts
    if any(not c.eval.fid for c in configs.values()):
        raise UserError("the study compares FIDs: leave eval.fid on")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir} is a file; pass a folder")
    results: dict[str, dict[int, dict]] = {}
    for loss in losses:
        results[loss] = {}
        for seed in seeds:
            run_dir = out_dir / loss / f"seed{seed}"
            print(f"== {loss} seed {seed} -> {run_dir}", flush=True)
            config = apply_image_overrides(configs[loss], [f"seed={seed}"])
            final = finished_metrics(run_dir, config) or train_image(config, run_dir, data_dir, argv=["image-study"])
            results[loss][seed] = {**final, **run_history(run_dir)}
    summary = summarise(dataset, results)
    summary["preset"] = preset
    summary["configs"] = {loss: c.to_dict() for loss, c in configs.items()}
    atomic_write_json(out_dir / "summary.json", summary)
    atomic_write_text(out_dir / "table.md", table_markdown(summary))
    atomic_write_bytes(out_dir / "samples.png",
                       sample_figure([(NAMES.get(loss, loss), out_dir / loss / f"seed{seeds[0]}" / "samples.png")
                                      for loss in losses]))
    return summary


def finished_metrics(run_dir: Path, config: ImageConfig) -> dict | None:
    """The final metrics of a run that finished with exactly this config (so a re-run only re-summarises), else None.

    Args:
        run_dir: out/<loss>/seed<S>.
        config: the run's ImageConfig.
    """
    paths = [run_dir / name for name in ("config.json", "metrics.json", "samples.png")]
    if not all(path.exists() for path in paths):
        return None
    try:
        stored = RunDir(run_dir, IMAGE).read_record()["config"]  # upgraded to this version's keys, as on resume
        final = json.loads(paths[1].read_text(encoding="utf-8"))
    except (OSError, ValueError, UserError):
        return None  # let train_image resume it and report any real problem
    return final if json.loads(json.dumps(stored)) == json.loads(json.dumps(config.to_dict())) else None


def run_history(run_dir: Path) -> dict:
    """A run's FID curve during training ([epoch, FID on eval.num_samples], from initialisation on) and its
    wall-clock minutes (training plus evaluations, summed over resumed segments)."""
    log = MetricsLog(run_dir / "metrics.jsonl")
    curve = [[r["epoch"], r["fid"]] for r in log.read() if r.get("event") == "eval" and "fid" in r]
    timing = log.timing_path.read_text(encoding="utf-8").splitlines() if log.timing_path.exists() else []
    seconds = sum(r.get("train_s", 0.0) + r.get("eval_s", 0.0) for r in map(json.loads, filter(None, timing)))
    return {"fid_curve": curve, "minutes": seconds / 60}


def ranks(values: list[float]) -> list[float]:
    """Ranks 1..n (ties share their mean rank): scipy's rankdata."""
    from scipy.stats import rankdata

    return [float(r) for r in rankdata(values, method="average")]


def spearman(a: list[float], b: list[float]) -> float | None:
    """Spearman's rank correlation of two equally long lists (scipy's; None for fewer than 3 or constant ranks)."""
    if len(a) < 3 or len(set(a)) < 2 or len(set(b)) < 2:
        return None
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def _curve_summary(runs: list[dict]) -> dict:
    """Mean FID curve over seeds (epochs every run evaluated), whether it still fell at the end (by more than
    STILL_FALLING between the last two evaluations), mean minutes."""
    curves = [dict((int(e), f) for e, f in r.get("fid_curve", [])) for r in runs]
    epochs = sorted(set.intersection(*(set(c) for c in curves))) if curves else []
    mean_curve = [[e, statistics.fmean(c[e] for c in curves)] for e in epochs]
    minutes = [r["minutes"] for r in runs if "minutes" in r]
    return {"fid_curve_mean": mean_curve,
            "still_falling": len(mean_curve) >= 2 and mean_curve[-1][1] < (1 - STILL_FALLING) * mean_curve[-2][1],
            "minutes_mean": statistics.fmean(minutes) if minutes else None}


def summarise(dataset: str, results: dict[str, dict[int, dict]]) -> dict:
    """FID mean and std over seeds per loss, our rank, the survey's FID and rank, and their rank correlation.

    Args:
        dataset: canonical dataset name (picks the survey's column).
        results: loss -> seed -> the run's final metrics (metrics.json).
    """
    survey = SURVEY_FID.get(dataset, {})
    table: dict[str, dict] = {}
    for loss, per_seed in results.items():
        fids = [per_seed[s]["fid"] for s in per_seed]
        fid_mean, fid_std = mean_std(fids)
        table[loss] = {"fid_mean": fid_mean, "fid_std": fid_std,
                       "per_seed": {str(s): per_seed[s]["fid"] for s in per_seed}, "survey_fid": survey.get(loss),
                       **_curve_summary([per_seed[s] for s in per_seed])}
        # precision and recall in the runs' FID features (Kynkaanniemi et al.) and a variant's own scores, when
        # every seed has them
        for key in ("precision", "recall", *OWN_SCORES):
            values = [per_seed[s][key] for s in per_seed if per_seed[s].get(key) is not None]
            if len(values) == len(per_seed):
                table[loss][f"{key}_mean"], table[loss][f"{key}_std"] = mean_std(values)
    for key, rank_key in (("fid_mean", "rank"), ("survey_fid", "survey_rank")):
        names = [n for n in table if table[n][key] is not None]
        for name, rank in zip(names, ranks([table[n][key] for n in names])):
            table[name][rank_key] = rank
    both = [n for n in table if table[n]["survey_fid"] is not None]
    first = next(iter(next(iter(results.values())).values()))
    return {"dataset": dataset, "seeds": sorted({s for r in results.values() for s in r}), "table": table,
            "spearman_vs_survey": spearman([table[n]["fid_mean"] for n in both],
                                           [table[n]["survey_fid"] for n in both]),
            "n_compared": len(both), "fid_signature": first.get("fid_signature", ""),
            "survey": "Lucic et al. (2018), best FID per loss (Inception features), as quoted by the survey"}


def table_markdown(summary: dict) -> str:
    """The study's table: our FID (mean +- std), rank, precision and recall (when the runs measured them), the
    survey's FID and rank, the FID curve and minutes per run, per loss."""
    n = len(summary["seeds"])
    pr = any("precision_mean" in row for row in summary["table"].values())
    own = any(f"{k}_mean" in row for row in summary["table"].values() for k in OWN_SCORES)
    lines = [f"| loss | FID (ours, mean ± std, {n} seed{'s' if n > 1 else ''}) | rank | "
             + ("precision | recall | " if pr else "") + ("own scores | " if own else "") + "Lucic et al. best FID | "
             "their rank | FID during training (epoch: FID) | min/run |",
             "|---" * (7 + 2 * pr + own) + "|"]
    for loss, row in summary["table"].items():
        theirs = "" if row["survey_fid"] is None else f"{row['survey_fid']}"
        their_rank = f"{row['survey_rank']:g}" if "survey_rank" in row else ""
        curve = row.get("fid_curve_mean", [])
        shown = curve if len(curve) <= 4 else [curve[0], curve[len(curve) // 2], curve[-2], curve[-1]]
        during = " → ".join(f"{e}: {f:.0f}" for e, f in shown) + (" (still falling)" if row.get("still_falling")
                                                                  else "")
        minutes = "" if row.get("minutes_mean") is None else f"{row['minutes_mean']:.1f}"
        quality = "".join(f"{row[k + '_mean']:.3f} ± {row[k + '_std']:.3f} | " if k + "_mean" in row else " | "
                          for k in ("precision", "recall")) if pr else ""
        scores = "; ".join(f"{k} {row[k + '_mean']:.3f} ± {row[k + '_std']:.3f}" for k in OWN_SCORES
                           if k + "_mean" in row)
        lines.append(f"| {NAMES.get(loss, loss)} | {row['fid_mean']:.2f} ± {row['fid_std']:.2f} | {row['rank']:g} | "
                     f"{quality}{scores + ' | ' if own else ''}{theirs} | {their_rank} | {during} | {minutes} |")
    rho = summary["spearman_vs_survey"]
    lines.append("")
    lines.append(f"Rank agreement with the survey: Spearman rho = {rho:.2f} over {summary['n_compared']} losses."
                 if rho is not None else "Rank agreement: too few losses with a survey value to compare.")
    lines.append(f"Our FID: `{summary['fid_signature']}` (a small classifier's features, not Inception: compare "
                 "rankings, not values).")
    return "\n".join(lines) + "\n"


def sample_figure(grids: list[tuple[str, Path]]) -> bytes:
    """One PNG with each run's sample grid side by side, its label above it.

    Args:
        grids: (label, path of a samples.png) per column.
    """
    from PIL import Image, ImageDraw

    pictures = [(label, Image.open(path).convert("RGB")) for label, path in grids]
    label_h, gap = 16, 8
    width = sum(p.width for _, p in pictures) + gap * (len(pictures) + 1)
    height = max(p.height for _, p in pictures) + label_h + 2 * gap
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    x = gap
    for label, picture in pictures:
        draw.text((x, gap // 2), label, fill="black")
        canvas.paste(picture, (x, gap + label_h))
        x += picture.width + gap
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    return buf.getvalue()


def load_summary(out_dir: str | Path) -> dict:
    """Read a study's summary.json."""
    return json.loads((Path(out_dir) / "summary.json").read_text(encoding="utf-8"))
