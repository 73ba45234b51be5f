"""The throughput `neonas plan` prices a study at: measured on a finished study's search jobs (--benchmarks DIR)
or on a one-job GPU pilot (--benchmarks gpu_bench.json of bench/bench_gpu.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from neonas.config import load_yaml
from neonas.errors import NeonasError


def measured_rate(benchmarks: Path, search_work: Callable[[dict, dict, int, int], float]) -> tuple[float, int]:
    """Training samples per second of a finished study's search jobs: the work of each (its resolved search
    config, folds.json and HDF5 files) over the wall time in its benchmark file. Returns (rate, jobs)."""
    import csv
    import json

    import h5py

    study_dir = benchmarks.parent
    folds_json = study_dir / "folds.json"
    files = sorted((benchmarks / "search").glob("*/*/seed*/fold*.tsv"))
    if not files or not folds_json.exists():
        raise NeonasError("expected search benchmarks (search/<arm>/<setting>/seed<S>/fold<F>.tsv) and ../folds.json "
                          "of a finished study", benchmarks)
    spec = json.loads(folds_json.read_text())
    work = seconds = 0.0
    sizes: dict[str, int] = {}
    for tsv in files:
        arm, setting, fold = tsv.parts[-4], tsv.parts[-3], int(tsv.stem.removeprefix("fold"))
        config = study_dir / "config" / "search" / arm / f"{setting}.yaml"
        fold_spec = next(f for f in spec["folds"] if f["fold"] == fold)
        for infant in fold_spec["train"] + fold_spec["val"]:
            if infant not in sizes:
                with h5py.File(spec["files"][infant], "r") as f:
                    sizes[infant] = int((f["labels"][:] >= 0).sum())
        n = {part: sum(sizes[i] for i in fold_spec[part]) for part in ("train", "val")}
        with open(tsv) as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        derived = study_dir / "search" / arm / setting / tsv.parent.name / tsv.stem / "derived.json"
        doc = json.loads(derived.read_text()) if derived.exists() else {}
        derive = {"samples": doc.get("n_sampled", 0),
                  "rerank_child_epochs": doc.get("rerank", {}).get("child_epochs", 0)}
        work += search_work(load_yaml(config), derive, n["train"], n["val"])
        # a packed search's share of its job: the job's wall time over its searches (benchmarks of search.pack)
        seconds += float(rows[0]["pack_s"]) / int(rows[0]["pack"]) if "pack" in rows[0] else float(rows[0]["s"])
    return work / seconds, len(files)


def pilot_rates(path: Path, pack: dict[str, int], rules: Iterable[str]) -> tuple[dict[str, float], str]:
    """{rule: training samples/s of one GPU job} from bench/bench_gpu.py's gpu_bench.json: search and retrain at
    their pack sizes (bf16 autocast on, as neonas runs on CUDA), every other GPU rule at pack 1."""
    import json

    try:
        bench = json.loads(path.read_text())
        rows = {int(r["pack"]): float(r["samples_per_second"]) for r in bench["rows"] if r.get("bf16", True)}
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise NeonasError(f"expected the gpu_bench.json written by bench/bench_gpu.py ({err})", path) from None
    missing = sorted({n for n in (1, *pack.values()) if n not in rows})
    if missing:
        raise NeonasError(f"the GPU pilot measured packs {sorted(rows)} (bf16 on), not {missing}: rerun "
                          f"bench/bench_gpu.py --packs {','.join(map(str, sorted({1, *pack.values()})))}", path)
    rates = {rule: rows[pack.get(rule, 1)] for rule in rules}
    how = ", ".join(f"pack {n}: {rows[n]:,.0f}" for n in sorted({1, *pack.values()}))
    return rates, f"GPU pilot {path} on {bench.get('device', '?')} ({how} samples/s per job)"
