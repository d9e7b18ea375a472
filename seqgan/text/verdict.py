"""What a comparison or a study found, as sentences and markdown: the verdict (each method against the baseline
on every axis, whether it lies beyond the baseline's temperature curve, which p-value to read), report.md of
`seqgan compare` and the BLEU table of a text study.
"""

from __future__ import annotations

from seqgan.text.frontier import OUTSIDE_SWEEP, RULE_TEXT, beyond_cell, beyond_counts, frontier_axes
from seqgan.text.scoring import BLEU_ORDERS

ALPHA = 0.05  # significance level of the verdict sentences


def fmt_p(p: float | None) -> str:
    """A p-value for a table: 2 significant digits; n/a for None or NaN (no test possible)."""
    return "n/a" if p is None or p != p else (f"{p:.2g}" if p >= 1e-4 else "<1e-4")


def report_markdown(report: dict) -> str:
    """report.md: the systems table, significance against the first, the frontier verdicts."""
    is_text = report["kind"] == "text"
    lines = [f"# Comparison on {report['task']}", "",
             f"{report['n']} samples per system, sampling seed {report['seed']}, checkpoint `{report['checkpoint']}`.",
             ""]
    if report.get("verdict"):
        lines += [verdict_markdown(report["verdict"]), "## Numbers", ""]
    if is_text:
        head = "| system | " + " | ".join(f"BLEU-{k}" for k in BLEU_ORDERS) + \
               " | Self-BLEU-4 | NLL-test | mean length | distinct tokens | beyond MLE curve |"
        lines += [head, "|" + "---|" * (len(BLEU_ORDERS) + 6)]
        for name, p in report["systems"].items():
            cells = " | ".join(f"{p[f'bleu{k}']:.3f}" for k in BLEU_ORDERS)
            lines.append(f"| {name} | {cells} | {p['self_bleu4']:.3f} | {p.get('nll_test', float('nan')):.3f} | "
                         f"{p['mean_length']:.1f} | {p['distinct_tokens']} | {_verdict(p)} |")
        if report["real_text"]:
            r = report["real_text"]
            cells = " | ".join(f"{r[f'bleu{k}']:.3f}" for k in BLEU_ORDERS)
            lines.append(f"| real text (test, leave-one-out) | {cells} | {r['self_bleu4']:.3f} | | "
                         f"{r['mean_length']:.1f} | | |")
        sig = next(iter(report["systems"].values()))["bleu4_signature"]
        lines += ["", f"BLEU signature: `{sig}`"]
    else:
        lines += ["| system | NLL-oracle | NLL-test | beyond MLE curve |", "|---|---|---|---|"]
        for name, p in report["systems"].items():
            lines.append(f"| {name} | {p['nll_oracle']:.3f} | {p['nll_test']:.3f} | {_verdict(p)} |")
    if report["significance"]:
        what = "per-sample BLEU-4" if is_text else "per-sample NLL-oracle"
        lines += ["", f"Significance against `{report['baseline']}` on {what} (two-sided; samples are "
                      "independent draws, so unpaired tests):", "",
                  "| system | difference | Mann-Whitney p | Welch p |", "|---|---|---|---|"]
        for name, s in report["significance"].items():
            lines.append(f"| {name} | {s['difference']:+.4f} | {fmt_p(s['mann_whitney_p'])} | "
                         f"{fmt_p(s['welch_p'])} |")
    if report["temperature_curve"]:
        x, y = ("Self-BLEU-4", "BLEU-4") if is_text else ("NLL-test", "NLL-oracle")
        xk, yk = frontier_axes(is_text)
        lines += ["", f"Temperature sweep of `{report['reference']}` (the reference curve):", "",
                  f"| temperature | {x} | {y} |", "|---|---|---|"]
        for c in report["temperature_curve"]:
            lines.append(f"| {c['temperature']:g} | {c[xk]:.3f} | {c[yk]:.3f} |")
        lines += ["", RULE_TEXT.format(x=x, y=y) + "."]
    for name in report.get("plots") or []:
        lines += ["", f"![{name}]({name})"]
    return "\n".join(lines) + "\n"


