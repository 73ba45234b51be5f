"""Stage 8: every run of the study in CSV tables (`neonas aggregate`, docs/report.md)."""

from neonas.io import write_text_atomic


# --searches DIRS --derived FILES --metrics FILES --planted FILE: each list built once, empty ones left out
_AGGREGATE_LISTS = {
    "--searches": search_dirs(),
    "--derived": derived_files(),
    "--metrics": metrics_files(),
    "--planted": planted_files(),
    "--yardstick": yardstick_files(),  # workflow/rules/yardstick.smk
    "--sanity": sanity_files(),
    "--fidelity": fidelity_dirs(),  # workflow/rules/fidelity.smk: its verdict leads, the trust verdict is said beside it
}
AGGREGATE_ARGS = [item for flag, paths in _AGGREGATE_LISTS.items() if paths for item in (flag, *paths)]


rule aggregate_args:
    """The argument list of `neonas aggregate`, one per line: a large study's paths do not fit on a command line."""
    output:
        study("config/aggregate.args"),
    params:
        args=AGGREGATE_ARGS,
    localrule: True
    log:
        study("logs/aggregate_args.log"),
    benchmark:
        study("benchmarks/aggregate_args.tsv")
    run:
        write_text_atomic(output[0], "\n".join(params.args) + "\n")


rule aggregate:
    """Architecture statistics, accuracy and controller curves, retrained results with paired tests, compute,
    and the trust checks (the fidelity verdict first; Kendall tau of supernet vs retrained within runs; the planted
    spatial structure)."""
    input:
        args=study("config/aggregate.args"),
        searches=search_dirs(),  # one run directory per job: the DAG stays small (docs/cluster.md, "Scale")
        retrains=retrain_dirs(),
        planted=planted_files(),
        yardstick=yardstick_files(),
        sanity=sanity_files(),
        fidelity=fidelity_dirs(),
    output:
        directory(study("aggregate")),
    threads: 1
    log:
        study("logs/aggregate.log"),
    benchmark:
        study("benchmarks/aggregate.tsv")
    conda:
        ENV
    shell:
        "export OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads}; "
        "neonas aggregate @{input.args} --out {output} > {log} 2>&1"
