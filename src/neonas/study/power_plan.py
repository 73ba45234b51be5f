"""`neonas plan --power`: the MDD of every comparison a planned study makes, and the folds (and seeds) a target
difference needs, from a pilot's noise (`--from results/<study>`), given SDs, or the documented default
(neonas.study.power has the model)."""

from __future__ import annotations

import argparse
import dataclasses
import math
from pathlib import Path

from neonas.study.power import (
    ALPHA,
    DEFAULT_SD,
    DEFAULT_SOURCE,
    KAPPA_RANGE,
    POWER,
    SENSITIVITY_FOLD_SD,
    Noise,
    cell_values,
    comparisons,
    components,
    fold_mean_sd,
    kind,
    label,
    mdd,
    n_needed,
    pooled,
    seeds_needed,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--power", action="store_true", help="also print the minimum detectable difference in kappa of "
                   "every comparison of arms (80 %% power, alpha 0.05, paired t over fold means, n = folds) and the "
                   "folds (and seeds) a target difference needs (docs/report.md, 'Power')")
    p.add_argument("--from", dest="power_from", type=Path, metavar="DIR", help="with --power: take sigma_seed and "
                   "sigma_fold of the paired differences from an earlier (pilot) study, results/<study> or its "
                   "aggregate folder (without it: the " + DEFAULT_SOURCE.replace("%", "%%") + ")")
    p.add_argument("--delta", type=float, default=0.05, metavar="KAPPA",
                   help="with --power: the difference in kappa to plan for (default 0.05)")
    p.add_argument("--sd-seed", type=float, metavar="KAPPA", help="with --power, instead of --from: sigma_seed, the "
                   f"within-fold SD of the paired kappa difference per cell (default {DEFAULT_SD:g})")
    p.add_argument("--sd-fold", type=float, metavar="KAPPA", help="with --power, instead of --from: sigma_fold, the "
                   "SD with which the arms' difference varies between folds (default 0, a lower bound): e.g. 0.05 "
                   "to see what an arm x infant interaction costs")


def given_noise(sd_seed: float | None, sd_fold: float | None, seeds: int) -> tuple[Noise, str]:
    """Noise from --sd-seed / --sd-fold (the default for the one not given), and its description."""
    from neonas.errors import NeonasError

    for flag, v in (("--sd-seed", sd_seed), ("--sd-fold", sd_fold)):
        if v is not None and not (math.isfinite(v) and v >= 0):
            raise NeonasError(f"{flag} must be a number >= 0, got {v}")
    s = DEFAULT_SD if sd_seed is None else sd_seed
    f = 0.0 if sd_fold is None else sd_fold
    text = (f"given: σ_seed {s:g}" + (" (default)" if sd_seed is None else "") + f", σ_fold {f:g}"
            + (" (default, assumed: a lower bound on the MDD)" if sd_fold is None else ""))
    return Noise(s, f, seeds, 0, fold_known=sd_fold is not None), text


def pilot_noise(path: Path) -> tuple[dict, str]:
    """{(a, b): Noise} of the paired kappa differences of every comparison in an earlier study's aggregate (its
    results.csv, rank-0 models per seed x fold; components()), and a description of the source."""
    import pandas as pd

    from neonas.errors import NeonasError

    found = [p for p in (path / "results.csv", path / "aggregate" / "results.csv") if p.exists()]
    if not found:
        raise NeonasError("no results.csv of `neonas aggregate` here or in its aggregate/ folder", path)
    try:
        res = pd.read_csv(found[0], dtype={"setting": str})
    except (OSError, ValueError) as err:
        raise NeonasError(f"cannot read the aggregate's results table ({err})", found[0]) from None
    missing = sorted({"arm", "setting", "seed", "fold", "rank", "kappa"} - set(res.columns))
    if missing:
        raise NeonasError(f"not a results table of `neonas aggregate`: missing columns {missing}", found[0])
    best = res[res["rank"] == 0]
    order = {"nas": 0, "random": 1, "handcrafted": 2}
    present = sorted(dict.fromkeys(zip(best["arm"], best["setting"], strict=True)), key=lambda a: order.get(a[0], 9))
    out = {}
    for a, b in comparisons(present):
        va, vb = cell_values(best, *a, "kappa"), cell_values(best, *b, "kappa")
        noise = components({k: va[k] - vb[k] for k in set(va) & set(vb)})
        if noise is not None:
            out[(a, b)] = noise
    if not out:
        raise NeonasError("no comparison of arms with 2 or more paired seed x fold cells to take an SD from", found[0])
    return out, f"pilot {found[0]} (one-way ANOVA of its cells by fold)"


def planned(cfg: dict) -> list[tuple[str, str]]:
    """(arm, setting) of a study config, in study order."""
    arms = cfg.get("arms", {})
    return ([("nas", r["name"]) for r in cfg.get("rewards", [])] if arms.get("nas") else []) + \
        ([("random", "uniform")] if arms.get("random") else []) + \
        ([("handcrafted", "reference")] if arms.get("handcrafted") else [])


def _plan_row(noise: Noise, folds: int, seeds: int, delta: float) -> dict:
    """MDD and needs of one comparison at folds x seeds; the pilot's observed SD of fold means where its seeds
    per fold are the plan's (no model needed), else sqrt(sigma_fold^2 + sigma_seed^2 / seeds)."""
    same = folds >= 2 and math.isfinite(noise.sd_means) and noise.seeds == seeds
    sdm = noise.sd_means if same else fold_mean_sd(noise.sigma_seed, noise.sigma_fold, seeds)
    m = mdd(folds, sdm) if folds >= 2 else mdd(seeds, noise.sigma_seed)
    return {"sdm": sdm, "mdd": m, "folds": n_needed(delta, sdm) if sdm > 0 else 2,
            "seeds": seeds_needed(delta, folds, noise.sigma_seed, noise.sigma_fold), "observed": same,
            "floor": mdd(folds, noise.sigma_fold)}


