"""Time to accuracy: a training recipe against today's, over seeds, with one ablation row per ingredient.

    python benchmarks/time_to_accuracy.py                        # experiment=cnn vs cnn_reference, 3 seeds
    python benchmarks/time_to_accuracy.py --recipe experiment=cnn_best --seeds 1 --no-ablations
    python benchmarks/time_to_accuracy.py --seeds 1 --ablate fp32:trainer.precision=32-true
    python benchmarks/time_to_accuracy.py --also experiment=cnn_best     # a second recipe, same references

Each run is `train.py` in a fresh process with the recipe's overrides, `seed=<seed>` and the
`step_timer` callback, which records the fit's duration and the time and accuracy of each
validation. Reported per recipe: fit time, test accuracy (mean, min, max over seeds) and the time
from the fit's start to the end of the first validation at or above --target, each as a ratio to
the reference measured in the same invocation (runs alternate reference / recipe per seed, so a
change of load hits both); `--also` races more recipes against the same reference runs. The
ablation rows run the recipe with one ingredient taken out each.
The CPU time the runs and all other processes used is recorded too: on a shared machine, compare
the figures of one invocation only. See benchmarks/README.md.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from throughput import parse_case, run_measured

ROOT = Path(__file__).resolve().parents[1]
# What experiment=cnn is made of, each taken out in turn (`--ablate` replaces these).
ABLATIONS = {
    "fp32 instead of bf16 autocast": ["trainer.precision=32-true"],
    "no label smoothing": ["loss.label_smoothing=0.0"],
    "no flip TTA at test": ["model.test_flip_tta=false"],
    "channels-first": ["model.channels_last=false"],
    "dropout 0.3 (the reference's) instead of 0.1": ["model.net.dropout=0.3"],
    "with the reference's random crop": ["data.augment.crop_padding=2"],
    "7 epochs instead of 6": ["trainer.max_epochs=7"],
}


def train_command(overrides: list[str], seed: int, run_dir: Path, extra: list[str]) -> list[str]:
    return [
        sys.executable, "train.py", *overrides, f"seed={seed}", "logger=csv",
        "+callbacks@callbacks.step_timer=step_timer", f"hydra.run.dir={run_dir}", *extra,
    ]  # fmt: skip


def first_reaching(validations: list[dict], target: float) -> float | None:
    """Seconds from the fit's start to the end of the first validation at or above `target`."""
    return next((v["seconds"] for v in validations if v["val_acc"] >= target), None)


def measure(overrides: list[str], seed: int, args) -> dict:
    env = {**os.environ, "DATA_DIR": args.data_dir}
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        _, own, other = run_measured(
            train_command(overrides, seed, run_dir, args.extra), env, Path(tmp) / "log"
        )
        timings = json.loads((run_dir / "step_times.json").read_text())
        metrics = json.loads((run_dir / "metrics.json").read_text())["metrics"]
    validations = timings["validations"]
    return {
        "seed": seed,
        "fit_s": timings["fit_seconds"],
        "test_acc": metrics.get("test/acc"),
        "time_to_target_s": first_reaching(validations, args.target),
        "best_val_acc": max((v["val_acc"] for v in validations), default=None),
        "epochs": len(validations),
        "validations": validations,
        "cpu_s": own,
        "other_cpu_s": other,
    }


def summarise(name: str, overrides: list[str], runs: list[dict]) -> dict:
    accuracies = [r["test_acc"] for r in runs if r["test_acc"] is not None]
    reached = [r["time_to_target_s"] for r in runs if r["time_to_target_s"] is not None]
    return {
        "name": name,
        "overrides": overrides,
        "seeds": len(runs),
        "fit_s": statistics.mean(r["fit_s"] for r in runs),
        "cpu_s": statistics.mean(r["cpu_s"] for r in runs),
        "test_acc_mean": statistics.mean(accuracies) if accuracies else None,
        "test_acc_min": min(accuracies, default=None),
        "test_acc_max": max(accuracies, default=None),
        "reached_target": len(reached),
        # Over the seeds that reached it; None when none did.
        "time_to_target_s": statistics.mean(reached) if reached else None,
        "max_other_cpu_s": max(r["other_cpu_s"] for r in runs),
        "runs": runs,
    }


def ratio(value: float | None, base: float | None) -> float | None:
    return None if value is None or not base else value / base


def with_ratios(row: dict, base: dict) -> dict:
    """`*_ratio`: this row's time over `base`'s (below 1: faster)."""
    for key in ("fit_s", "cpu_s", "time_to_target_s"):
        row[f"{key.removesuffix('_s')}_ratio"] = ratio(row[key], base[key])
    return row


