"""LaTeX escaping, booktabs tables and the bundle file."""

from __future__ import annotations

import pandas as pd

from neonas.study import latex


def test_escape_specials():
    assert latex.escape("95% of sleep_stage & more") == r"95\% of sleep\_stage \& more"
    assert latex.escape("$1 #2 {x} ~ ^") == r"\$1 \#2 \{x\} \textasciitilde{} \textasciicircum{}"
    assert latex.escape("a\\b") == r"a\textbackslash{}b"
    assert latex.escape("0.71 ± 0.01, τ, κ, ≥ 2 × 3") == r"0.71 $\pm$ 0.01, $\tau$, $\kappa$, $\geq$ 2 $\times$ 3"
    assert latex.escape("p <0.001") == r"p \textless{}0.001"
    assert latex.escape("sigmoid-t0.8-s20") == "sigmoid-t0.8-s20"


def test_tabular_is_booktabs_with_escaped_cells_and_alignment():
    df = pd.DataFrame({"Method": ["NAS, sigmoid_t0.8", "R&D 50%"], "Accuracy": ["0.711 ± 0.009", "0.650 ± n/a"],
                       "p": ["<0.001", "0.25"]})
    text = latex.tabular(df)
    lines = text.splitlines()
    assert lines[0] == r"\begin{tabular}{lrr}"  # text left, numbers right
    assert lines[1] == r"\toprule" and lines[3] == r"\midrule" and lines[-1] == r"\end{tabular}"
    assert lines[2] == r"Method & Accuracy & p \\"
    assert lines[4] == r"NAS, sigmoid\_t0.8 & 0.711 $\pm$ 0.009 & \textless{}0.001 \\"
    assert lines[5] == r"R\&D 50\% & 0.650 $\pm$ n/a & 0.25 \\"
    assert r"\bottomrule" in lines
    assert latex.tabular(df, "lll").startswith(r"\begin{tabular}{lll}")


def test_bundle_has_every_float_with_caption_label_and_macros():
    floats = [latex.Float("figure", "fig_accuracy_over_epochs", "Accuracy of 100% children_x"),
              latex.Float("table", "tab_results", "Results & more"),
              latex.Float("table", "tab_archstats", "Wide", wide=True)]
    text = latex.bundle(floats, {"neonasTrustVerdict": "Yes: tau = 0.5 (p < 0.05)"}, "study demo_1")
    assert r"\providecommand{\neonasdir}{.}" in text
    assert r"\includegraphics[width=\linewidth]{\neonasdir/figures/fig_accuracy_over_epochs.pdf}" in text
    assert r"\caption{Accuracy of 100\% children\_x}" in text
    assert r"\label{fig:neonas-accuracy-over-epochs}" in text
    assert r"\label{tab:neonas-results}" in text
    assert r"  \input{\neonasdir/tables/tab_results.tex}" in text
    assert r"\resizebox{\linewidth}{!}{\input{\neonasdir/tables/tab_archstats.tex}}" in text
    assert r"\def\neonasTrustVerdict{Yes: tau = 0.5 (p \textless{} 0.05)}" in text
    assert text.count(r"\begin{figure}") == 1 and text.count(r"\begin{table}") == 2
    assert text.count("{") == text.count("}")  # balanced braces
    assert text.count(r"\begin{") == text.count(r"\end{")
