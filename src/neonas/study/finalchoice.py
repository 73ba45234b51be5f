"""The final model's section of summary.html: which architecture `neonas final` chose, why, and the candidates
(from results/<study>/final/choice.json; docs/retrain.md, "The final model")."""

from __future__ import annotations

import html
from pathlib import Path

from neonas.io import read_json

SHOWN = 10  # candidates listed (the best by the choice's criterion first); choice.json has them all


def _esc(v: object) -> str:
    return html.escape(str(v), quote=True)


def _num(v) -> str:
    return "" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def choice_html(final_dir: str | Path) -> str:
    """A <section> naming the chosen architecture, the reason (and any fallback), and the top candidates."""
    path = Path(final_dir) / "choice.json"
    doc = read_json(path, "no choice.json (run `neonas final` first)")
    key = "yardstick_mean" if doc.get("method") == "yardstick" else "mean_kappa"
    cands = sorted(doc.get("candidates", []),
                   key=lambda c: (not c.get("chosen"), c.get(key) is None, -(c.get(key) or 0.0)))
    cols = [("arch_hash", "architecture"), ("sources", "found by (arm:setting)"), ("n_runs", "runs"),
            ("mean_kappa", "mean test kappa"), ("sd_kappa", "SD"), ("mean_macro_f1", "mean macro-F1"),
            ("yardstick_mean", "yardstick"), ("chosen", "chosen")]
    head = "".join(f"<th>{_esc(label)}</th>" for _, label in cols)
    rows = "".join("<tr>" + "".join(f"<td>{_esc(_num(c.get(k)))}</td>" for k, _ in cols) + "</tr>"
                   for c in cands[:SHOWN])
    more = f"<p class='files'>{len(cands) - SHOWN} more in choice.json.</p>" if len(cands) > SHOWN else ""
    notes = [f"Asked for <b>{_esc(doc.get('requested'))}</b>, but: {_esc(doc['fallback_reason'])}; chose by kappa."
             if doc.get("fallback_reason") else "", _esc(doc["note"]) + "." if doc.get("note") else ""]
    folder = Path(final_dir).name
    return (f"<section id='final-model'>\n<h2>The final model</h2>\n"
            f"<p>Architecture <b>{_esc(doc.get('arch_hash'))}</b> ({_esc(doc.get('sources'))}): {_esc(doc.get('why'))}. "
            f"Trained on every infant ({len(doc.get('train_ids', []))} for training, early stopping on "
            f"{_esc(', '.join(doc.get('val_ids', [])))}); its metrics are those of its folds, optimistic when it was "
            f"chosen on them. Files: {_esc(folder)}/model.pt, model.ts, model_card.md, choice.json.</p>\n"
            + "".join(f"<p>{n}</p>\n" for n in notes if n)
            + f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>{more}\n</section>")
