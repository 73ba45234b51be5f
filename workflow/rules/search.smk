"""Stage 4-5: the architecture searches, one per (arm, reward setting, seed, fold), each ending with
`neonas derive` (the top-k architectures by the shared weights) in the same job, on the same GPU.

Derive takes seconds next to the search; as its own job it would add 2,000 jobs to a 2,000-search study,
and the study's DAG (`snakemake -n`) would no longer build within 20 s. With config search.pack = N > 1, N searches
of one arm and setting share a job (rules search_pack<P>, at the end of this file)."""

rule search_config:
    """The resolved search config of one reward setting (or of the random arm), checked by neonas."""
    output:
        study("config/search/{arm}/{setting}.yaml"),
    params:
        kind="search",
        where="search",
        settings=search_settings,
    wildcard_constraints:
        arm="nas|random|evolution",
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


# derive's re-ranking (config derive.rerank; docs/search.md): the same arguments for every search of the study
RERANK_ARGS = "--rerank {method} --rerank-candidates {candidates} --rerank-epochs {epochs} --rerank-eta {eta}".format(
    **config["derive"]["rerank"]
)
# re-ranking trains candidates with the study's `retrain:` recipe (not retrain's default; issue 23); only then is
# the recipe an input of the searches (a changed recipe changes their derived.json)
RERANK_INPUT = {} if config["derive"]["rerank"]["method"] == "none" else {"retrain": study("config/retrain.yaml")}
if RERANK_INPUT:
    RERANK_ARGS += f" --rerank-config {RERANK_INPUT['retrain']}"


