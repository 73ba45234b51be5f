#!/usr/bin/env bash
# Install the neonas SLURM profile for snakemake, so that `snakemake --profile slurm` finds it.
# Needs only bash and cp (not neonas). Run it once per cluster account, then edit partition and account.
set -euo pipefail

usage() {
  cat <<'TXT'
usage: bash scripts/install-profile.sh [--small] [--dest DIR] [--force]

Copies profiles/slurm/config.yaml of this checkout to DIR/config.yaml, where DIR defaults to
${XDG_CONFIG_HOME:-~/.config}/snakemake/slurm, one of the places `snakemake --profile slurm` looks.
  --small      install profiles/slurm-small instead (small nodes: 2 CPUs, 1 GPU, 8 GB per job)
  --dest DIR   install somewhere else (a profile folder of your own, a shared /etc/xdg/snakemake/slurm)
  --force      replace an installed profile that differs (the old one is kept as config.yaml.bak)
Then set slurm_partition / slurm_account in DIR/config.yaml (docs/cluster.md).
TXT
}

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src="$repo/profiles/slurm/config.yaml"
dest="${XDG_CONFIG_HOME:-$HOME/.config}/snakemake/slurm"
force=0
while [ $# -gt 0 ]; do
  case "$1" in
    --dest) [ $# -ge 2 ] || { echo "install-profile: --dest needs a folder" >&2; exit 2; }; dest=$2; shift 2 ;;
    --force) force=1; shift ;;
    --small) src="$repo/profiles/slurm-small/config.yaml"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install-profile: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
done

[ -f "$src" ] || { echo "install-profile: $src not found (run this script from a neonas checkout)" >&2; exit 2; }
if [ -f "$dest/config.yaml" ] && ! cmp -s "$src" "$dest/config.yaml"; then
  if [ "$force" != 1 ]; then
    echo "install-profile: $dest/config.yaml exists and differs from $src;" >&2
    echo "  keep it, or rerun with --force to replace it (the old one is kept as config.yaml.bak)" >&2
    exit 1
  fi
  cp "$dest/config.yaml" "$dest/config.yaml.bak"
fi
mkdir -p "$dest"
cp "$src" "$dest/config.yaml.tmp.$$" && mv "$dest/config.yaml.tmp.$$" "$dest/config.yaml"
echo "installed the neonas SLURM profile: $dest/config.yaml"

# Friendly checks; none of them is needed for the install itself.
command -v snakemake >/dev/null 2>&1 || echo "note: snakemake is not on PATH here (activate the environment that has it)"
command -v sbatch >/dev/null 2>&1 || echo "note: sbatch is not on PATH here (this is not a SLURM login node?)"
if command -v python3 >/dev/null 2>&1 && ! python3 -c "import snakemake_executor_plugin_slurm" >/dev/null 2>&1; then
  echo "note: python3 here lacks snakemake-executor-plugin-slurm (pip install snakemake-executor-plugin-slurm)"
fi
echo "next: set slurm_partition / slurm_account in $dest/config.yaml, then: snakemake --profile slurm -n"