def _verdict(point: dict) -> str:
    """The table cell of `beyond_reference_curve`: yes, no, outside the sweep, reference or n/a."""
    flag = point.get("beyond_reference_curve", "n/a")
    return {True: "yes", False: "no"}.get(flag, str(flag))


def mean_cell(value: tuple[float, float] | list[float], n_seeds: int) -> str:
    """ "mean ± std" over seeds; the value alone for one seed (a std of one value is not 0, it is undefined)."""
    mean, std = value
    return f"{mean:.3f} ± {std:.3f}" if n_seeds > 1 else f"{mean:.3f}"


def study_bleu_markdown(result: dict, names: dict[str, str] | None = None) -> str:
    """The README table of a text study: mean ± std over seeds, p-values against the baseline."""
    names = names or {}
    n_seeds = len(result["seeds"])
    cols = [f"bleu{k}" for k in BLEU_ORDERS] + ["self_bleu4", "nll_test"]
    head = " | ".join(f"BLEU-{k}" for k in BLEU_ORDERS)
    beyond = (result.get("frontier") or {}).get("beyond")
    base = names.get(result["baseline"], result["baseline"]).split(" (")[0]
    extra = f" beyond {base}'s temperature curve (seeds) |" if beyond else ""
    lines = [f"| model | {head} | Self-BLEU-4 | NLL-test | p (BLEU-4 vs {result['baseline']}: seeds Welch / "
             f"samples Mann-Whitney) |{extra}", "|" + "---|" * (len(cols) + 2 + bool(beyond))]
    for m, row in result["table"].items():
        cells = " | ".join(mean_cell(row[c], n_seeds) if c in row else "" for c in cols)
        t = result["tests"].get(m)
        p = (f"{fmt_p(t['bleu4_welch_p_over_seeds'])} / {fmt_p(t['bleu4_mann_whitney_p_pooled_samples'])}"
             if t else "")
        label = "Real text (test line vs the other test lines)" if m == "real" else names.get(m, m)
        line = f"| {label} | {cells} | {p} |"
        if beyond:
            flags = beyond.get(m)
            line += f" {beyond_cell(flags)} |" if flags else " |"
        lines.append(line)
    how = (f"{n_seeds} seeds ({', '.join(map(str, result['seeds']))})" if n_seeds > 1 else
           f"1 seed ({result['seeds'][0]}; seed-level p-values need two, so they are n/a)")
    lines += ["", f"{how}, {result['n']} samples per run from its last checkpoint against the run's test split; "
                  f"`{result['bleu_signature']}`"]
    if beyond:
        temps = result["frontier"]["temperatures"]
        lines += ["", f"Temperature curve: {base} sampled at {', '.join(f'{t:g}' for t in temps)}; "
                      + RULE_TEXT.format(x="Self-BLEU-4", y="BLEU-4") + "."]
    return "\n".join(lines) + "\n"


def _axis_sentence(name: str, base: str, axis: str, label: str, mine: float, theirs: float, higher_better: bool,
                   p: float | None, n_seeds: int, test: str = "seed-level Welch") -> str:
    """One axis of a comparison, in a sentence: better / worse / not significantly different (or one seed)."""
    numbers = f"{label} {mine:.3f} vs {theirs:.3f}, {'higher' if higher_better else 'lower'} is better"
    if mine == theirs:
        return f"{name} and {base} are equal on {axis} ({numbers})."
    word = "better" if (mine > theirs) == higher_better else "worse"
    if n_seeds < 2:
        return (f"On its one seed, {name} scores {word} than {base} on {axis} ({numbers}); one seed allows no "
                "seed-level test (p n/a), so this is no evidence about the methods.")
    if p is None:
        return f"{name} scores {word} than {base} on {axis} ({numbers}); the {test} test is n/a."
    if p < ALPHA:
        return f"{name} is {word} than {base} on {axis} ({numbers}; {test} p = {fmt_p(p)})."
    return (f"{name} and {base} do not differ significantly on {axis} ({numbers}; {test} p = {fmt_p(p)}, "
            f"not below {ALPHA:g}).")


def _plane(is_text: bool) -> tuple[str, str]:
    """(the frontier plane in words, its diversity axis)."""
    return ("BLEU-4 against Self-BLEU-4", "Self-BLEU-4") if is_text else ("NLL-oracle against NLL-test", "NLL-test")