def benchmark(args) -> dict:
    recipe, reference = args.recipe, args.reference
    # Every recipe runs once per seed next to the reference; the order flips each seed.
    contenders = {"reference": reference, "recipe": recipe}
    contenders |= {f"also {i + 1}": overrides for i, overrides in enumerate(args.also)}
    runs: dict[str, list[dict]] = {kind: [] for kind in contenders}
    for i in range(args.seeds):
        seed = args.first_seed + i
        for kind in list(contenders)[:: 1 if i % 2 == 0 else -1]:
            runs[kind].append(measure(contenders[kind], seed, args))
            print(f"  {kind} seed {seed}: {brief(runs[kind][-1])}", flush=True)
    base = summarise("reference", reference, runs["reference"])
    chosen = with_ratios(summarise("recipe", recipe, runs["recipe"]), base)
    also = [
        with_ratios(summarise(kind, contenders[kind], runs[kind]), base)
        for kind in contenders
        if kind.startswith("also")
    ]
    ablations = []
    for name, removal in args.ablate:
        rows = []
        for i in range(args.ablation_seeds):
            rows.append(measure([*recipe, *removal], args.first_seed + i, args))
            print(f"  {name} seed {args.first_seed + i}: {brief(rows[-1])}", flush=True)
        ablations.append(with_ratios(summarise(name, removal, rows), chosen))
    return {
        "target": args.target,
        "reference": with_ratios(base, base),
        "recipe": chosen,
        "also": also,
        "ablations": ablations,
    }


def brief(run: dict) -> str:
    reached = run["time_to_target_s"]
    return (
        f"fit {run['fit_s']:.0f} s, test acc {percent(run['test_acc'])}, "
        f"target at {'never' if reached is None else f'{reached:.0f} s'}, "
        f"others used {run['other_cpu_s']:.0f} CPU s"
    )


def percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f} %"


def times(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def print_report(report: dict) -> None:
    target = percent(report["target"])
    print(
        f"\n| recipe | seeds | test acc mean (min-max) | fit time ratio | CPU time ratio | "
        f"time to {target} val ratio (seeds reaching it) | fit s | others' CPU s (max of a run) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in (report["reference"], report["recipe"], *report["also"]):
        print(
            f"| {' '.join(row['overrides'])} | {row['seeds']} | {percent(row['test_acc_mean'])} "
            f"({percent(row['test_acc_min'])}-{percent(row['test_acc_max'])}) | {times(row['fit_ratio'])} | "
            f"{times(row['cpu_ratio'])} | {times(row['time_to_target_ratio'])} ({row['reached_target']}) | "
            f"{row['fit_s']:.0f} | {row['max_other_cpu_s']:.0f} |"
        )
    if not report["ablations"]:
        return
    recipe = report["recipe"]
    print(
        f"\n| taken out of the recipe | test acc (change) | fit time vs recipe | time to {target} vs recipe |"
    )
    print("|---|---:|---:|---:|")
    for row in report["ablations"]:
        both = row["test_acc_mean"] is not None and recipe["test_acc_mean"] is not None
        delta = 100 * (row["test_acc_mean"] - recipe["test_acc_mean"]) if both else None
        print(
            f"| {row['name']} (`{' '.join(row['overrides'])}`) | {percent(row['test_acc_mean'])} "
            f"({'-' if delta is None else f'{delta:+.2f}'}) | {times(row['fit_ratio'])} | "
            f"{times(row['time_to_target_ratio'])} |"
        )


def overrides_list(spec: str) -> list[str]:
    """`a=1,b=[2,3]` -> ["a=1", "b=[2,3]"] (commas inside brackets stay)."""
    return parse_case(f"x:{spec}")[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--recipe", type=overrides_list, default=["experiment=cnn"], help="comma-separated overrides"
    )
    parser.add_argument("--reference", type=overrides_list, default=["experiment=cnn_reference"])
    parser.add_argument(
        "--also", type=overrides_list, action="append", default=[], metavar="OVERRIDES",
        help="another recipe raced against the same reference runs (repeatable; no ablations)",
    )  # fmt: skip
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=42)
    parser.add_argument("--target", type=float, default=0.93, help="validation accuracy to reach")
    parser.add_argument(
        "--ablate", nargs="+", type=parse_case, metavar="NAME:OVERRIDES",
        default=[(name, overrides) for name, overrides in ABLATIONS.items()],
        help="one row each: the recipe with these overrides (default: experiment=cnn's ingredients)",
    )  # fmt: skip
    parser.add_argument("--no-ablations", dest="ablate", action="store_const", const=[])
    parser.add_argument("--ablation-seeds", type=int, default=1)
    parser.add_argument("--extra", nargs="+", default=[], help="overrides for every run (e.g. shorter runs)")
    parser.add_argument("--data-dir", default=os.environ.get("DATA_DIR", str(ROOT / "data")))
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}", flush=True)
    report = benchmark(args)
    report["load_average_at_end"] = os.getloadavg()
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
