"""Stage 3: split the infants into train/validation/test folds (`neonas folds`)."""


rule folds:
    """Split the infants into train/validation/test folds; never splits an infant."""
    input:
        h5_files(),
    output:
        study("folds.json"),
    params:
        scheme=config["folds"]["scheme"],
        k=config["folds"]["k"],
        n_val=config["folds"]["n_val"],
        seed=config["folds"]["seed"],
    log:
        study("logs/folds.log"),
    benchmark:
        study("benchmarks/folds.tsv")
    conda:
        ENV
    shell:
        "neonas folds {input} --scheme {params.scheme} --k {params.k} --n-val {params.n_val} --seed {params.seed}"
        " --out {output} > {log} 2>&1"
