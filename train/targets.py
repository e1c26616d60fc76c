"""The align-and-fuse targets, checked on evaluation results (printed beside the tables)."""
from __future__ import annotations

FUSED_GAIN_TARGET = 0.30      # fused (RGB anchor) AbsRel at night / in fog at least 30 % below RGB alone
THERMAL_NIGHT_TARGET = 0.15   # thermal at night within 15 % of RGB by day
PARAMETER_TARGET = 1.15       # shared network + fusion <= 1.15 x one spectral network


def target_report(all_results: dict, targets_cfg: dict, parameters: dict | None = None) -> str:
    metric = all_results[targets_cfg["model"]]["metric"]
    spectral, fused = metric["spectral"], metric.get("fused", {})
    lines = ["| target | measured | goal | met |", "|---|---|---|---|"]

    def row(name: str, measured: float, goal: str, met: bool) -> None:
        lines.append(f"| {name} | {measured:.3f} | {goal} | {'yes' if met else 'NO'} |")

    for condition in ("night", "fog"):
        if "rgb" in fused:
            rgb_alone = spectral["rgb"][condition]["abs_rel"]
            gain = 1 - fused["rgb"][condition]["abs_rel"] / rgb_alone
            row(f"AbsRel reduction, fused (RGB anchor) vs RGB alone, {condition}", gain,
                f">= {FUSED_GAIN_TARGET:.2f}", gain >= FUSED_GAIN_TARGET)
    ratio = spectral["thr"]["night"]["abs_rel"] / spectral["rgb"]["day"]["abs_rel"]
    row("AbsRel thermal at night / RGB by day", ratio, f"<= {1 + THERMAL_NIGHT_TARGET:.2f}",
        ratio <= 1 + THERMAL_NIGHT_TARGET)
    if parameters:
        ratio = (parameters["network"] + parameters["fusion"]) / parameters["one_spectral_network"]
        row("parameters, shared network + fusion / one spectral network", ratio, f"<= {PARAMETER_TARGET}",
            ratio <= PARAMETER_TARGET)
    return "\n".join(lines)
