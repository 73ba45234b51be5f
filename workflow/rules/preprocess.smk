"""Stage 2: one HDF5 per infant of the cohort sheet (`neonas preprocess`)."""


rule preprocess:
    """Filter, resample and epoch one recording; labels from EDF+ annotations or the sheet's labels file."""
    input:
        unpack(preprocess_input),
    output:
        study("h5/{infant}.h5"),
    params:
        args=preprocess_args,
        resolved=preprocess_config,  # tracked: a changed setting reruns this job (not used by the command)
    log:
        study("logs/preprocess/{infant}.log"),
    benchmark:
        study("benchmarks/preprocess/{infant}.tsv")
    conda:
        ENV
    shell:
        "neonas preprocess {input.eeg} {params.args} --infant-id {wildcards.infant} --out {output} > {log} 2>&1"