def _frontier_sentence(name: str, base: str, flags: dict, temperatures: list[float], is_text: bool,
                       over_seeds: bool = True) -> str:
    """Whether `name` lies beyond `base`'s temperature curve: over seeds (flags: seed -> `beyond_curve`
    value), or for one pair of runs (over_seeds False, one flag)."""
    k, outside, n = beyond_counts(flags)
    plane, diversity = _plane(is_text)
    curve = f"{base}'s temperature curve ({plane}, temperatures {min(temperatures):g} to {max(temperatures):g})"
    cannot_tell = (f"its {diversity} lies outside the range {base}'s temperatures reach, so the sweep cannot "
                   "tell")
    if outside == n:
        seeds = "" if not over_seeds else " on its one seed" if n == 1 else f" on any of its {n} seeds"
        return (f"Whether {name} lies beyond {curve} is not known{seeds}: no temperature of {base} is as good on "
                f"both axes, but {cannot_tell} (a wider temperature sweep can).")
    if outside:
        return (f"{name} lies beyond {curve} on {k} of the {n - outside} seeds the sweep covers; on the other "
                f"{outside} of {n} seeds {cannot_tell}.")
    seeds = "" if not over_seeds else " on its one seed" if n == 1 else " on every seed" if k == n else " on any seed"
    if k == n:
        return (f"{name} lies beyond {curve}{seeds}: no temperature of {base} is as good on both axes at once"
                + (", though one seed is no evidence about the method." if over_seeds and n == 1 else "."))
    if k == 0:
        return (f"{name} does not lie beyond {curve}{seeds}: {base} sampled at some temperature is at least "
                f"as good on both axes, so whatever {name} gains on one axis, {base} also gets by changing its "
                "temperature.")
    return (f"{name} lies beyond {curve} on {k} of {n} seeds only: no consistent gain over tuning {base}'s "
            "temperature.")


def study_verdict(summary: dict) -> list[str]:
    """The verdict of a study in sentences, from its numbers: each method against MLE on every axis (BLEU-4
    quality, Self-BLEU-4 diversity, NLL), whether it lies beyond MLE's temperature curve, and which p-value to
    read. `summary` is what `run_oracle_study` writes to summary.json (hand-made ones work too)."""
    from seqgan.text.study import METHOD_NAMES

    # short names in sentences: "MLE (early-stopped)" is "MLE" (the tables say which MLE it is)
    names = {k: v.split(" (")[0] for k, v in {**METHOD_NAMES, **summary.get("names", {})}.items()}
    baseline = summary.get("baseline", "mle")
    n = len(summary["seeds"])
    key = summary.get("metric", "nll_oracle")
    is_text = key == "nll_valid"
    bleu = summary.get("bleu") or {}
    table = summary["table"]
    if baseline not in table:
        return [f"No {names.get(baseline, baseline)} row: the study has nothing to compare the methods against."]
    base = names.get(baseline, baseline)
    out = []
    for m in table:
        if m in ("random", baseline, "real"):
            continue
        name = names.get(m, m)
        axes = []  # (axis, label, mine, theirs, higher is better, seed-level p)
        if bleu.get("table", {}).get(m):
            bt, bp = bleu["table"], bleu.get("tests", {}).get(m, {})
            axes += [("quality", "BLEU-4", bt[m]["bleu4"][0], bt[baseline]["bleu4"][0], True,
                      bp.get("bleu4_welch_p_over_seeds")),
                     ("diversity", "Self-BLEU-4", bt[m]["self_bleu4"][0], bt[baseline]["self_bleu4"][0], False,
                      bp.get("self_bleu4_welch_p_over_seeds"))]
        tp = summary.get("tests", {}).get(m, {})
        if is_text:
            axes.append(("held-out likelihood", "NLL-valid", table[m][key][0], table[baseline][key][0], False,
                         tp.get(f"{key}_welch_p_over_seeds")))
        else:
            axes += [("quality as the oracle judges it", "NLL-oracle", table[m][key][0], table[baseline][key][0],
                      False, tp.get(f"{key}_welch_p_over_seeds")),
                     ("coverage of held-out oracle data", "NLL-test", table[m]["nll_test"][0],
                      table[baseline]["nll_test"][0], False, tp.get("nll_test_welch_p_over_seeds"))]
        out += [_axis_sentence(name, base, *axis, n_seeds=n) for axis in axes]
        frontier = (bleu.get("frontier") if is_text else summary.get("frontier")) or {}
        flags = (frontier.get("beyond") or {}).get(m)
        if flags:
            out.append(_frontier_sentence(name, base, flags, frontier["temperatures"], is_text))
        else:
            out.append(f"Whether {name} lies beyond {base}'s temperature curve was not computed (no temperature "
                       "sweep" + (", no BLEU samples" if is_text and not bleu else "") + ").")
    if n >= 2:
        read = (f"Which p-value to read: the seed-level Welch test. Each of the {n} seeds is an independently "
                "trained model, so the seeds are the replicates")
        if bleu:
            pooled = f"the {n * bleu['n']:,}" if isinstance(bleu.get("n"), int) else "the"
            read += (f"; the per-sample Mann-Whitney p pools {pooled} samples of the same few models as if "
                     "each sample were a replicate, and overstates significance")
        out.append(read + ".")
    else:
        out.append("Which p-value to read: none settles which method is better. With one seed there is no "
                   "seed-level test (n/a)" + ("; the per-sample Mann-Whitney p, still computed, only says whether "
                                              "these two trained models' samples differ, not whether the methods do"
                                              if bleu else "")
                   + ". Train more seeds (e.g. --seeds 1,2,3) for a seed-level test.")
    return out


