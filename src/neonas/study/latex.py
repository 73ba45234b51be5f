"""LaTeX output: escaped booktabs tables and the bundle file a thesis \\input's.

Tables are plain `tabular`s (the bundle wraps them in floats with caption and label), so an author
can also \\input one table into a float of their own. Cells are plain text; `escape` makes them
safe (%, _, &, ...) and turns the few symbols the report uses (±, τ, κ, ≥) into math.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
    "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}",
    ">": r"\textgreater{}",
    "±": r"$\pm$", "τ": r"$\tau$", "κ": r"$\kappa$", "≥": r"$\geq$", "≤": r"$\leq$", "×": r"$\times$",
    "−": "$-$", "–": "--", "—": "---", "Δ": r"$\Delta$", "≈": r"$\approx$",
}
_PATTERN = re.compile("|".join(re.escape(k) for k in _SPECIAL))


def escape(text: object) -> str:
    """Plain text -> LaTeX that prints the same characters."""
    return _PATTERN.sub(lambda m: _SPECIAL[m.group(0)], str(text))


def tabular(df: pd.DataFrame, align: str | None = None) -> str:
    """A booktabs tabular of a table of display strings (headers and cells escaped).

    `align` is a column spec such as 'llrr'; by default text columns are left- and numeric-looking
    columns right-aligned.
    """
    cols = list(df.columns)
    if align is None:
        align = "".join("r" if _numeric(df[c]) else "l" for c in cols)
    lines = [rf"\begin{{tabular}}{{{align}}}", r"\toprule",
             " & ".join(escape(c) for c in cols) + r" \\", r"\midrule"]
    for row in df.itertuples(index=False):
        lines.append(" & ".join(escape(v) for v in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", ""]
    return "\n".join(lines)


def _numeric(col: pd.Series) -> bool:
    values = [str(v) for v in col if str(v) not in ("", "n/a")]
    return bool(values) and all(re.fullmatch(r"[<>−-]?\s*[\d.]+([eE][-+]?\d+)?(\s*±\s*([\d.]+|n/a))?%?", v)
                                for v in values)


@dataclass
class Float:
    """One figure or table of the bundle."""

    kind: str  # "figure" | "table"
    name: str  # file stem: figures/<name>.pdf or tables/<name>.tex
    caption: str  # plain text, escaped on output
    wide: bool = False  # scale a wide table down to the text width


def _label(f: Float) -> str:
    """fig_accuracy_over_epochs -> fig:neonas-accuracy-over-epochs."""
    return f"{'fig' if f.kind == 'figure' else 'tab'}:neonas-{f.name.split('_', 1)[1].replace('_', '-')}"


def bundle(floats: list[Float], macros: dict[str, str], title: str) -> str:
    """The one file a thesis \\input's: verdict macros, then every figure and table as a float."""
    lines = [
        f"% {title}: figures and tables made by `neonas report` (do not edit: rerun the report).",
        "% Preamble needs: \\usepackage{graphicx} \\usepackage{booktabs}",
        "% Use: \\newcommand{\\neonasdir}{path/to/this/folder}  then  \\input{path/to/this/folder/neonas_results.tex}",
        "% Verdicts as macros: " + ", ".join(f"\\{m}" for m in macros) + ". Labels:",
        *[f"%   {_label(f)}" for f in floats],
        r"\providecommand{\neonasdir}{.}",
    ]
    for name, text in macros.items():
        lines.append(rf"\def\{name}{{{escape(text)}}}")
    for f in floats:
        lines.append("")
        label = _label(f)
        lines += [rf"\begin{{{f.kind}}}[tbp]", r"  \centering"]
        if f.kind == "figure":
            lines.append(rf"  \includegraphics[width=\linewidth]{{\neonasdir/figures/{f.name}.pdf}}")
            lines += [rf"  \caption{{{escape(f.caption)}}}", rf"  \label{{{label}}}"]
        else:
            lines += [rf"  \caption{{{escape(f.caption)}}}", rf"  \label{{{label}}}", r"  \small"]
            body = rf"\input{{\neonasdir/tables/{f.name}.tex}}"
            lines.append(rf"  \resizebox{{\linewidth}}{{!}}{{{body}}}" if f.wide else f"  {body}")
        lines.append(rf"\end{{{f.kind}}}")
    return "\n".join(lines) + "\n"
