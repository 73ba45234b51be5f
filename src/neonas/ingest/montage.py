"""Match the configured output channels to the channels of a recording.

Each entry of `channels` names a channel of the file (case-insensitively, with or without an "EEG "
prefix and a "-Ref" suffix, or through `aliases`, which work both ways: T3 finds T7 and T7 finds T3),
or, when no channel has that name, a bipolar pair "A-B": one the file stores under alias names of A and
B (T3-C3 finds T7-C3), or else derived from two referential channels A and B of the file (A minus B).
A channel whose name or type says it is not EEG (ECG, EMG, EOG, respiration, "Effort", SpO2...)
is refused unless it is listed in `non_eeg_channels`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from neonas.errors import NeonasError
from neonas.ingest.readers import Channel, Source

log = logging.getLogger(__name__)

#: words in a channel name that say it is not EEG (whole words of the name, case-insensitive)
NON_EEG_WORDS = frozenset({
    "ecg", "ekg", "emg", "eog", "loc", "roc", "chin", "leg", "resp", "respiration", "effort", "thor", "thorax",
    "thoracic", "abd", "abdo", "abdomen", "abdominal", "airflow", "flow", "nasal", "oronasal", "snore", "spo2",
    "sao2", "sat", "pulse", "pleth", "hr", "pr", "heart", "position", "pos", "phono", "temp", "light",
    "event", "hypnogram", "naf", "vab", "vth", "marker", "trigger", "status", "stim",
})
#: MNE channel types that are not EEG
NON_EEG_TYPES = frozenset({"ecg", "emg", "eog", "resp", "bio", "stim", "syst", "gsr", "temperature", "chpi",
                           "exci", "ias", "misc"})


@dataclass
class Derivation:
    """One output channel: `pos` (minus `neg` for a bipolar derivation), channels of the file."""

    name: str
    pos: Channel
    neg: Channel | None = None

    def describe(self) -> str:
        return self.pos.label if self.neg is None else f"{self.pos.label} - {self.neg.label}"


def _norm(name: str) -> str:
    return " ".join(name.split()).casefold()


def _names(label: str) -> set[str]:
    """Every name under which a channel of the file can be addressed: "EEG Fp1-Ref" -> {eeg fp1-ref, fp1-ref, eeg fp1, fp1}."""
    full = _norm(label)
    names = {full}
    bare = full[4:] if full.startswith("eeg ") else full
    names.add(bare)
    for name in list(names):
        if name.endswith("-ref"):
            names.add(name[:-4])
    return names


def alias_groups(aliases: dict[str, list[str]]) -> dict[str, set[str]]:
    """name -> every name it is interchangeable with (itself included), closed both ways and transitively."""
    groups: dict[str, set[str]] = {}
    for key, values in aliases.items():
        group = {_norm(key), *(_norm(v) for v in values)}
        for name in list(group):
            group |= groups.get(name, set())
        for name in group:
            groups[name] = group
    return groups


def non_eeg_reason(ch: Channel) -> str | None:
    """Why `ch` looks like a non-EEG channel (its MNE type or a word of its name), or None."""
    if ch.kind in NON_EEG_TYPES:
        return f"its channel type in the file is '{ch.kind}'"
    words = set(re.split(r"[^a-z0-9]+", ch.label.casefold()))
    words |= {w.rstrip("0123456789") for w in words}  # EOG1, EMG2, NAF1
    hit = sorted(words & NON_EEG_WORDS)
    return f"its name says '{hit[0]}'" if hit else None


#: the end of the message for channels that cannot be found (predict gives its own: it cannot change 'channels')
CONFIG_HINT = "set 'channels' or 'aliases' in the config"


def resolve_montage(source: Source, cfg, hint: str = CONFIG_HINT) -> list[Derivation]:
    """Match every configured channel to the file, as a channel of its own or as "A-B" of two channels."""
    signals = source.channels
    groups = alias_groups(cfg.aliases)

    def find(name: str) -> Channel | None:
        wanted = groups.get(_norm(name), {_norm(name)})
        hits = [s for s in signals if _names(s.label) & wanted]
        if len(hits) > 1:
            raise NeonasError(f"channel '{name}' matches several channels of the file: "
                              f"{', '.join(s.label for s in hits)}; name one exactly in 'channels'", source.path)
        return hits[0] if hits else None

    def find_pair(name: str) -> Channel | None:
        """A bipolar channel of the file named with aliases of both electrodes ("T7-C3" for "T3-C3")."""
        parts = name.split("-")
        if len(parts) != 2 or not all(parts):
            return None
        a, b = (groups.get(_norm(p), {_norm(p)}) for p in parts)
        wanted = {f"{x}-{y}" for x in a for y in b}
        hits = [s for s in signals if _names(s.label) & wanted]
        if len(hits) > 1:
            raise NeonasError(f"channel '{name}' matches several channels of the file: "
                              f"{', '.join(s.label for s in hits)}; name one exactly in 'channels'", source.path)
        return hits[0] if hits else None

    montage, missing = [], []
    for name in cfg.channels:
        sig = find(name) or find_pair(name)
        if sig is not None:
            montage.append(Derivation(name, sig))
            continue
        parts = name.split("-")
        if len(parts) == 2 and all(parts):
            pos, neg = find(parts[0]), find(parts[1])
            if pos is not None and neg is not None:
                montage.append(Derivation(name, pos, neg))
                continue
            missing.extend(p for p, s in zip(parts, (pos, neg), strict=True) if s is None)
        else:
            missing.append(name)
    if missing:
        tried = {m: sorted(groups[_norm(m)] - {_norm(m)}) for m in missing if _norm(m) in groups}
        also = f" (also tried aliases {tried})" if tried else ""
        bipolar = [s.label for s in signals if _is_pair(s.label)]
        why = ""
        if bipolar and len(bipolar) == len(signals) and any("-" not in m for m in missing):
            why = ("; the file holds only bipolar pairs, and a single electrode's signal cannot be recovered "
                   "from pairs (a pair A-B can be derived from two referential channels, not the reverse)")
        raise NeonasError(f"configured channel(s) {', '.join(unique(missing))} not found{also}{why}; the file has: "
                          f"{', '.join(s.label for s in signals)} ({hint})", source.path)
    _check_eeg(montage, cfg, source)
    return montage


def _is_pair(label: str) -> bool:
    """A bipolar channel name "A-B" (a "-Ref" suffix is a reference, not a pair)."""
    bare = min(_names(label), key=len)
    parts = bare.split("-")
    return len(parts) == 2 and all(parts)


def _check_eeg(montage: list[Derivation], cfg, source: Source) -> None:
    """Refuse output channels built from non-EEG signals, unless `non_eeg_channels` lists them."""
    allowed = {_norm(n) for n in cfg.non_eeg_channels}
    for d in montage:
        for ch in (d.pos, d.neg):
            why = None if ch is None else non_eeg_reason(ch)
            if why is None:
                continue
            if _norm(d.name) in allowed:
                log.info("%s: channel %s (from '%s') is not EEG (%s); kept as listed in non_eeg_channels",
                         source.path, d.name, ch.label, why)
                continue
            raise NeonasError(f"channel '{d.name}' is configured as EEG but the file's '{ch.label}' is not EEG "
                              f"({why}); drop it from 'channels', or list it in 'non_eeg_channels' to use it "
                              "on purpose", source.path)


def unique(items: list) -> list:
    out = []
    for item in items:
        if item not in out:
            out.append(item)
    return out
