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


# One job retrains all top-k ranks of one search, one after the other, and evaluates each on the fold's
# test infants (`neonas retrain` calls the code of `neonas evaluate`; same metrics.json). A 2,000-search study
# then has 2,000 retrain jobs instead of 6,000 retrain + 6,000 evaluate jobs: its DAG builds in seconds and
# the scheduler's queue stays short.
rule retrain:
    """Train ranks 0..k-1 of a search's derived architectures from scratch and evaluate them on the test infants."""
    input:
        derived=study("search/{arm}/{setting}/seed{seed}/fold{fold}/derived.json"),
        folds=study("folds.json"),
        config=study("config/retrain.yaml"),
    output:
        models=rank_files("model.pt"),
        histories=rank_files("history.csv"),
        metrics=rank_files("metrics.json"),
    params:
        device=config["device"],
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
        for model in {output.models}; do
            out=$(dirname $model); rank=${{out##*rank}}
            neonas retrain --arch {input.derived} --rank $rank --folds {input.folds} --fold {wildcards.fold} \
                --seed {wildcards.seed} --config {input.config} --meta arm={wildcards.arm} \
                --meta reward={wildcards.setting} --meta seed={wildcards.seed} --meta fold={wildcards.fold} \
                --meta rank=$rank --device {params.device} --out $out
        done > {log} 2>&1
        """


rule retrain_baseline:
    """Train and evaluate the hand-designed baseline CNN with the same code and config as the searched ones."""
    input:
        folds=study("folds.json"),
        config=study("config/retrain.yaml"),
    output:
        model=study("retrain/handcrafted/reference/seed{seed}/fold{fold}/rank0/model.pt"),
        history=study("retrain/handcrafted/reference/seed{seed}/fold{fold}/rank0/history.csv"),
        metrics=study("retrain/handcrafted/reference/seed{seed}/fold{fold}/rank0/metrics.json"),
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
        " --out $(dirname {output.model}) > {log} 2>&1"