def plan_report(cfg: dict, n_folds: int, pilot: Path | None = None, delta: float = 0.05,
                sds: tuple[float | None, float | None] = (None, None)) -> str:
    """The power section of `neonas plan`: per comparison (grouped where the numbers are the same) sigma_seed,
    sigma_fold, the MDD at the study's folds x seeds, the folds a target delta needs at its seeds and the seeds
    it needs at its folds (none where sigma_fold sets a floor above delta). The SDs: a pilot's, `sds` (--sd-seed,
    --sd-fold), or the default."""
    from neonas.errors import NeonasError

    if not delta > 0:
        raise NeonasError(f"--delta must be > 0, got {delta}")
    if pilot and sds != (None, None):
        raise NeonasError("--from and --sd-seed/--sd-fold both give the SDs: use one")
    seeds, folds = len(cfg.get("seeds", [])), n_folds
    noises, source = pilot_noise(pilot) if pilot else ({}, DEFAULT_SOURCE)
    base = Noise(DEFAULT_SD, 0.0, seeds, 0)
    if sds != (None, None):
        base, source = given_noise(*sds, seeds)
    by_kind: dict[str, list] = {}
    for key, x in noises.items():
        by_kind.setdefault(kind(*key), []).append(x)
    rows = []
    for a, b in comparisons(planned(cfg)):
        if (a, b) in noises:
            x = noises[(a, b)]
            noise, how = x, f"this comparison, {x.folds} folds × {x.seeds:g} seeds"
        elif kind(a, b) in by_kind:
            noise, how = pooled(by_kind[kind(a, b)]), f"pooled over the pilot's {kind(a, b)}"
        elif noises:
            noise, how = pooled(list(noises.values())), "pooled over all the pilot's comparisons"
        else:
            noise, how = base, "default"
        rows.append((kind(a, b), label(a, b), noise, how))
    lines = [f"power: paired t over fold means (each fold's Δκ averaged over its seeds; n = folds, the test infants; "
             f"df = folds − 1), two-sided α = {ALPHA:g}, {POWER * 100:.0f} % power; this study: {folds} folds × "
             f"{seeds} seeds per comparison",
             "SD of a fold mean = sqrt(σ_fold² + σ_seed² / seeds): σ_seed the seed-to-seed SD of Δκ within a fold, "
             "σ_fold how much the arms' difference varies between folds (infants); more seeds shrink only σ_seed's part",
             f"σ_seed, σ_fold: {source}", "",
             f"{'comparison':<50}{'σ_seed':>8}{'σ_fold':>8}{'SD mean':>9}{'MDD (Δκ)':>10}   folds for Δκ = "
             f"{delta:g} at {seeds} seeds | seeds for it at {folds} folds"]
    groups: dict[tuple, list] = {}
    for k, lab, noise, how in rows:  # comparisons with the same numbers share a line (NaN-safe key)
        groups.setdefault((k, how, repr(noise)), [noise, []])[1].append(lab)
    floors = []
    for (k, how, _), (noise, labels) in groups.items():
        name = labels[0] if len(labels) == 1 else f"{k} ({len(labels)} comparisons)"
        r = _plan_row(noise, folds, seeds, delta)
        m = r["mdd"]
        text = "n/a" if math.isnan(m) else f">{KAPPA_RANGE:g}" if m > KAPPA_RANGE else f"{m:.3f}"
        more = str(r["seeds"]) if r["seeds"] is not None else "none" if folds < 2 else \
            f"none (σ_fold floor {r['floor']:.3f})"
        if r["seeds"] is None and folds >= 2:
            floors.append(name)
        lines.append(f"{name:<50}{noise.sigma_seed:>8.3f}{noise.sigma_fold:>8.3f}{r['sdm']:>9.3f}{text:>10}   "
                     f"{r['folds']:>5} folds × {seeds} seeds | {more}"
                     + (f"  [SD: {how}{'; observed SD of its fold means' if r['observed'] else ''}]" if pilot else ""))
    if floors:
        lines.append(f"more seeds alone cannot reach Δκ = {delta:g} at {folds} folds for: {', '.join(floors)} (σ_fold "
                     "sets a floor on the MDD that only more folds lower)")
    unknown = [noise for _, _, noise, _ in rows if not noise.fold_known]
    if unknown and not pilot:
        alt = dataclasses.replace(base, sigma_fold=SENSITIVITY_FOLD_SD)
        r = _plan_row(alt, folds, seeds, delta)
        lines.append(f"σ_fold = 0 is an assumption, so these MDDs are lower bounds: if the arms' difference varies "
                     f"between infants with SD {SENSITIVITY_FOLD_SD:g}, the MDD is {r['mdd']:.3f} and Δκ = {delta:g} "
                     f"needs {r['folds']} folds at {seeds} seeds")
    elif unknown:
        lines.append("the pilot cannot separate σ_fold from σ_seed where it has 1 seed per fold or 1 fold: σ_fold = 0 "
                     "assumed there, so those MDDs are lower bounds")
    if folds == 1:
        lines.append("1 fold: the test runs over its seeds and holds for that split (its test infants) only, not "
                     "for new infants")
    elif folds < 1 or seeds < 1:
        lines.append("no fold or no seed: no paired test is possible at all")
    if len(rows) > 1:
        lines.append(f"{len(rows)} comparisons, each at α = {ALPHA:g} (no correction): if no arm differed, about "
                     f"{ALPHA * len(rows):.1f} of them would still come out 'different'")
    return "\n".join(lines)
