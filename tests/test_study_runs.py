"""Reading a study's runs (neonas.study.runs): what a missing file means."""

from __future__ import annotations

import pytest

from neonas.errors import NeonasError
from neonas.study.runs import read_metrics
from studyfixture import write_metrics


def test_read_metrics_skips_ranks_derive_did_not_return_but_not_lost_files(tmp_path):
    """derive may return fewer than top_k architectures; the retrain job then has no rank<R>/ for the rest. A missing
    metrics.json inside an existing rank directory is still an error."""
    job = tmp_path / "retrain/nas/identity/seed0/fold0"
    write_metrics(job / "rank0/metrics.json", "nas", "identity", 0, 0, 0, 0.7)
    df = read_metrics([str(job / "rank0/metrics.json"), str(job / "rank1/metrics.json")])
    assert list(df["rank"]) == [0]
    (job / "rank1").mkdir()
    with pytest.raises(NeonasError, match="rank1"):
        read_metrics([str(job / "rank0/metrics.json"), str(job / "rank1/metrics.json")])
