"""Train one architecture from scratch on a fold's training infants, then evaluate it on its test infants.

The architecture is a searched one (`--arch derived.json [--rank R]` or a bare `--arch ARCH.json`) or
the hand-designed reference net (`--baseline handcrafted`, see neonas.training.baseline); all go through the
same training code and config, so they differ only in architecture. Training uses class-weighted
cross-entropy (neonatal stages are imbalanced) and early stopping on the fold's validation infants,
keeping the weights of the best validation epoch (by `monitor`, default Cohen's kappa).

Writes DIR/model.pt, DIR/history.csv and, unless --no-evaluate, DIR/metrics.json (docs/retrain.md).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from neonas import __version__
from neonas.config import from_dict, load_yaml, set_dotted
from neonas.errors import NeonasError
from neonas.io import read_json, save_torch_atomic, write_text_atomic
from neonas.metrics import classification_report
from neonas.store.data import EEGDataset
from neonas.store.splits import Fold, load_fold
from neonas.torchutil import autocast, seed_everything, select_device
from neonas.training import baseline
from neonas.training.evaluate import evaluate, load_split, make_model, parse_meta, predict, write_metrics
from neonas.training.modelcard import training_cohort, training_preprocess
from neonas.training.recipe import AugmentConfig, EarlyStopping, RetrainConfig

__all__ = ["AugmentConfig", "RetrainConfig", "ArchChoice", "choose_arch", "train", "retrain", "load_config"]

log = logging.getLogger(__name__)

HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "val_accuracy", "val_kappa", "val_balanced_accuracy",
                   "val_macro_f1", "seconds")


def load_config(path: str | None, overrides: list[str] | None) -> RetrainConfig:
    """The recipe of a YAML file and --set overrides; refused where early stopping could keep only the last epoch."""
    data = load_yaml(path) if path else {}
    for item in overrides or []:
        set_dotted(data, item)
    cfg = from_dict(RetrainConfig, data, path or "retrain config")
    problem = cfg.warmup_problem()
    if problem:
        raise NeonasError(problem, path or "--set")
    return cfg


def class_weights(y: np.ndarray, n_classes: int, scheme: str) -> np.ndarray:
    """Per-class loss weights w_c = N * n_c^-p / sum_k n_k^(1-p), p = 1 (inverse), 0.5 (sqrt_inverse), 0 (none).

    The mean weight over training epochs is then exactly 1, so the loss scale does not depend on the
    scheme. A class absent from training gets weight 1 (it only matters for the validation loss).
    """
    p = {"inverse": 1.0, "sqrt_inverse": 0.5, "none": 0.0}[scheme]
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    present = counts > 0
    w = np.ones(n_classes)
    w[present] = len(y) * counts[present] ** -p / np.sum(counts[present] ** (1 - p))
    return w


# ---------------------------------------------------------------------------------------------------
# which architecture


@dataclass
class ArchChoice:
    arch: dict
    space: dict
    arch_hash: str
    meta: dict  # defaults for metrics.json 'meta' (rank, supernet_metric, arm, reward)
    source: str
    search_ids: list[str] = field(default_factory=list)  # infants the search saw (train + val), if known


def choose_arch(arch_path: str | None, rank: int | None, baseline_name: str | None) -> ArchChoice:
    """Resolve `--arch`/`--rank`/`--baseline` into an architecture and the search space it lives in."""
    if baseline_name is not None:
        if rank is not None:
            raise NeonasError("--rank only applies to --arch derived.json")
        return ArchChoice({"baseline": baseline.NAME}, baseline.default_space(), baseline.NAME,
                          {"arm": "handcrafted", "rank": 0}, baseline.NAME)
    path = Path(arch_path)
    doc = read_json(path, "architecture file not found")
    from neonas.engine.space import arch_hash, validate_arch

    if "top" in doc:  # derived.json from `neonas derive`
        rank = 0 if rank is None else rank
        entries = [e for e in doc["top"] if e.get("rank") == rank]
        if not entries:
            raise NeonasError(f"no architecture of rank {rank}; ranks are {[e.get('rank') for e in doc['top']]}", path)
        entry = entries[0]
        validate_arch(entry.get("arch"), where=f"{path}: rank {rank}")
        space, summary = _search_space(doc, path)
        meta = {"rank": rank, "supernet_metric": entry.get("supernet_metric")}
        if summary.get("sampler") is not None:
            meta["arm"] = "random" if summary["sampler"] == "random" else "nas"
        if summary.get("reward_name") is not None:
            meta["reward"] = summary["reward_name"]
        search_ids = sorted(set(summary.get("train_ids", [])) | set(summary.get("val_ids", [])))
        return ArchChoice(entry["arch"], space, entry.get("hash") or arch_hash(entry["arch"]), meta,
                          f"{path} rank {rank}", search_ids)
    if rank is not None:
        raise NeonasError("--rank only applies to a derived.json (this file has no 'top' list)", path)
    if "layers" in doc:  # a bare architecture: the default search space
        from neonas.engine.space import SpaceConfig

        validate_arch(doc, where=str(path))
        return ArchChoice(doc, asdict(SpaceConfig()), arch_hash(doc), {}, str(path))
    if "arch" in doc and "space" in doc:  # {"arch": {...}, "space": {...}}
        validate_arch(doc["arch"], where=str(path))
        return ArchChoice(doc["arch"], doc["space"], arch_hash(doc["arch"]), {}, str(path))
    raise NeonasError("expected derived.json (with 'top'), an architecture (with 'layers') "
                      "or {'arch': ..., 'space': ...}", path)


def _search_space(derived: dict, path: Path) -> tuple[dict, dict]:
    """The search space of a derived.json (stored in it, or in its run's summary.json) and that summary."""
    candidates = [Path(derived["run"]) / "summary.json"] if derived.get("run") else []
    candidates.append(path.parent / "summary.json")  # derived.json usually lives in its run directory
    summary_path = next((c for c in candidates if c.exists()), None)
    summary = json.loads(summary_path.read_text()) if summary_path else {}
    if derived.get("sampler") is not None:
        summary.setdefault("sampler", derived["sampler"])
    space = derived.get("space") or summary.get("config", {}).get("space")
    if space is None:
        raise NeonasError(f"has no 'space' and no search summary.json with config.space (looked at "
                          f"{[str(c) for c in candidates]}); cannot rebuild the searched architecture", path)
    return space, summary


# ---------------------------------------------------------------------------------------------------
# training


def train(model: torch.nn.Module, tr: EEGDataset, va: EEGDataset, cfg: RetrainConfig, device: torch.device,
          seed: int) -> tuple[dict, list[dict], int]:
    """Train with early stopping; return (best state_dict on CPU, history rows, best epoch)."""
    weights = torch.tensor(class_weights(tr.y, tr.n_classes, cfg.class_weighting), dtype=torch.float32, device=device)
    log.info("training epochs per class %s, loss weights %s", dict(zip(tr.label_names, tr.class_counts().tolist(), strict=True)),
             [round(w, 3) for w in weights.tolist()])
    x_tr, y_tr = torch.from_numpy(tr.x).to(device), torch.from_numpy(tr.y).to(device)
    y_va = torch.from_numpy(va.y)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(seed)  # batch order and augmentation, independent of model init
    stopper, best_state = EarlyStopping(cfg), None  # which epoch to keep (neonas.training.recipe)
    history = []
    bar = tqdm(range(1, cfg.epochs + 1), desc="retrain", unit="epoch", disable=None)  # no bar in log files
    for epoch in bar:
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(len(y_tr), generator=gen, device="cpu").to(device)
        total, seen = 0.0, 0
        for i in range(0, len(perm), cfg.batch_size):
            idx = perm[i:i + cfg.batch_size]
            if len(idx) < 2:  # a batch of one breaks batch norm and adds nothing
                continue
            xb = _augment(x_tr[idx], cfg.augment, tr.sfreq, gen) if cfg.augment.enabled else x_tr[idx]
            with autocast(device):
                logits = model(xb)
            loss = F.cross_entropy(logits.float(), y_tr[idx], weight=weights)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            total += loss.item() * len(idx)
            seen += len(idx)
        logits_va = torch.from_numpy(predict(model, va.x, device))
        val_loss = F.cross_entropy(logits_va, y_va, weight=weights.cpu()).item()
        rep = classification_report(va.y, logits_va.argmax(1).numpy(), va.label_names)
        # better = higher monitor; on a tie (e.g. kappa 0 while the net still predicts one class) lower val loss
        value = val_loss if cfg.monitor == "val_loss" else float(rep[cfg.monitor])
        if stopper.update(epoch, value, val_loss):
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        history.append({"epoch": epoch, "train_loss": total / max(seen, 1), "val_loss": val_loss,
                        "val_accuracy": rep["accuracy"], "val_kappa": rep["kappa"],
                        "val_balanced_accuracy": rep["balanced_accuracy"], "val_macro_f1": rep["macro_f1"],
                        "seconds": time.perf_counter() - t0})
        best_epoch = stopper.best_epoch
        bar.set_postfix(loss=f"{history[-1]['train_loss']:.3f}", val_kappa=f"{rep['kappa']:.3f}", best=best_epoch)
        (log.debug if not bar.disable else log.info)(
            "epoch %d: train loss %.4f, val loss %.4f, val kappa %.3f, val accuracy %.3f (best epoch %d)",
            epoch, history[-1]["train_loss"], val_loss, rep["kappa"], rep["accuracy"], best_epoch)
        if stopper.stop:
            log.info("early stop at epoch %d: no better validation %s for %d epochs (best epoch %d)",
                     epoch, cfg.monitor, cfg.patience, best_epoch)
            break
    bar.close()
    return best_state, history, best_epoch


def _augment(x: torch.Tensor, aug: AugmentConfig, sfreq: float, gen: torch.Generator) -> torch.Tensor:
    b, c, t = x.shape
    if aug.amplitude_scale > 0:
        scale = 1 + aug.amplitude_scale * (2 * torch.rand(b, c, 1, generator=gen) - 1)
        x = x * scale.to(x.device)
    if aug.noise_std > 0:
        x = x + aug.noise_std * torch.randn(x.shape, generator=gen).to(x.device)
    max_shift = int(aug.max_shift_s * sfreq)
    if max_shift > 0:
        shifts = torch.randint(-max_shift, max_shift + 1, (b,), generator=gen)
        idx = (torch.arange(t)[None, :] - shifts[:, None]) % t
        x = torch.gather(x, 2, idx[:, None, :].expand(b, c, t).to(x.device))
    return x


def write_history(path: Path, history: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HISTORY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    write_text_atomic(path, buf.getvalue())


def retrain(choice: ArchChoice, folds: str, fold_index: int, seed: int, cfg: RetrainConfig, out: str,
            device: torch.device, meta: dict, do_evaluate: bool = True, split: Fold | None = None) -> dict:
    """Train, write model.pt and history.csv (and metrics.json, predictions.tsv); return the checkpoint dict.

    `split` replaces fold `fold_index` of the folds file: `neonas final` trains on every infant of a study
    (test_ids empty, fold None, `folds` names its split.json) with this same code."""
    fold = split or load_fold(folds, fold_index)
    searched_on_test = sorted(set(choice.search_ids) & set(fold.test_ids))
    if searched_on_test:
        raise NeonasError(f"the architecture was chosen by a search that trained or validated on infant(s) "
                          f"{searched_on_test}, which are test infants of fold {fold_index}; retrain it on the "
                          "fold it was searched on", choice.source)
    tr = load_split(fold, "train", folds, cfg.drop_artifacts)
    va = load_split(fold, "val", folds, cfg.drop_artifacts)
    preprocess = training_preprocess(fold.train + fold.val)  # stored in model.pt for `neonas predict`
    for name, a, b in (("channels", tr.ch_names, va.ch_names), ("labels", tr.label_names, va.label_names),
                       ("sfreq", tr.sfreq, va.sfreq), ("epoch_s", tr.epoch_s, va.epoch_s)):
        if a != b:
            raise NeonasError(f"fold {fold_index}: training infants have {name} {a} but validation infants {b}; "
                              "preprocess all infants alike", folds)
    for name, ds in (("training", tr), ("validation", va)):
        if len(ds) == 0:
            raise NeonasError(f"fold {fold_index}: the {name} infants {ds.infant_ids} have no labelled epochs", folds)
    log.info("fold %s: %d training epochs (%s), %d validation epochs (%s); architecture %s on %s",
             fold_index, len(tr), tr.infant_ids, len(va), va.infant_ids, choice.source, device)

    seed_everything(seed)
    try:
        model = make_model(choice.arch, choice.space, tr.n_channels, tr.n_samples, tr.n_classes, tr.sfreq)
    except NeonasError as err:
        raise NeonasError(str(err), choice.source) from None
    except (ValueError, KeyError, TypeError) as err:
        raise NeonasError(f"cannot build architecture {choice.arch_hash} for {tr.n_channels} channels x "
                          f"{tr.n_samples} samples: {err}", choice.source) from None
    model.to(device)
    n_params = sum(p.numel() for p in model.parameters())
    t0 = time.perf_counter()
    best_state, history, best_epoch = train(model, tr, va, cfg, device, seed)
    train_seconds = time.perf_counter() - t0
    model.load_state_dict(best_state)

    out = Path(out)
    ckpt = {
        "arch": choice.arch, "space": choice.space, "state_dict": best_state,
        "label_names": tr.label_names, "ch_names": tr.ch_names, "sfreq": tr.sfreq, "n_samples": tr.n_samples,
        "epoch_s": tr.epoch_s, "meta": {"seed": seed, "fold": fold_index, **choice.meta, **meta},
        "arch_hash": choice.arch_hash, "n_params": n_params, "fold": fold_index, "seed": seed,
        "train_ids": fold.train_ids, "val_ids": fold.val_ids, "test_ids": fold.test_ids,
        "train_sha256": [s for s in tr.source_sha256 if s], "val_sha256": [s for s in va.source_sha256 if s],
        "search_ids": choice.search_ids, "preprocess": preprocess,
        "training_cohort": training_cohort(fold.train + fold.val),
        "best_epoch": best_epoch, "epochs_run": len(history), "monitor": cfg.monitor,
        "device": str(device), "config": asdict(cfg),  # no timings: identical runs give identical bytes
        "neonas_version": __version__,
    }
    save_torch_atomic(ckpt, out / "model.pt")
    write_history(out / "history.csv", history)
    log.info("best epoch %d of %d (%s), %d parameters, %.1f s -> %s", best_epoch, len(history), cfg.monitor,
             n_params, train_seconds, out / "model.pt")
    if do_evaluate:
        report = evaluate(model, ckpt, fold, "test", folds, str(out / "model.pt"), device,
                          predictions=out / "predictions.tsv")  # train_seconds: from history.csv, as evaluate's
        write_metrics(out / "metrics.json", report)
        print(f"test {report['test_ids']}: accuracy {report['accuracy']:.3f}  kappa {report['kappa']:.3f}  "
              f"macro-F1 {report['macro_f1']:.3f}  -> {out / 'metrics.json'}")
    return ckpt


def add_arguments(p: argparse.ArgumentParser) -> None:
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--arch", metavar="JSON", help="derived.json from `neonas derive` (pick one with --rank), "
                      "or a single architecture JSON ({'layers': [...]})")
    what.add_argument("--baseline", choices=[baseline.NAME],
                      help="train the hand-designed reference CNN instead (Chambon et al. 2018, see docs/retrain.md)")
    p.add_argument("--rank", type=int, help="which of derived.json's top architectures (0 = best; default 0)")
    p.add_argument("--folds", required=True, metavar="FOLDS.json", help="the folds file (from `neonas folds`)")
    p.add_argument("--fold", required=True, type=int, help="train on this fold's training infants")
    p.add_argument("--seed", required=True, type=int, help="seed for weights, batch order and dropout")
    p.add_argument("--config", metavar="RETRAIN.yaml", help="training settings (keys of RetrainConfig, "
                   "see docs/retrain.md); defaults otherwise")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override one config key, e.g. --set epochs=20 --set augment.enabled=true (repeatable)")
    p.add_argument("--meta", action="append", metavar="KEY=VALUE",
                   help="context stored in model.pt and metrics.json under 'meta' (repeatable), e.g. --meta arm=nas")
    p.add_argument("--no-evaluate", action="store_true", help="do not write metrics.json (use `neonas evaluate` later)")
    p.add_argument("--device", default="auto", help="auto (CUDA with bf16 autocast if present), cpu or cuda[:N] "
                   "(default: auto)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory for model.pt, history.csv, metrics.json")


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, args.set)
    meta = parse_meta(args.meta)
    device = select_device(args.device)
    choice = choose_arch(args.arch, args.rank, args.baseline)
    retrain(choice, args.folds, args.fold, args.seed, cfg, args.out, device, meta, do_evaluate=not args.no_evaluate)
    return 0
