"""The neonas study: synthetic cohort -> preprocess -> folds -> search (+ derive) -> retrain -> evaluate
-> aggregate -> report, for every reward setting x seed x fold, with the random-search and hand-designed arms.

    snakemake --cores 2 --profile profiles/local                         # the demo, on a laptop
    snakemake --profile profiles/slurm --configfile config/thesis.yaml   # the full study on a SLURM cluster

Config: config/config.yaml (the demo), checked against workflow/schemas/config.schema.yaml. Outputs go to
results/<study>/ (docs/contracts.md, "study file layout"); cluster set-up in docs/cluster.md.
"""

from snakemake.utils import min_version, validate

min_version("8.20")


configfile: "config/config.yaml"


include: "workflow/rules/schema.smk"


type_cli_config(config)  # --config seeds=[0,1] gives ['0', '1']; make them numbers
check_config(config, "workflow/schemas/config.schema.yaml")  # one clear line per mistake
validate(config, "workflow/schemas/config.schema.yaml")  # fills in the schema's defaults


include: "workflow/rules/common.smk"
include: "workflow/rules/synth.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/folds.smk"
include: "workflow/rules/fidelity.smk"  # do the shared weights rank? once per fold, beside the searches
include: "workflow/rules/search.smk"
include: "workflow/rules/retrain.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/yardstick.smk"  # every arm on one uniformly trained supernet
include: "workflow/rules/aggregate.smk"  # aggregate and report: docs/report.md
include: "workflow/rules/report.smk"
include: "workflow/rules/final.smk"  # the final model on all infants, exported, with its model card
include: "workflow/rules/predict.smk"  # the final model stages the unlabelled recordings (label_format none)
include: "workflow/rules/slurm.smk"  # with --executor slurm: sbatch --test-only before the first job


rule all:
    """Every output of the study: every retrained model with its metrics, the tables, figures and LaTeX bundle."""
    default_target: True
    input:
        retrain_dirs(),
        yardstick_files(),
        fidelity_dirs(),
        rules.report.output,
        rules.summary.output,  # results/<study>/summary.html
        rules.final.output,
        UNSEEN,  # the demo: an unseen synthetic recording staged by the final model (final.smk)
        predict_files(),
