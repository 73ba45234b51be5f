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
    key = {"yardstick": "yardstick_mean", "validation": "selection_kappa"}.get(doc.get("method"), "mean_kappa")
    cands = sorted(doc.get("candidates", []),
                   key=lambda c: (not c.get("chosen"), c.get(key) is None, -(c.get(key) or 0.0)))
    cols = [("arch_hash", "architecture"), ("sources", "found by (arm:setting)"), ("n_runs", "runs"),
            ("mean_kappa", "mean test kappa"), ("sd_kappa", "SD"), ("mean_macro_f1", "mean macro-F1"),
            ("yardstick_mean", "yardstick"), ("chosen", "chosen")]
    if doc.get("method") == "validation":
        cols[3:7] = [("selection_kappa", "selection: mean validation kappa"), ("ci_low", "95 % low"),
                     ("ci_high", "95 % high"), ("held_out_kappa", "held-out (test) kappa"), ("optimism", "optimism")]
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
            f"{_esc(', '.join(doc.get('val_ids', [])))}). "
            f"Files: {_esc(folder)}/model.pt, model.ts, model_card.md, choice.json.</p>\n"
            + own_scores_html(doc, Path(final_dir))
            + "".join(f"<p>{n}</p>\n" for n in notes if n)
            + f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>{more}\n</section>")


def own_scores_html(doc: dict, final_dir: Path) -> str:
    """This model's own scores (validation at the kept epoch; the unseen recording of `neonas score`), beside
    its architecture's fold estimate, any warning, and the selection's optimism (issues 23, 24)."""
    v, est = doc.get("validation"), doc.get("fold_estimate")
    if not v or not est:
        return "<p>Its metrics are those of its folds, optimistic when it was chosen on them.</p>\n"
    rec = lambda r: ", ".join(f"{_esc(k)} {_num(x)}" for k, x in (r.get("per_class_recall") or {}).items())  # noqa: E731
    items = [f"<li>its own validation kappa <b>{v['kappa']:.3f}</b> on {_esc(', '.join(v['val_ids']))} at the kept "
             f"epoch {v['best_epoch']} of {v['epochs_run']} (recall {rec(v)})</li>"]
    unseen_path = final_dir / "unseen.json"
    if unseen_path.exists():
        u = read_json(unseen_path, "unseen.json")
        items.append(f"<li>on the unseen recording {_esc(', '.join(u.get('infant_ids', [])))}, never in the study: "
                     f"kappa <b>{u['kappa']:.3f}</b>, accuracy {u['accuracy']:.3f} (recall {rec(u)})</li>")
    ci = f" [{est['ci_low']:.3f}, {est['ci_high']:.3f}]" if est.get("ci_low") is not None else ""
    items.append(f"<li>the fold estimate (its architecture retrained on the study's folds, other models): mean test "
                 f"kappa {est['kappa']:.3f}{ci} over {est['n_runs']} run(s)</li>")
    opt = (doc.get("selection") or {}).get("optimism") or {}
    if opt.get("chosen") is not None:
        pf = opt.get("per_fold_mean")
        items.append(f"<li>optimism of the selection (validation minus held-out kappa of the same trainings): "
                     f"{opt['chosen']:+.3f} for this architecture"
                     + (f", {pf:+.3f} on average for each fold's own winner ({opt['n_folds']} fold(s))"
                        if pf is not None else "") + "</li>")
    warn = "".join(f"<p class='warning'><b>Warning:</b> {_esc(w)}</p>\n" for w in doc.get("warnings", []))
    return f"<ul>{''.join(items)}</ul>\n{warn}"
