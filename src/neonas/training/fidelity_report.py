"""The fidelity check's files: fidelity.json, panel.csv and the figure fidelity.png (split from fidelity.py)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

PANEL_COLUMNS = ["arch_hash", "homogeneous", "standalone_mean", "standalone", "supernet", "arch"]


def write_outputs(result: dict, out: Path) -> None:
    from neonas.io import atomic_dir

    with atomic_dir(out) as tmp:
        (tmp / "fidelity.json").write_text(json.dumps(result, indent=2) + "\n")
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(PANEL_COLUMNS)
        for row in result["panel"]:
            w.writerow([row["arch_hash"], row["homogeneous"] or "", f"{np.mean(row['standalone']):.4f}",
                        " ".join(f"{v:.4f}" for v in row["standalone"]), " ".join(f"{v:.4f}" for v in row["supernet"]),
                        row["arch"]])
        (tmp / "panel.csv").write_text(buf.getvalue())
        plot(result, tmp / "fidelity.png")


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ref = [np.mean(r["standalone"]) for r in result["panel"]]
    sup = np.array([r["supernet"] for r in result["panel"]])
    for n, seed in enumerate(result["config"]["supernet_seeds"]):
        ax1.scatter(ref, sup[:, n], s=18, label=f"supernet seed {seed} (tau {result['final']['tau_per_seed'][n]:+.2f})")
    ax1.set_xlabel(f"stand-alone {result['metric']} (mean over seeds)")
    ax1.set_ylabel(f"supernet {result['metric']}")
    ax1.legend(fontsize=7)
    ax1.set_title("panel nets: shared weights vs trained alone")
    epochs = [c["epoch"] for c in result["curve"]]
    ax2.plot(epochs, [c["tau"] for c in result["curve"]], "o-", label="mean tau over supernet seeds")
    ax2.plot(epochs, [c["needed"] for c in result["curve"]], "--", color="grey",
             label=f"needed ({result['config']['ratio']:g} x split-half)")
    ax2.axhline(0, color="k", lw=0.5)
    ax2.set_ylim(-1, 1)
    ax2.set_xlabel("uniform supernet epochs")
    ax2.set_ylabel("Kendall tau")
    ax2.legend(fontsize=7)
    ax2.set_title("fidelity over the warm-up")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
