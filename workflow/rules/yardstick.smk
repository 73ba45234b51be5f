"""Stage 5b: the common yardstick (`neonas yardstick`, docs/search.md). For each seed x fold, every NAS arm's
final policy (the M samples of its derive) and its derived top-k are scored on ONE shared supernet: the random
arm's final.pt of the same seed and fold, trained with uniform sampling. Also the supernet sanity check
(homogeneous pair / adjacent / single-channel nets on those weights). Needs the random arm (arms.random)."""


rule yardstick:
    """Every arm of one seed x fold on the random arm's uniformly trained supernet, plus the sanity check."""
    input:
        reference=study("search/random/uniform/seed{seed}/fold{fold}"),
        runs=yardstick_runs,
        folds=study("folds.json"),
    output:
        table=study("yardstick/seed{seed}/fold{fold}.csv"),
        sanity=study("yardstick/seed{seed}/fold{fold}_sanity.csv"),
    params:
        device=config["device"],
    threads: 1
    resources:
        gpu=1,
    log:
        study("logs/yardstick/seed{seed}/fold{fold}.log"),
    benchmark:
        study("benchmarks/yardstick/seed{seed}/fold{fold}.tsv")
    conda:
        ENV
    shell:
        "export OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads}; "
        "neonas yardstick --reference {input.reference} --runs {input.runs} --folds {input.folds} "
        "--device {params.device} --out {output.table} --sanity {output.sanity} > {log} 2>&1"
