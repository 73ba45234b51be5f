"""Stage 6: retrain from scratch: the top-k of every search, and the hand-designed baseline."""


rule retrain_config:
    """The resolved retrain config, checked by neonas; the same for every arm."""
    output:
        study("config/retrain.yaml"),
    params:
        kind="retrain",
        where="retrain",
        settings={k: v for k, v in config["retrain"].items() if k != "pack"},  # pack: how jobs are cut
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
if RETRAIN_PACK == 1:  # one job per search's top-k; retrain.pack > 1: the pack rules at the end

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
            arm="nas|random|evolution",
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


# Packing (config retrain.pack: N > 1), as search.pack (search.smk): the top-k retraining of N searches of one arm
# and setting, seeds x folds seed by seed, side by side in one job (rule retrain_pack<P>), one process each, each
# with its own output directory, log and benchmark (s, pack, pack_s). Retraining has no partial runs: a failed
# pack retrains all its searches' top-k again.
RETRAIN_ONE = r"""
retrain_one() {{  # seed fold: the top-k of one search, as rule retrain runs them (above)
    local seed=$1 fold=$2; local search={params.searches}/seed$1/fold$2 out={params.runs}/seed$1/fold$2
    local t0 n_top; t0=$(date +%s.%N); mkdir -p $out
    n_top=$(python -c "import json, sys; print(len(json.load(open(sys.argv[1]))['top']))" $search/derived.json)
    for rank in {params.ranks}; do
        if [ "$rank" -ge "$n_top" ]; then
            echo "rank $rank: derive returned only $n_top architecture(s); nothing to retrain"; continue
        fi
        neonas retrain --arch $search/derived.json --rank $rank --folds {input.folds}             --fold $fold --seed $seed --config {input.config} --meta arm={wildcards.arm}             --meta reward={wildcards.setting} --meta seed=$seed --meta fold=$fold             --meta rank=$rank --device {params.device} --out $out/rank$rank
    done > {params.logs}/seed$seed/fold$fold.log 2>&1
    echo "$t0 $(date +%s.%N)" > {params.bench}/seed$seed/fold$fold.wall
}}
"""

RETRAIN_PACK_SHELL = "\n".join([
    "export OMP_NUM_THREADS={params.threads} MKL_NUM_THREADS={params.threads}",
    RETRAIN_ONE,
    "t0=$(date +%s.%N); pids=''; mkdir -p {params.bench}",
    "for m in {params.members}; do mkdir -p {params.bench}/seed${{m%:*}}; retrain_one ${{m%:*}} ${{m#*:}} & pids=\"$pids $!\"; done",
    "failed=0; for pid in $pids; do wait $pid || failed=$((failed + 1)); done",
    'if [ $failed -gt 0 ]; then echo "$failed of {params.n} retrain jobs of this pack failed (their logs say why)" >&2; '
    "exit 1; fi",
    "t1=$(date +%s.%N)",
    "for m in {params.members}; do w={params.bench}/seed${{m%:*}}/fold${{m#*:}}; read a b < $w.wall; rm $w.wall",
    "    awk -v a=$a -v b=$b -v t0=$t0 -v t1=$t1 -v n={params.n} "
    "'BEGIN {{ printf \"s\\tpack\\tpack_s\\n%.4f\\t%d\\t%.4f\\n\", b - a, n, t1 - t0 }}' > $w.tsv",
    "done",
])


if RETRAIN_PACK > 1:
    for _pack, _members in packs(RETRAIN_PACK):

        rule:
            f"""The top-k retraining of {len(_members)} searches of one arm and setting side by side in one job."""
            name:
                f"retrain_pack{_pack}"
            input:
                **{f"seed{s}_fold{f}": study(f"search/{{arm}}/{{setting}}/seed{s}/fold{f}") for s, f in _members},
                folds=study("folds.json"),
                config=study("config/retrain.yaml"),
            output:
                **{f"seed{s}_fold{f}": directory(study(f"retrain/{{arm}}/{{setting}}/seed{s}/fold{f}")) for s, f in _members},
            params:
                device=config["device"],
                ranks=" ".join(str(rank) for rank in range(TOP_K)),
                threads=pack_threads("retrain"),
                members=" ".join(f"{s}:{f}" for s, f in _members),
                n=len(_members),
                searches=lambda wc: study(f"search/{wc.arm}/{wc.setting}"),  # the inputs' folder
                runs=study("retrain/{arm}/{setting}"),
                logs=study("logs/retrain/{arm}/{setting}"),
                bench=study("benchmarks/retrain/{arm}/{setting}"),
            wildcard_constraints:
                arm="nas|random|evolution",
            threads: len(_members) * pack_threads("retrain")
            resources:
                **pack_resources(len(_members), "retrain"),
            log:
                **{f"seed{s}_fold{f}": study(f"logs/retrain/{{arm}}/{{setting}}/seed{s}/fold{f}.log") for s, f in _members},
            benchmark:
                study(f"benchmarks/retrain/{{arm}}/{{setting}}/pack{_pack}.tsv")
            conda:
                ENV
            shell:
                RETRAIN_PACK_SHELL
