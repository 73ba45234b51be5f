"""Stage 4a: the fidelity check of the estimator (`neonas fidelity`, docs/search.md), once per fold: do the shared
weights rank a fixed panel of architectures as stand-alone training does? Its verdict opens summary.html: where
they do not, the NAS arms cannot be told from random search. Runs beside the searches (same search config as the
random arm: the space and shared-weights training every arm uses)."""


rule fidelity:
    """Kendall tau between the panel's scores on uniformly trained shared weights and trained alone, with a verdict."""
    input:
        folds=study("folds.json"),
        config=study("config/search/random/uniform.yaml"),
    output:
        directory(study("fidelity/fold{fold}")),
    params:
        device=config["device"],
        budget=lambda wildcards: " ".join(
            f"--fidelity-set {key}={json.dumps(value, separators=(',', ':'))}"
            for key, value in config["fidelity"].items() if key not in FIDELITY_STUDY_KEYS
        ),
        planted="--planted" if config["synthetic"]["enabled"] else "",
    threads: config["fidelity"].get("workers", 1)
    resources:
        gpu=1,
    log:
        study("logs/fidelity/fold{fold}.log"),
    benchmark:
        study("benchmarks/fidelity/fold{fold}.tsv")
    conda:
        ENV
    shell:
        "export OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads}; "
        "neonas fidelity --folds {input.folds} --fold {wildcards.fold} --config {input.config} {params.budget} "
        "{params.planted} --device {params.device} --out {output} > {log} 2>&1"
