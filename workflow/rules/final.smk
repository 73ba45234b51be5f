"""Stage 10: the final model of the study (`neonas final`, docs/retrain.md "The final model"): the architecture
chosen by config `final.choose` (validation: the best mean validation kappa over `final.selection_seeds` seeds
and the folds, from one `neonas select` job per fold; or best mean test kappa, or the common yardstick), trained
on every infant with whole validation infants for early stopping, then exported (`neonas export`: model.ts and
the model card). The demo's final model is also scored on its unseen synthetic infant (final/unseen.json).

    snakemake --cores 2 results/demo/final
"""

from neonas.io import write_text_atomic


rule final_args:
    """The candidates of `neonas final` (every retrained model's metrics.json), one per line: a large study's paths
    do not fit on a command line."""
    output:
        study("config/final.args"),
    params:
        args=["--metrics", *metrics_files()],
    localrule: True
    log:
        study("logs/final_args.log"),
    benchmark:
        study("benchmarks/final_args.tsv")
    run:
        write_text_atomic(output[0], "\n".join(params.args) + "\n")


SELECT = config["final"]["choose"] == "validation"


rule select:
    """The final model's selection on one fold: every architecture retrained on it, trained again with
    final.selection_seeds seeds and scored on the fold's validation infants (the test infants never choose).
    It trains in select/fold{fold}.partial/, which Snakemake does not delete when the job fails, so a restarted
    job keeps the trainings it finished (neonas select reuses them); moved into place at the end."""
    input:
        # the retrain jobs of this fold (every arm, setting and seed): the candidates
        retrains=lambda wildcards: [d for d in retrain_dirs() if Path(d).name == f"fold{wildcards.fold}"],
        folds=study("folds.json"),
        config=study("config/retrain.yaml"),
    output:
        directory(study("select/fold{fold}")),
    params:
        seeds=config["final"]["selection_seeds"],
        shortlist=lambda wildcards: (f"--max-candidates {config['final']['selection_candidates']}"
                                     if config["final"].get("selection_candidates") else ""),
        device=config["device"],
    threads: 1
    resources:
        gpu=1,
    log:
        study("logs/select/fold{fold}.log"),
    benchmark:
        study("benchmarks/select/fold{fold}.tsv")
    conda:
        ENV
    shell:
        "export OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads}; "
        "neonas select --metrics {input.retrains} --folds {input.folds} --fold {wildcards.fold} --seeds {params.seeds}"
        " {params.shortlist} --config {input.config} --device {params.device} --out {output}.partial > {log} 2>&1"
        " && rm -rf {output} && mv {output}.partial {output}"


# The demo's unseen recording (only with the synthetic cohort): one more synthetic infant, never in the folds,
# preprocessed like the cohort (its labels kept) so that rule final scores the final model on it (unseen.json)
UNSEEN_H5 = [study("unseen/unseen01.h5")] if config["synthetic"]["enabled"] else []


rule final:
    """Choose the architecture, train it on all infants (model.pt, history.csv, choice.json, metrics.json), and
    export it to TorchScript with its model card (model.ts, model_card.json, model_card.md)."""
    input:
        args=study("config/final.args"),
        retrains=retrain_dirs(),
        folds=study("folds.json"),
        config=study("config/retrain.yaml"),
        # the yardstick tables (workflow/rules/yardstick.smk) when the choice reads them; without them (no random
        # arm) `neonas final` falls back to kappa and says why
        yardstick=lambda wildcards: yardstick_files() if config["final"]["choose"] == "yardstick" else [],
        selection=[study(f"select/fold{fold}") for fold in FOLDS] if SELECT else [],
        unseen=UNSEEN_H5,
    output:
        directory(study("final")),
    params:
        choose=config["final"]["choose"],
        yardstick=lambda wildcards, input: " ".join(input.yardstick) or study("yardstick"),
        selection=lambda wildcards, input: f"--selection {' '.join(input.selection)}" if input.selection else "",
        score=lambda wildcards, input, output: (f" && neonas score --model {output}/model.pt --h5 {input.unseen}"
                                                f" --out {output}/unseen.json" if input.unseen else ""),
        seed=config["final"]["seed"],
        n_val=config["final"]["n_val"],
        val_seed=config["final"]["val_seed"],
        device=config["device"],
    threads: 1
    resources:
        gpu=1,
    log:
        study("logs/final.log"),
    benchmark:
        study("benchmarks/final.tsv")
    conda:
        ENV
    shell:
        "export OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads}; "
        "( neonas final @{input.args} --folds {input.folds} --choose {params.choose} --yardstick {params.yardstick}"
        " {params.selection} --config {input.config} --seed {params.seed} --n-val {params.n_val}"
        " --val-seed {params.val_seed} --device {params.device} --out {output}{params.score}"
        " && neonas export --model {output}/model.pt --format torchscript --out {output} ) > {log} 2>&1"


# The demo's unseen recording (only with the synthetic cohort): one more synthetic infant, drawn with another seed,
# never in the folds, staged by the final model from its EDF alone (its annotations are not read): the hypnogram
# TSV and PNG of `neonas predict` (docs/predict.md). Real unlabelled recordings go through rule predict instead.
UNSEEN = [study("unseen/hypnogram.tsv")] if config["synthetic"]["enabled"] else []

if config["synthetic"]["enabled"]:

    rule unseen_synth:
        """One synthetic infant that no search, retraining or final model saw (seed = synthetic.seed + 1)."""
        output:
            edf=f"{config['synthetic']['out']}-unseen/unseen01.edf",
        params:
            out=lambda wildcards, output: Path(output.edf).parent,
            hours=config["synthetic"]["hours"],
            seed=config["synthetic"]["seed"] + 1,
        log:
            study("logs/unseen_synth.log"),
        benchmark:
            study("benchmarks/unseen_synth.tsv")
        conda:
            ENV
        shell:
            "neonas synth --out {params.out} --n-infants 1 --hours {params.hours} --seed {params.seed} > {log} 2>&1"
            " && mv {params.out}/syn01.edf {output.edf}"  # named apart from the cohort's syn01, which it is not

    rule unseen_preprocess:
        """The unseen recording preprocessed like the cohort, with its labels: what rule final scores."""
        input:
            eeg=rules.unseen_synth.output.edf,
        output:
            study("unseen/unseen01.h5"),
        params:
            args=" ".join([f"--config {config['preprocess']['config']}" if config["preprocess"]["config"]
                           else f"--preset {config['preprocess']['preset']}",
                           *(f"--set {shlex.quote(item)}" for item in config["preprocess"]["set"])]),
        log:
            study("logs/unseen_preprocess.log"),
        benchmark:
            study("benchmarks/unseen_preprocess.tsv")
        conda:
            ENV
        shell:
            "neonas preprocess {input.eeg} {params.args} --infant-id unseen01 --out {output} > {log} 2>&1"

    rule unseen_predict:
        """The final model stages the unseen recording without its labels: hypnogram TSV and PNG."""
        input:
            eeg=rules.unseen_synth.output.edf,
            final=study("final"),
        output:
            tsv=study("unseen/hypnogram.tsv"),
            png=study("unseen/hypnogram.png"),
        params:
            device=config["device"],
        threads: 1
        log:
            study("logs/unseen_predict.log"),
        benchmark:
            study("benchmarks/unseen_predict.tsv")
        conda:
            ENV
        shell:
            "export OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads}; "
            "neonas predict {input.eeg} --model {input.final}/model.pt --plot --device {params.device}"
            " --out {output.tsv} > {log} 2>&1"
