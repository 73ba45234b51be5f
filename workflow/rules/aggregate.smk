"""Stage 8: every run of the study in CSV tables (`neonas aggregate`, docs/report.md)."""


rule aggregate_args:
    """The argument list of `neonas aggregate`, one per line: a large study's paths do not fit on a command line."""
    output:
        study("config/aggregate.args"),
    params:
        searches=search_dirs(),
        derived=derived_files(),
        metrics=metrics_files(),
        planted=planted_files(),
    localrule: True
    run:
        lines = ["--searches", *params.searches]
        if params.derived:
            lines += ["--derived", *params.derived]
        if params.metrics:
            lines += ["--metrics", *params.metrics]
        if params.planted:
            lines += ["--planted", *params.planted]
        Path(output[0]).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(output[0] + ".tmp")
        tmp.write_text("\n".join(lines) + "\n")
        tmp.replace(output[0])


rule aggregate:
    """Architecture statistics, accuracy and controller curves, retrained results with paired tests, compute,
    and the two trust checks (Kendall tau of supernet vs retrained ranking; the planted spatial structure)."""
    input:
        args=study("config/aggregate.args"),
        summaries=search_files("summary.json"),
        children=search_files("children.csv"),
        epochs=search_files("epochs.csv"),
        derived=derived_files(),
        metrics=metrics_files(),
        planted=planted_files(),
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
