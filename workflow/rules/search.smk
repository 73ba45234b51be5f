"""Stage 4-5: the architecture searches, one per (arm, reward setting, seed, fold), each ending with
`neonas derive` (the top-k architectures by the shared weights) in the same job, on the same GPU.

Derive takes seconds next to the search; as its own job it would add 2,000 jobs to a 2,000-search study,
and the study's DAG (`snakemake -n`) would no longer build within 20 s."""

rule search_config:
    """The resolved search config of one reward setting (or of the random arm), checked by neonas."""
    output:
        study("config/search/{arm}/{setting}.yaml"),
    params:
        kind="search",
        where="search",
        settings=search_settings,
    wildcard_constraints:
        arm="nas|random",
    localrule: True
    log:
        study("logs/config/search/{arm}/{setting}.log"),
    benchmark:
        study("benchmarks/config/search/{arm}/{setting}.tsv")
    conda:
        ENV
    script:
        "../scripts/study_config.py"


# A search writes into RUN_DIR.partial/ (with its checkpoint.pt) until it ends; then its files are linked into
# RUN_DIR, derive adds derived.json, and RUN_DIR.partial/ is removed. Snakemake removes a job's declared output
# (RUN_DIR) before the job starts and after it fails, so the partial run lives beside it: a killed or timed-out
# search keeps RUN_DIR.partial/, and `--resume` picks it up on the next attempt. RUN_DIR.partial/inputs holds the
# config and folds it was started with; if they changed since, the partial run belongs to another study design
# and is started over.
#
# The output is the run directory, not its five files: a 2,000-search study declares 2,000 paths here
# instead of 10,000, and its DAG builds in seconds less (docs/cluster.md, "Scale"). To run one search:
#   snakemake --cores 2 results/demo/search/nas/sigmoid/seed0/fold0


rule search:
    """ENAS (arm nas) or random search (arm random) on one fold with one seed, then derive its top-k."""
    input:
        folds=study("folds.json"),
        config=study("config/search/{arm}/{setting}.yaml"),
    output:
        run=directory(study("search/{arm}/{setting}/seed{seed}/fold{fold}")),
    params:
        device=config["device"],
        samples=config["derive"]["samples"],
        rerank=config["derive"]["rerank"],
        top_k=TOP_K,
    wildcard_constraints:
        arm="nas|random",
    threads: 1
    resources:
        gpu=1,
    log:
        study("logs/search/{arm}/{setting}/seed{seed}/fold{fold}.log"),
    benchmark:
        study("benchmarks/search/{arm}/{setting}/seed{seed}/fold{fold}.tsv")
    conda:
        ENV
    shell:
        """
        export OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads}
        run={output.run}; partial={output.run}.partial
        if [ -d $partial ] && ! cat {input.config} {input.folds} | cmp -s - $partial/inputs; then
            echo "config or folds changed since $partial was started: starting over" > {log}; rm -rf $partial
        fi
        mkdir -p $partial $run; cat {input.config} {input.folds} > $partial/inputs
        neonas search --folds {input.folds} --fold {wildcards.fold} --config {input.config} \
            --seed {wildcards.seed} --device {params.device} --resume --out $partial >> {log} 2>&1
        for f in children.csv epochs.csv summary.json final.pt; do
            ln -f $partial/$f $run/$f 2>/dev/null || cp -p $partial/$f $run/$f
        done
        # the partial run stays until derive succeeds: a failed derive resumes the finished search in seconds
        neonas derive --run $run --samples {params.samples} --top-k {params.top_k} --seed {wildcards.seed} \
            --folds {input.folds} --device {params.device} --rerank {params.rerank[method]} \
            --rerank-candidates {params.rerank[candidates]} --rerank-epochs {params.rerank[epochs]} \
            --rerank-eta {params.rerank[eta]} --out $run/derived.json >> {log} 2>&1
        rm -rf $partial
        """
