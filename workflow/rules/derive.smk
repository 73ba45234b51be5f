"""Stage 5: architectures from each finished search (`neonas derive`)."""


rule derive:
    """Sample architectures from the final policy and keep the top k on the whole validation set."""
    input:
        folds=study("folds.json"),
        summary=study("search/{arm}/{setting}/seed{seed}/fold{fold}/summary.json"),
        final=study("search/{arm}/{setting}/seed{seed}/fold{fold}/final.pt"),
    output:
        study("search/{arm}/{setting}/seed{seed}/fold{fold}/derived.json"),
    params:
        samples=config["derive"]["samples"],
        top_k=TOP_K,
        device=config["device"],
    wildcard_constraints:
        arm="nas|random",
    threads: 1
    resources:
        gpu=1,
    log:
        study("logs/derive/{arm}/{setting}/seed{seed}/fold{fold}.log"),
    benchmark:
        study("benchmarks/derive/{arm}/{setting}/seed{seed}/fold{fold}.tsv")
    conda:
        ENV
    shell:
        "export OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads}; "
        "neonas derive --run $(dirname {input.summary}) --samples {params.samples} --top-k {params.top_k}"
        " --seed {wildcards.seed} --folds {input.folds} --device {params.device} --out {output} > {log} 2>&1"
