"""Stage 1: the synthetic neonatal cohort (only when config `synthetic.enabled`)."""

if config["synthetic"]["enabled"]:

    rule synth:
        """EDF+ recordings with sleep-stage annotations, their label TSVs, the cohort sheet and planted.json."""
        output:
            edf=expand(
                "{out}/syn{n:02d}.edf", out=config["synthetic"]["out"], n=range(1, config["synthetic"]["n_infants"] + 1)
            ),
            sheet=f"{config['synthetic']['out']}/cohort.tsv",
            planted=f"{config['synthetic']['out']}/planted.json",
        params:
            out=lambda wildcards, output: Path(output.sheet).parent,
            n=config["synthetic"]["n_infants"],
            hours=config["synthetic"]["hours"],
            seed=config["synthetic"]["seed"],
            planted=config["synthetic"]["planted"],
        log:
            study("logs/synth.log"),
        benchmark:
            study("benchmarks/synth.tsv")
        conda:
            ENV
        shell:
            "neonas synth --out {params.out} --n-infants {params.n} --hours {params.hours} --seed {params.seed}"
            " --planted {params.planted} > {log} 2>&1"
