"""Write one resolved stage config (search or retrain) of the study as YAML, after neonas has checked it.

Run by snakemake (`script:`): snakemake.params.kind is "search" or "retrain", snakemake.params.settings the
resolved mapping. Checking here, in one cheap local job, means a typo fails once at the start of a study,
not in each of its 2,000 queued GPU jobs.
"""

import sys

import yaml

from neonas.config import from_dict
from neonas.errors import NeonasError
from neonas.io import write_text_atomic

smk = snakemake  # noqa: F821 (injected by snakemake)
kind, settings, out = smk.params.kind, smk.params.settings, smk.output[0]
where = f"config key '{smk.params.where}'"

log = open(smk.log[0], "w")
try:
    if kind == "search":
        from neonas.engine.search import SearchConfig as Config
        from neonas.engine.space import named_space

        if isinstance(settings.get("space"), str):  # `space: thesis`: written out as its keys
            settings = {**settings, "space": named_space(settings["space"])}
    else:
        from neonas.training.retrain import RetrainConfig as Config
    from_dict(Config, settings, where)
except NeonasError as err:
    message = f"neonas: error: the study config is not valid: {err}"
    print(message, file=log, flush=True)
    sys.exit(message)

write_text_atomic(out, yaml.safe_dump(settings, sort_keys=False))
print(f"checked the {kind} config and wrote {out}", file=log)
