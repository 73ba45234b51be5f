"""Check the study config against workflow/schemas/config.schema.yaml with messages a newcomer can act on.

snakemake.utils.validate prints the whole schema and config on a mistake; this names the key, says what
was expected, and suggests the closest allowed key for a typo. validate() then fills in the defaults.
"""

import difflib

import yaml
from jsonschema import Draft202012Validator
from snakemake.exceptions import WorkflowError


def _config_key(path):
    key = ""
    for part in path:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    return key or "(top level)"


def _config_problem(error):
    where = _config_key(error.absolute_path)
    described = error.schema.get("description", "").strip()
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        lines = []
        for key in sorted(set(error.instance) - set(allowed)):
            near = difflib.get_close_matches(key, allowed, n=1)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            name = _config_key([*error.absolute_path, key])
            lines.append(f"unknown config key '{name}'{hint} Allowed here: {', '.join(allowed)}.")
        return "\n".join(lines)
    if error.validator == "enum":
        return f"config key '{where}' is {error.instance!r}; expected one of {', '.join(map(str, error.validator_value))}."
    if error.validator == "type":
        return f"config key '{where}' is {error.instance!r}; expected {error.validator_value}. {described}"
    if error.validator == "not":
        return f"config key '{where}' cannot be {error.instance!r}. {described}"
    if error.validator == "required":
        return f"config key '{where}' is missing {error.message.split(' is a required')[0]}. {described}"
    return f"config key '{where}': {error.message}. {described}"


def _typed(value):
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    if isinstance(value, str):
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        return parsed if parsed is None or isinstance(parsed, (bool, int, float)) else value
    return value


def type_cli_config(config):
    """Give nested `--config` values YAML types: snakemake reads `seeds=[0,1]` as ['0', '1'] (it types only
    top-level values), which the schema and neonas would reject as text."""
    for key in workflow.config_settings.overwrite_config or {}:
        if key in config:
            config[key] = _typed(config[key])


def check_config(config, schema_path):
    """Raise WorkflowError listing every problem of `config`, one line each, or return quietly."""
    with open(Path(workflow.basedir, schema_path)) as fh:
        schema = yaml.safe_load(fh)
    errors = sorted(Draft202012Validator(schema).iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        problems = "\n  ".join(_config_problem(e).strip() for e in errors)
        raise WorkflowError(
            f"the study config is not valid:\n  {problems}\n"
            f"Every key is described in {schema_path}; config files are config/config.yaml and any --configfile."
        )
