"""Figures: byte-identical reruns, TrueType fonts, text width, diagrams with the right arcs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from studyfixture import FANCY

# Draws two figures (a rasterised scatter and a diagram) from fixed data into the folder given as argv[1].
DRAW = """
import sys
from pathlib import Path
import numpy as np, pandas as pd
sys.path.insert(0, {tests!r})
from studyfixture import FANCY
from neonas.study import archstats
from neonas.study import figures as F
from neonas.study import figures_arch as FA
out = Path(sys.argv[1])
epochs = np.repeat(np.arange(6), 4)
children = pd.DataFrame({{"arm": "nas", "setting": "identity", "seed": 0, "fold": epochs % 2, "epoch": epochs,
                         "metric": 0.4 + 0.02 * epochs + 0.01 * (np.arange(24) % 4)}})
curves = pd.DataFrame({{"arm": "nas", "setting": "identity", "epoch": np.arange(6), "n": 4,
                       "q25": 0.4 + 0.02 * np.arange(6), "median": 0.42 + 0.02 * np.arange(6),
                       "q75": 0.44 + 0.02 * np.arange(6)}})
s = [("nas", "identity")]
F.save(F.accuracy_over_epochs(children, curves, s, s), out / "acc")
F.save(FA.arch_diagram(FANCY, "fancy", archstats.Geometry(sfreq=64.0, step_samples=16)), out / "arch")
"""


def _draw(out: Path, hash_seed: str) -> subprocess.Popen:
    """Start drawing in a fresh interpreter (its own hash seed, no SOURCE_DATE_EPOCH)."""
    out.mkdir()
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    env.pop("SOURCE_DATE_EPOCH", None)
    script = DRAW.format(tests=str(Path(__file__).parent))
    return subprocess.Popen([sys.executable, "-c", script, str(out)], env=env)


def test_reruns_are_byte_identical_with_truetype_fonts_and_text_width(tmp_path):
    jobs = [_draw(tmp_path / "a", "1"), _draw(tmp_path / "b", "2")]  # side by side: two cores
    assert [job.wait(timeout=120) for job in jobs] == [0, 0]
    for name in ("acc.pdf", "acc.png", "arch.pdf", "arch.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    pdf = (tmp_path / "a" / "acc.pdf").read_bytes()
    assert b"/FontFile2" in pdf  # TrueType (Type 42) fonts embedded
    assert b"/Type3" not in pdf
    assert b"CreationDate" not in pdf  # no timestamp
    box = re.search(rb"/MediaBox \[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
    assert float(box.group(1)) <= 6.3 * 72 + 0.01  # fits a 6.3 in text width


def test_diagram_draws_one_arc_per_skip_and_a_box_per_layer():
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    from neonas.study import archstats
    from neonas.study import figures as F
    from neonas.study import figures_arch as FA

    fig = FA.arch_diagram(FANCY, "fancy", score="supernet score 0.412")
    ax = fig.axes[0]
    assert ax.get_title() == f"fancy {archstats.arch_hash(FANCY)} (4 layers, 6 skips; supernet score 0.412)"
    arcs = [p for p in ax.patches if isinstance(p, FancyArrowPatch) and p.get_edgecolor()[0] > 0.5]
    boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
    assert len(arcs) == 6  # FANCY has skips [0], [0, 1], [0, 1, 2]
    assert len(boxes) == 4 + 2  # stem, 4 layers, head
    texts = [t.get_text() for t in ax.texts]
    assert "conv\nspan 2 x dil 2\n= 3 el.\nt = 3" in texts  # no ms without a sampling rate
    assert "avg pool\n(time)" in texts
    F.plt.close(fig)


def test_missing_data_gives_a_placeholder_not_an_error():
    from neonas.study import figures as F
    from neonas.study import figures_arch as FA

    empty = pd.DataFrame(columns=["arm", "setting", "seed", "fold", "epoch", "metric"])
    fig = F.accuracy_over_epochs(empty, pd.DataFrame(), [("nas", "identity")], [("nas", "identity")])
    assert "No sampled children" in fig.texts[0].get_text()
    fig = FA.arch_diagram(None, "Best architecture")
    assert "no architecture available" in fig.texts[0].get_text()
    fig = FA.arch_diagram(None, "Weak 'fancy' architecture", missing="none of the samples has a skip")
    assert "(none of the samples has a skip)" in fig.texts[0].get_text()  # says why, draws no other net
    assert fig.get_size_inches()[0] == F.WIDTH
    F.plt.close("all")


def test_confusion_cells_carry_percentages_and_counts():
    from neonas.study import figures as F

    cm = [[48, 6, 6, 0], [6, 48, 6, 0], [12, 0, 48, 0], [0, 0, 0, 0]]  # no IS epochs at all
    stages = ["AS", "QS", "W", "IS"]
    rows = [{"arm": "nas", "setting": "identity", "true": t, "pred": p, "count": cm[i][j],
             "row_share": cm[i][j] / sum(cm[i]) if sum(cm[i]) else float("nan")}
            for i, t in enumerate(stages) for j, p in enumerate(stages)]
    fig = F.confusion_matrices(pd.DataFrame(rows), [("nas", "identity")])
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "80%\n48" in texts and "10%\n6" in texts and "20%\n12" in texts
    assert texts[-4:] == ["0", "0", "0", "0"]  # the empty IS row: counts, no made-up percentage
    assert "180 epochs" in fig.axes[0].get_title()
    F.plt.close(fig)


def test_axes_start_at_zero_and_flat_curves_say_their_range():
    from neonas.study import figures as F

    epochs = np.arange(20)
    ctrl = pd.DataFrame({"arm": "nas", "setting": "sigmoid", "epoch": epochs,
                         "entropy_median": 16.70 - 0.0075 * epochs, "entropy_q25": 16.5, "entropy_q75": 16.7,
                         "baseline_median": 0.002, "baseline_q25": 0.001, "baseline_q75": 0.003})
    fig = F.controller_curves(ctrl, [("nas", "sigmoid")], uniform_entropy=16.70, reward_max=1.0)
    entropy, baseline = fig.axes
    assert entropy.get_ylim()[0] == 0 and entropy.get_ylim()[1] >= 16.70  # 0 to the uniform policy's
    assert any(line.get_label() == "uniform policy" for line in entropy.get_lines())
    note = " ".join(t.get_text() for t in entropy.texts)
    assert "small range" in note and "16.6–16.7 nats" in note  # flat at this scale, but it did change
    assert baseline.get_ylim()[0] == 0 and baseline.get_ylim()[1] >= 1.0
    F.plt.close(fig)
    children = pd.DataFrame({"arm": "nas", "setting": "sigmoid", "seed": 0, "fold": 0, "epoch": epochs,
                             "metric": 0.90 + 0.005 * (epochs % 3)})
    curves = pd.DataFrame({"arm": "nas", "setting": "sigmoid", "epoch": epochs, "n": 1, "q25": 0.9,
                           "median": 0.905, "q75": 0.91})
    fig = F.accuracy_over_epochs(children, curves, [("nas", "sigmoid")], [("nas", "sigmoid")])
    assert fig.axes[0].get_ylim() == (0.0, 1.0)  # a share: 0 to 1, not 0.90-0.91
    F.plt.close(fig)
    results = pd.DataFrame({"arm": "nas", "setting": "sigmoid", "supernet_metric": [0.60, 0.62, 0.65],
                            "accuracy": [0.70, 0.71, 0.74]})
    fig = F.supernet_vs_retrained(results, pd.DataFrame(columns=["scope", "arm", "setting", "tau"]),
                                  [("nas", "sigmoid")])
    assert any(t.get_text().startswith("axes cut: x from 0.") for t in fig.axes[0].texts)  # zoomed, and says so
    F.plt.close(fig)
