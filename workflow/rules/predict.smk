"""Stage 11: hypnograms of the unlabelled recordings (cohort rows with `label_format: none`), staged by the study's
final model (workflow/rules/final.smk) with the preprocessing it carries (`neonas predict`, docs/predict.md).

    snakemake --cores 2 predict_all                  # every unlabelled recording of the study
    snakemake --cores 2 results/demo/predict/X.tsv   # one of them

Unlabelled rows never enter the folds (common.smk: UNLABELLED); each gets predict/<infant>.tsv (onset_s,
duration_s, stage, p_<stage>..., artefact), predict/<infant>.png (the hypnogram with its probabilities) and
predict/<infant>.stats.json (sleep statistics: time per stage, AS/QS ratio, cycles, latency to QS, transitions).
"""

import re


rule predict:
    """Stage one unlabelled recording with the final model: the hypnogram TSV, its plot and its sleep statistics."""
    input:
        eeg=lambda wildcards: COHORT[wildcards.infant]["eeg_path"],
        final=study("final"),
    output:
        tsv=study("predict/{infant}.tsv"),
        png=study("predict/{infant}.png"),
        stats=study("predict/{infant}.stats.json"),
    wildcard_constraints:
        infant="|".join(map(re.escape, UNLABELLED)) or "(?!)",  # only unlabelled rows (none: matches nothing)
    params:
        device=config["device"],
        # the row's overrides column: how to read this file (aliases, grid_start_s...); predict refuses the rest
        overrides=lambda wildcards: " ".join(f"--set '{item}'" for item in COHORT[wildcards.infant].get("overrides", [])),
    threads: 1
    log:
        study("logs/predict/{infant}.log"),
    benchmark:
        study("benchmarks/predict/{infant}.tsv")
    conda:
        ENV
    shell:
        "export OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads}; "
        "neonas predict {input.eeg} --model {input.final}/model.pt --plot --stats --device {params.device} {params.overrides}"
        " --out {output.tsv} > {log} 2>&1"


rule predict_all:
    """Every unlabelled recording of the study, staged."""
    input:
        predict_files(),
    localrule: True
