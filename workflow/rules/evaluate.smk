"""Stage 7: evaluation. The study's metrics.json (test infants) are written by the retrain jobs, which run
the code of `neonas evaluate` right after training (workflow/rules/retrain.smk). This rule evaluates any
retrained model again on demand, e.g. on its fold's validation infants:

    snakemake --cores 2 results/demo/evaluate/nas/identity/seed0/fold0/rank0/metrics_val.json

(results/<study>/evaluate/, not inside the retrain job's output directory: Snakemake owns that directory as a
whole, and removes it when the retrain job reruns.)
"""


rule evaluate:
    """Metrics of one retrained model on its fold's test or validation infants (`neonas evaluate`)."""
    input:
        retrain=study("retrain/{arm}/{setting}/seed{seed}/fold{fold}"),
        folds=study("folds.json"),
    output:
        study("evaluate/{arm}/{setting}/seed{seed}/fold{fold}/rank{rank}/metrics_{split}.json"),
    params:
        device=config["device"],
    wildcard_constraints:
        split="test|val",
    threads: 1
    log:
        study("logs/evaluate/{arm}/{setting}/seed{seed}/fold{fold}/rank{rank}_{split}.log"),
    benchmark:
        study("benchmarks/evaluate/{arm}/{setting}/seed{seed}/fold{fold}/rank{rank}_{split}.tsv")
    conda:
        ENV
    shell:
        "export OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads}; "
        "neonas evaluate --model {input.retrain}/rank{wildcards.rank}/model.pt --folds {input.folds}"
        " --fold {wildcards.fold} --split {wildcards.split}"
        " --meta arm={wildcards.arm} --meta reward={wildcards.setting} --meta seed={wildcards.seed}"
        " --meta fold={wildcards.fold} --meta rank={wildcards.rank} --device {params.device} --out {output} > {log} 2>&1"
