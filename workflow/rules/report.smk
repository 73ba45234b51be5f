"""Stage 9: figures, LaTeX tables and the thesis bundle (`neonas report`, docs/report.md).

Every figure (PNG) and table (CSV) goes into the snakemake HTML report (`snakemake --report`) with its
caption from workflow/report/<name>.rst. The names must match neonas.study.report.FIGURES / TABLES
(tests/test_report.py checks it); they are listed here so parsing the workflow needs no neonas import.
"""

REPORT_FIGURES = {
    "fig_accuracy_over_epochs": "1 Search",
    "fig_accuracy_all_settings": "1 Search",
    "fig_controller": "1 Search",
    "fig_rewards": "1 Search",
    "fig_archstats_best": "2 Architectures",
    "fig_archstats_policy": "2 Architectures",
    "fig_archstats_over_time": "2 Architectures",
    "fig_arch_best": "2 Architectures",
    "fig_arch_fancy": "2 Architectures",
    "fig_confusion": "3 Results",
    "fig_hypnogram": "3 Results",
    "fig_supernet_vs_retrained": "4 Can the search be trusted?",
}
REPORT_TABLES = {
    "tab_results": "3 Results",
    "tab_paired_tests": "3 Results",
    "tab_compute": "3 Results",
    "tab_checklist": "3 Results",
    "tab_archstats": "2 Architectures",
    "tab_kendall": "4 Can the search be trusted?",
    "tab_planted": "4 Can the search be trusted?",
    "tab_verdicts": "0 Verdicts and warnings",
    "tab_warnings": "0 Verdicts and warnings",
}


# Every file `neonas report` writes into results/<study>/report/ (for rule all), and the LaTeX bundle
REPORT_OUTPUTS = [study(f"report/{name}.{ext}") for name in REPORT_FIGURES for ext in ("pdf", "png")] + [
    study(f"report/{name}.{ext}") for name in REPORT_TABLES for ext in ("csv", "tex")
]
LATEX_BUNDLE = study("latex")


rule report:
    """PDF/PNG figures, CSV/LaTeX tables and the LaTeX bundle of the study; the best-architecture figure draws the
    final model's architecture when the study has one (final.smk)."""
    input:
        aggregate=study("aggregate"),
        final=lambda wildcards: [study("final")] if "final" in config else [],
    output:
        figures=[
            report(study(f"report/{name}.png"), caption=f"../report/{name}.rst", category=cat, subcategory="Figures")
            for name, cat in REPORT_FIGURES.items()
        ],
        pdfs=[study(f"report/{name}.pdf") for name in REPORT_FIGURES],
        tables=[
            report(study(f"report/{name}.csv"), caption=f"../report/{name}.rst", category=cat, subcategory="Tables")
            for name, cat in REPORT_TABLES.items()
        ],
        tex=[study(f"report/{name}.tex") for name in REPORT_TABLES],
        latex=directory(LATEX_BUNDLE),
    params:
        out=lambda wildcards, output: Path(output.figures[0]).parent,
        title=f"neonas study '{config['study']}'",
        final=lambda wildcards, input: f"--final {input.final}" if input.final else "",
    threads: 1
    log:
        study("logs/report.log"),
    benchmark:
        study("benchmarks/report.tsv")
    conda:
        ENV
    shell:
        "export OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads}; "
        "neonas report --aggregate {input.aggregate} --out {params.out} --latex {output.latex} {params.final}"
        ' --title "{params.title}" > {log} 2>&1'


# summary.html reads the captions of the Snakemake report (workflow/report/<name>.rst, beside this folder)
CAPTIONS = Path(str(workflow.current_basedir)).parent / "report"
SUMMARY = study("summary.html")


rule summary:
    """The study as one HTML page that reads like a chapter: answers and warnings first, then every figure and
    table with its caption; links to the Snakemake report (report.html beside it) for provenance."""
    input:
        aggregate=study("aggregate"),
        figures=rules.report.output.figures,
        tables=rules.report.output.tables,
        captions=[CAPTIONS / f"{name}.rst" for name in (*REPORT_FIGURES, *REPORT_TABLES)],
        final=lambda wildcards: [study("final")] if "final" in config else [],  # the final model (final.smk)
        fidelity=fidelity_dirs(),  # its verdict opens the page (fidelity.smk)
    output:
        SUMMARY,
    params:
        report=lambda wildcards, input: Path(input.figures[0]).parent,
        captions=CAPTIONS,
        title=f"neonas study '{config['study']}'",
        final=lambda wildcards, input: f"--final {input.final}" if input.final else "",
        fidelity=lambda wildcards, input: f"--fidelity {input.fidelity}" if input.fidelity else "",
    threads: 1
    localrule: True  # seconds of reading CSV and PNG: not worth a place in a cluster queue
    log:
        study("logs/summary.log"),
    benchmark:
        study("benchmarks/summary.tsv")
    conda:
        ENV
    shell:
        "neonas summary --aggregate {input.aggregate} --report {params.report} --captions {params.captions:q}"
        ' --snakemake-report report.html --title "{params.title}" {params.final} {params.fidelity} --out {output}'
        " > {log} 2>&1"
