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


rule retrain:
    """Train rank R of a search's derived architectures from scratch (early stopping on validation infants)."""
    input:
        derived=study("search/{arm}/{setting}/seed{seed}/fold{fold}/derived.json"),
        folds=study("folds.json"),
        config=study("config/retrain.yaml"),
    output:
        model=study("retrain/{arm}/{setting}/seed{seed}/fold{fold}/rank{rank}/model.pt"),
        history=study("retrain/{arm}/{setting}/seed{seed}/fold{fold}/rank{rank}/history.csv"),
    params:
        out=lambda wildcards, output: Path(output.model).parent,
        meta=meta_args,
        device=config["device"],
    wildcard_constraints:
        arm="nas|random",
    threads: 1
    resources:
        gpu=1,
    log:
        study("logs/retrain/{arm}/{setting}/seed{seed}/fold{fold}/rank{rank}.log"),
    benchmark:
        study("benchmarks/retrain/{arm}/{setting}/seed{seed}/fold{fold}/rank{rank}.tsv")
    conda:
        ENV
    shell:
        "export OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads}; "
        "neonas retrain --arch {input.derived} --rank {wildcards.rank} --folds {input.folds} --fold {wildcards.fold}"
        " --seed {wildcards.seed} --config {input.config} {params.meta} --no-evaluate --device {params.device}"
        " --out {params.out} > {log} 2>&1"


rule retrain_baseline:
    """Train the hand-designed baseline CNN with the same code and config as the searched architectures."""
    input:
        folds=study("folds.json"),
        config=study("config/retrain.yaml"),
    output:
        model=study("retrain/handcrafted/reference/seed{seed}/fold{fold}/rank0/model.pt"),
        history=study("retrain/handcrafted/reference/seed{seed}/fold{fold}/rank0/history.csv"),
    params:
        out=lambda wildcards, output: Path(output.model).parent,
        device=config["device"],
    threads: 1
    resources:
        gpu=1,
    log:
        study("logs/retrain/handcrafted/reference/seed{seed}/fold{fold}/rank0.log"),
    benchmark:
        study("benchmarks/retrain/handcrafted/reference/seed{seed}/fold{fold}/rank0.tsv")
    conda:
        ENV
    shell:
        "export OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads}; "
        "neonas retrain --baseline handcrafted --folds {input.folds} --fold {wildcards.fold} --seed {wildcards.seed}"
        " --config {input.config} --meta arm=handcrafted --meta reward=reference --meta seed={wildcards.seed}"
        " --meta fold={wildcards.fold} --meta rank=0 --no-evaluate --device {params.device}"
        " --out {params.out} > {log} 2>&1"
