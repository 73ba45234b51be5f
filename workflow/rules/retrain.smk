"""Stage 6: retrain from scratch: the top-k of every search, and the hand-designed baseline."""


rule retrain_config:
    """The resolved retrain config, checked by neonas; the same for every arm."""
    output:
        study("config/retrain.yaml"),
    params:
        kind="retrain",
        where="retrain",
        settings=config["retrain"],
    localrule: True
    log:
        study("logs/config/retrain.log"),
    benchmark:
        study("benchmarks/config/retrain.tsv")
    conda:
        ENV
    script:
        "../scripts/study_config.py"


# One job retrains all top-k ranks of one search, one after the other, into rank0/ .. rank<k-1>/ of its output
# directory, and evaluates each on the fold's test infants (`neonas retrain` calls the code of `neonas evaluate`;
# same metrics.json). A 2,000-search study then has 2,000 retrain jobs instead of 6,000 retrain + 6,000
# evaluate jobs, each declaring one directory instead of nine files: its DAG builds in seconds and the
# scheduler's queue stays short. When derive returned fewer than top_k architectures (the policy collapsed onto
# fewer distinct ones, or the rest predict one class everywhere), the missing ranks have no rank<R>/ directory and
# the aggregate step says so. To retrain one search's top-k:
#   snakemake --cores 2 results/demo/retrain/nas/sigmoid/seed0/fold0
rule retrain:
    """Train ranks 0..k-1 of a search's derived architectures from scratch and evaluate them on the test infants."""
    input:
        search=study("search/{arm}/{setting}/seed{seed}/fold{fold}"),
        folds=study("folds.json"),
        config=study("config/retrain.yaml"),
    output:
        run=directory(study("retrain/{arm}/{setting}/seed{seed}/fold{fold}")),
    params:
        device=config["device"],
        ranks=" ".join(str(rank) for rank in range(TOP_K)),
    wildcard_constraints:
        arm="nas|random",
    threads: 1
    resources:
        gpu=1,
    log:
        study("logs/retrain/{arm}/{setting}/seed{seed}/fold{fold}.log"),
    benchmark:
        study("benchmarks/retrain/{arm}/{setting}/seed{seed}/fold{fold}.tsv")
    conda:
        ENV
    shell:
        """
        export OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads}
        n_top=$(python -c "import json, sys; print(len(json.load(open(sys.argv[1]))['top']))" {input.search}/derived.json)
        for rank in {params.ranks}; do
            if [ "$rank" -ge "$n_top" ]; then  # derive found fewer distinct non-constant architectures than top_k
                echo "rank $rank: derive returned only $n_top architecture(s); nothing to retrain"; continue
            fi
            neonas retrain --arch {input.search}/derived.json --rank $rank --folds {input.folds} \
                --fold {wildcards.fold} --seed {wildcards.seed} --config {input.config} --meta arm={wildcards.arm} \
                --meta reward={wildcards.setting} --meta seed={wildcards.seed} --meta fold={wildcards.fold} \
                --meta rank=$rank --device {params.device} --out {output.run}/rank$rank
        done > {log} 2>&1
        """


rule retrain_baseline:
    """Train and evaluate the hand-designed baseline CNN with the same code and config as the searched ones
    (into rank0/ of its output directory)."""
    input:
        folds=study("folds.json"),
        config=study("config/retrain.yaml"),
    output:
        run=directory(study("retrain/handcrafted/reference/seed{seed}/fold{fold}")),
    params:
        device=config["device"],
    threads: 1
    resources:
        gpu=1,
    log:
        study("logs/retrain/handcrafted/reference/seed{seed}/fold{fold}.log"),
    benchmark:
        study("benchmarks/retrain/handcrafted/reference/seed{seed}/fold{fold}.tsv")
    conda:
        ENV
    shell:
        "export OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads}; "
        "neonas retrain --baseline handcrafted --folds {input.folds} --fold {wildcards.fold} --seed {wildcards.seed}"
        " --config {input.config} --meta arm=handcrafted --meta reward=reference --meta seed={wildcards.seed}"
        " --meta fold={wildcards.fold} --meta rank=0 --device {params.device}"
        " --out {output.run}/rank0 > {log} 2>&1"
