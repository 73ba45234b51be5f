"""The row every check of a study writes (checks.csv) and the names of arms in its sentences; shared by
neonas.study.checks and neonas.study.controller_checks."""

from __future__ import annotations

import math

COLUMNS = ["check", "status", "arm", "setting", "other", "value", "threshold", "tag", "message"]
TITLES = {  # what each check asks for; status `warning` = it failed
    "replicates": "At least 2 seeds and 2 folds",
    "indistinguishable": "Arms differ",
    "reward_signal": "Reward tells children apart",
    "policy_moved": "Policy left uniform sampling",
    "constant_top": "No constant networks among the best",
    "identical_policies": "Final policies differ between arms",
}


def name(arm: str, setting: str) -> str:
    return {"random": "random search", "evolution": "evolution", "handcrafted": "hand-designed"}.get(arm, f"NAS {setting}")


def _row(check: str, status: str, arm: str = "", setting: str = "", other: str = "", value: float = math.nan,
         threshold: float = math.nan, tag: str = "", message: str = "") -> dict:
    return {"check": check, "status": status, "arm": arm, "setting": setting, "other": other, "value": value,
            "threshold": threshold, "tag": tag if status == "warning" else "", "message": message}