def compare_verdict(report: dict) -> list[str]:
    """The verdict of `seqgan compare` in sentences, from its numbers: each system against the baseline (the
    first) on every axis, whether it lies beyond the reference's temperature curve, and what its p-values
    can and cannot say (one run per system: they compare two trained models, not two methods)."""
    is_text = report["kind"] == "text"
    systems, base = report["systems"], report["baseline"]
    if is_text:
        axes = [("quality", "BLEU-4", "bleu4", True), ("diversity", "Self-BLEU-4", "self_bleu4", False),
                ("held-out likelihood", "NLL-test", "nll_test", False)]
    else:
        axes = [("quality as the oracle judges it", "NLL-oracle", "nll_oracle", False),
                ("coverage of held-out oracle data", "NLL-test", "nll_test", False)]
    tested = report["metric_for_tests"]
    out = []
    for name, point in systems.items():
        if name == base:
            continue
        sig = report["significance"].get(name, {})
        for axis, label, k, higher in axes:
            if k not in point or k not in systems[base]:
                continue
            p = sig.get("mann_whitney_p") if k == tested else None
            if k == tested:
                out.append(_axis_sentence(name, base, axis, label, point[k], systems[base][k], higher, p, 2,
                                          test="per-sample Mann-Whitney"))
            else:
                word = ("the same as" if point[k] == systems[base][k] else
                        "better than" if (point[k] > systems[base][k]) == higher else "worse than")
                out.append(f"{name} scores {word} {base} on {axis} ({label} {point[k]:.3f} vs {systems[base][k]:.3f}, "
                           f"{'higher' if higher else 'lower'} is better; not tested).")
        flag = point.get("beyond_reference_curve")
        if (isinstance(flag, bool) or flag == OUTSIDE_SWEEP) and report.get("reference"):
            temps = [c["temperature"] for c in report.get("temperature_curve", [])] or [1.0]
            out.append(_frontier_sentence(name, report["reference"], {0: flag}, temps, is_text, over_seeds=False))
    if len(systems) > 1:
        out.append("Which p-value to read: each system here is one trained run, so the per-sample p-values only "
                   "say whether these models' samples differ, not whether their methods do (samples of one model "
                   "are not replicates of a method). To compare methods, train several seeds of each "
                   "(`seqgan study`) and read its seed-level test.")
    return out


def verdict_markdown(sentences: list[str]) -> str:
    """A "Verdict" section: one bullet per sentence."""
    return "## Verdict\n\n" + "".join(f"- {s}\n" for s in sentences)
