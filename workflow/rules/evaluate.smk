"""Stage 7: metrics of every retrained model on its held-out infants (`neonas evaluate`)."""


rule evaluate:
    """Metrics of one retrained model on its fold's held-out infants, with the meta the aggregator groups by."""
    input:
        model=study("retrain/{arm}/{setting}/seed{seed}/fold{fold}/rank{rank}/model.pt"),
        folds=study("folds.json"),
    output:
        study("retrain/{arm}/{setting}/seed{seed}/fold{fold}/rank{rank}/metrics.json"),
    params:
        meta=meta_args,
        split=config["evaluate"]["split"],
        device=config["device"],
    threads: 1
    log:
        study("logs/evaluate/{arm}/{setting}/seed{seed}/fold{fold}/rank{rank}.log"),
    benchmark:
        study("benchmarks/evaluate/{arm}/{setting}/seed{seed}/fold{fold}/rank{rank}.tsv")
    conda:
        ENV
    shell:
        "export OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads}; "
        "neonas evaluate --model {input.model} --folds {input.folds} --fold {wildcards.fold} --split {params.split}"
        " {params.meta} --device {params.device} --out {output} > {log} 2>&1"