if SEARCH_PACK == 1:  # one job per search; search.pack > 1: the pack rules below

    rule search:
        """ENAS (arm nas), random search (arm random) or regularised evolution (arm evolution) on one fold with one seed, then derive its top-k."""
        input:
            unpack(lambda wildcards: fidelity_of([wildcards.fold])),
            **RERANK_INPUT,
            folds=study("folds.json"),
            config=study("config/search/{arm}/{setting}.yaml"),
        output:
            run=directory(study("search/{arm}/{setting}/seed{seed}/fold{fold}")),
        params:
            device=config["device"],
            samples=config["derive"]["samples"],
            top_k=TOP_K,
            rerank=RERANK_ARGS,
            warmup=WARMUP_JSON,
            on_fail=ON_FAIL,
        wildcard_constraints:
            arm="nas|random|evolution",
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
            run={output.run}; partial={output.run}.partial; fold={wildcards.fold}; warm={params.warmup}
            if [ -d $partial ] && ! cat {input.config} {input.folds} $warm | cmp -s - $partial/inputs; then
                echo "config, folds or fidelity check changed since $partial was started: starting over" > {log}
                rm -rf $partial
            fi
            mkdir -p $partial $run; cat {input.config} {input.folds} $warm > $partial/inputs
            neonas search --folds {input.folds} --fold $fold --config {input.config} ${{warm:+--warmup-from $warm {params.on_fail}}} \
                --seed {wildcards.seed} --device {params.device} --resume --out $partial >> {log} 2>&1
            for f in children.csv epochs.csv summary.json final.pt; do
                ln -f $partial/$f $run/$f 2>/dev/null || cp -p $partial/$f $run/$f
            done
            # the partial run stays until derive succeeds: a failed derive resumes the finished search in seconds
            neonas derive --run $run --samples {params.samples} --top-k {params.top_k} --seed {wildcards.seed} \
                {params.rerank} --folds {input.folds} --device {params.device} --out $run/derived.json >> {log} 2>&1
            rm -rf $partial
            """


# Packing (config search.pack: N > 1): the searches of one arm and reward setting, seeds x folds seed by seed, go N
# to a job (rule search_pack<P>, P = 0, 1, ...), one `neonas search` process each, side by side on the job's
# one GPU. A pack rule is a fixed set of (seed, fold) pairs with {arm} and {setting} as wildcards, so a study
# has ceil(seeds x folds / N) pack rules, and a 20,000-search study N times fewer search jobs (its DAG builds
# N times faster; docs/cluster.md, "Packing"). Every search keeps its own run directory (the job's outputs,
# named as without packing), its log, its RUN_DIR.partial/ with checkpoint and exact resume, and its own
# benchmarks/search/.../seed<S>/fold<F>.tsv (s: its wall time; pack, pack_s: searches in its job and the
# job's wall time). A search that finished in a failed job keeps its partial run with its derived.json until
# the whole pack succeeds, so the next attempt only links it: the failed search alone runs again.
SEARCH_ONE = r"""
search_one() {{  # run seed fold log: one search of the pack, as rule search runs it (above)
    local run=$1 seed=$2 fold=$3 log=$4; local partial=$run.partial; local t0; t0=$(date +%s.%N)
    local warm={params.warmup}
    if [ -d $partial ] && ! cat {input.config} {input.folds} $warm | cmp -s - $partial/inputs; then
        echo "config, folds or fidelity check changed since $partial was started: starting over" > $log
        rm -rf $partial
    fi
    mkdir -p $partial $run; cat {input.config} {input.folds} $warm > $partial/inputs
    local args="--samples {params.samples} --top-k {params.top_k} --seed $seed {params.rerank}"
    if [ -f $partial/derived.json ] && [ "$(cat $partial/derive.args 2>/dev/null)" = "$args" ]; then
        echo "search and derive finished in an earlier attempt of this pack: linking $partial" >> $log
    else
        rm -f $partial/derived.json
        neonas search --folds {input.folds} --fold $fold --config {input.config} --seed $seed \
            ${{warm:+--warmup-from $warm {params.on_fail}}} --device {params.device} --resume --out $partial >> $log 2>&1
        for f in children.csv epochs.csv summary.json final.pt; do
            ln -f $partial/$f $run/$f 2>/dev/null || cp -p $partial/$f $run/$f
        done
        neonas derive --run $run $args --folds {input.folds} --device {params.device} \
            --out $partial/derived.json >> $log 2>&1
        echo "$args" > $partial/derive.args
    fi
    for f in children.csv epochs.csv summary.json final.pt derived.json; do
        ln -f $partial/$f $run/$f 2>/dev/null || cp -p $partial/$f $run/$f
    done
    echo "$t0 $(date +%s.%N)" > $partial/wall
}}
"""


# The shell of a pack job (the same for every pack; its searches come from params.members, "seed:fold ..."):
# the searches started side by side and waited for; only when every one succeeded are the partial runs removed
# and the per-search benchmarks written.
PACK_SHELL = "\n".join([
    "export OMP_NUM_THREADS={params.threads} MKL_NUM_THREADS={params.threads}",
    SEARCH_ONE,
    "t0=$(date +%s.%N); pids=''",
    "for m in {params.members}; do s=${{m%:*}}; f=${{m#*:}}",
    '    search_one {params.runs}/seed$s/fold$f $s $f {params.logs}/seed$s/fold$f.log & pids="$pids $!"',
    "done",
    "failed=0; for pid in $pids; do wait $pid || failed=$((failed + 1)); done",
    'if [ $failed -gt 0 ]; then echo "$failed of {params.n} searches of this pack failed (their logs say why); the '
    'finished ones stay in their RUN_DIR.partial/ and are only linked next time" >&2; exit 1; fi',
    "t1=$(date +%s.%N)",
    "for m in {params.members}; do s=${{m%:*}}; f=${{m#*:}}; partial={params.runs}/seed$s/fold$f.partial",
    "    out={params.bench}/seed$s/fold$f.tsv; mkdir -p $(dirname $out); read a b < $partial/wall",
    "    awk -v a=$a -v b=$b -v t0=$t0 -v t1=$t1 -v n={params.n} "
    "'BEGIN {{ printf \"s\\tpack\\tpack_s\\n%.4f\\t%d\\t%.4f\\n\", b - a, n, t1 - t0 }}' > $out",
    "done",
    "for m in {params.members}; do rm -rf {params.runs}/seed${{m%:*}}/fold${{m#*:}}.partial; done",
])


if SEARCH_PACK > 1:
    for _pack, _members in packs(SEARCH_PACK):

        rule:
            f"""{len(_members)} searches of one arm and setting (seed, fold: {_members}) side by side in one job."""
            name:
                f"search_pack{_pack}"
            input:
                **fidelity_of(sorted({f for _, f in _members})),
                **RERANK_INPUT,
                folds=study("folds.json"),
                config=study("config/search/{arm}/{setting}.yaml"),
            output:
                **{f"seed{s}_fold{f}": directory(study(f"search/{{arm}}/{{setting}}/seed{s}/fold{f}")) for s, f in _members},
            params:
                device=config["device"],
                samples=config["derive"]["samples"],
                top_k=TOP_K,
                rerank=RERANK_ARGS,
                warmup=WARMUP_JSON,
                on_fail=ON_FAIL,
                threads=pack_threads(),
                members=" ".join(f"{s}:{f}" for s, f in _members),
                n=len(_members),
                runs=study("search/{arm}/{setting}"),
                logs=study("logs/search/{arm}/{setting}"),
                bench=study("benchmarks/search/{arm}/{setting}"),
            wildcard_constraints:
                arm="nas|random|evolution",
            threads: len(_members) * pack_threads()
            resources:
                **pack_resources(len(_members)),
            log:
                **{f"seed{s}_fold{f}": study(f"logs/search/{{arm}}/{{setting}}/seed{s}/fold{f}.log") for s, f in _members},
            benchmark:
                study(f"benchmarks/search/{{arm}}/{{setting}}/pack{_pack}.tsv")
            conda:
                ENV
            shell:
                PACK_SHELL
