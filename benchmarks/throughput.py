"""Training throughput of the template against a hand-written PyTorch loop, on the same data.

    python benchmarks/throughput.py                          # MLP, CNN, LSTM at batch 128 and 512
    python benchmarks/throughput.py --models mlp --batch-sizes 128 --pairs 7
    python benchmarks/throughput.py --models cnn --variants channels_last bf16 compile
    python benchmarks/throughput.py --batch-sizes 32 --steps 8 --warmup 2 --cases \
        resnet18_224:model=torchvision,model.net.weights=null,data.image_size=224,test=false

Each measurement is a fresh process. Plain and template runs alternate (the order flips every pair),
the CPU time other processes used during each run is recorded, and runs disturbed by more than
--max-other-cpu are repeated. Medians are reported; see benchmarks/README.md.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Steps per run at batch 128 (scaled by 128 / batch size): enough for a few seconds of steady state.
STEPS = {"mlp": 400, "cnn": 80, "lstm": 120}
CASE_STEPS = 20  # --cases without --steps
VARIANTS = {
    "default": [],
    "channels_last": ["model.channels_last=true"],
    "channels_first": ["model.channels_last=false"],
    "bf16": ["trainer.precision=bf16-mixed"],
    "compile": ["model.compile=true"],
    "malloc_default": ["malloc_trim_threshold_mb=null"],
    "no_progress_bar": ["callbacks.rich_progress_bar=null"],
    "no_callbacks": [
        "callbacks.rich_progress_bar=null",
        "callbacks.lr_monitor=null",
        "callbacks.rich_model_summary=null",
    ],
}


def cpu_jiffies() -> int:
    """All CPU time the machine has spent busy, in clock ticks (Linux /proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return user + nice + system + irq + softirq + steal


def run_measured(command: list[str], env: dict, log: Path) -> tuple[float, float, float]:
    """Run `command` (output to `log`); return (start time, its CPU seconds, others' CPU seconds)."""
    ticks = os.sysconf("SC_CLK_TCK")
    with open(log, "w") as out:
        busy_before, started = cpu_jiffies(), time.time()
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        busy = (cpu_jiffies() - busy_before) / ticks
    own = usage.ru_utime + usage.ru_stime
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{log.read_text()[-3000:]}")
    return started, own, max(0.0, busy - own)


def summarise(step_starts: list[float], batch_sizes: list[int], launched: float, warmup: int) -> dict:
    """Steady-state samples/s after `warmup` steps, and the time from launch to the first step."""
    samples = sum(batch_sizes[warmup:])
    return {
        "samples_per_s": samples / (step_starts[-1] - step_starts[warmup]),
        "first_step_s": step_starts[0] - launched,
    }


def parse_case(spec: str) -> tuple[str, list[str]]:
    """`name:override,override,...` -> (name, Hydra overrides); commas inside [] or {} stay put."""
    name, colon, rest = spec.partition(":")
    if not (name and colon and rest):
        raise argparse.ArgumentTypeError(f"{spec!r}: expected NAME:OVERRIDE[,OVERRIDE...]")
    overrides, current, depth = [], "", 0
    for char in rest:
        depth += (char in "[{") - (char in "]}")
        if char == "," and depth == 0:
            overrides.append(current)
            current = ""
        else:
            current += char
    return name, [o for o in [*overrides, current] if o]


def plain_command(config: list[str], batch_size: int, steps: int, data_dir: str) -> list[str]:
    return [
        sys.executable,
        __file__,
        "--plain",
        *config,
        "--batch-sizes",
        str(batch_size),
        "--steps",
        str(steps),
        "--data-dir",
        data_dir,
    ]


def template_command(
    config: list[str], batch_size: int, steps: int, run_dir: Path, extra: list[str]
) -> list[str]:
    return [
        sys.executable, "train.py", *config, f"data.loader.batch_size={batch_size}",
        f"trainer.max_steps={steps}", "trainer.limit_val_batches=0", "trainer.num_sanity_val_steps=0",
        # model_checkpoint=null alone would leave Lightning's own checkpoint callback in place
        "callbacks.model_checkpoint=null", "+trainer.enable_checkpointing=false",
        "+callbacks@callbacks.step_timer=step_timer",
        "logger=csv", f"hydra.run.dir={run_dir}", *extra,
    ]  # fmt: skip


def measure(kind: str, config: list[str], batch_size: int, steps: int, args, extra: list[str]) -> dict:
    env = {**os.environ, "DATA_DIR": args.data_dir}
    with tempfile.TemporaryDirectory() as tmp:
        if kind == "plain":
            out = Path(tmp) / "plain.json"
            env["PLAIN_OUT"] = str(out)
            command = plain_command(config, batch_size, steps, args.data_dir)
        else:
            out = Path(tmp) / "run" / "step_times.json"
            command = template_command(config, batch_size, steps, Path(tmp) / "run", extra)
        started, own, other = run_measured(command, env, Path(tmp) / "output.log")
        timings = json.loads(out.read_text())
    warmup = args.warmup if args.warmup is not None else max(5, steps // 5)
    result = summarise(timings["step_starts"], timings["batch_sizes"], started, warmup)
    result.update(
        test_s=timings["test_seconds"], peak_rss_mb=timings["peak_rss_mb"], cpu_s=own, other_cpu_s=other
    )
    return result


def measure_undisturbed(kind, config, batch_size, steps, args, extra) -> dict:
    for _ in range(args.retries + 1):
        result = measure(kind, config, batch_size, steps, args, extra)
        if result["other_cpu_s"] <= args.max_other_cpu:
            return result
        print(f"    {kind}: other processes used {result['other_cpu_s']:.1f} CPU s, repeating", flush=True)
    result["disturbed"] = True
    return result


def benchmark(args) -> list[dict]:
    rows = []
    # (name, the overrides that select it: an experiment, or a case's own, for both loops)
    configs = [(model, [f"experiment={model}"]) for model in args.models] + list(args.cases)
    for model, config in configs:
        for batch_size in args.batch_sizes:
            default = max(20, STEPS[model] * 128 // batch_size) if model in STEPS else CASE_STEPS
            steps = args.steps or default
            for variant in args.variants:
                runs = {"plain": [], "template": []}
                for pair in range(args.pairs):
                    order = ("plain", "template") if pair % 2 == 0 else ("template", "plain")
                    for kind in order:
                        runs[kind].append(
                            measure_undisturbed(kind, config, batch_size, steps, args, VARIANTS[variant])
                        )
                    p, t = runs["plain"][-1], runs["template"][-1]
                    print(
                        f"  {model} bs{batch_size} {variant} pair {pair}: plain {p['samples_per_s']:.0f}/s, "
                        f"template {t['samples_per_s']:.0f}/s",
                        flush=True,
                    )
                rows.append(row(model, batch_size, variant, runs))
                rows[-1]["overrides"] = config
                print_row(rows[-1])
    return rows


def median(runs: list[dict], key: str) -> float | None:
    """None when a run has no value (test times with `test=false`)."""
    values = [r[key] for r in runs]
    return None if None in values else statistics.median(values)


def row(model: str, batch_size: int, variant: str, runs: dict) -> dict:
    plain, template = runs["plain"], runs["template"]
    return {
        "model": model,
        "batch_size": batch_size,
        "variant": variant,
        "pairs": len(plain),
        "plain_samples_per_s": median(plain, "samples_per_s"),
        "template_samples_per_s": median(template, "samples_per_s"),
        "ratio": median(template, "samples_per_s") / median(plain, "samples_per_s"),
        "pair_ratios": [t["samples_per_s"] / p["samples_per_s"] for p, t in zip(plain, template)],
        "template_epoch_s": 55_000 / median(template, "samples_per_s"),
        "plain_epoch_s": 55_000 / median(plain, "samples_per_s"),
        "template_test_s": median(template, "test_s"),
        "plain_test_s": median(plain, "test_s"),
        "template_first_step_s": median(template, "first_step_s"),
        "plain_first_step_s": median(plain, "first_step_s"),
        "template_peak_rss_mb": median(template, "peak_rss_mb"),
        "plain_peak_rss_mb": median(plain, "peak_rss_mb"),
        "max_other_cpu_s": max(r["other_cpu_s"] for r in plain + template),
        "disturbed_runs": sum(r.get("disturbed", False) for r in plain + template),
    }


HEADER = (
    f"{'model':6} {'bs':>4} {'variant':13} {'plain/s':>8} {'templ/s':>8} {'ratio':>6} {'epoch s':>8} "
    f"{'test s':>7} {'1st step s':>10} {'RSS MB':>7}"
)


def print_row(r: dict) -> None:
    print(HEADER)
    print(
        f"{r['model']:6} {r['batch_size']:>4} {r['variant']:13} {r['plain_samples_per_s']:>8.0f} "
        f"{r['template_samples_per_s']:>8.0f} {r['ratio']:>6.3f} {r['template_epoch_s']:>8.1f} "
        f"{seconds(r['template_test_s']):>7} {r['template_first_step_s']:>10.1f} "
        f"{r['template_peak_rss_mb']:>7.0f}"
        f"   (plain: epoch {r['plain_epoch_s']:.1f} s, test {seconds(r['plain_test_s'])} s, first step "
        f"{r['plain_first_step_s']:.1f} s, RSS {r['plain_peak_rss_mb']:.0f} MB; pair ratios "
        f"{' '.join(f'{x:.2f}' for x in r['pair_ratios'])}; other CPU <= {r['max_other_cpu_s']:.1f} s)",
        flush=True,
    )


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def plain_loop(config: list[str], batch_size: int, steps: int, data_dir: str) -> None:
    """The reference: the same network, optimizer, schedule and batch ops; no Lightning, no DataLoader."""
    import resource

    import torch
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from lightning_hydra_template.config.host_memory import keep_freed_memory
    from lightning_hydra_template.config.project import CONFIG_DIR, export_project_root
    from lightning_hydra_template.models.classifier import freeze_parameters
    from lightning_hydra_template.optim.param_groups import apply_lr_multipliers, param_groups

    export_project_root()
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        # A bare name is an experiment (`--plain cnn`); anything else, Hydra overrides (--cases).
        config = [c if "=" in c else f"experiment={c}" for c in config]
        cfg = compose("train", overrides=[*config, f"data.loader.batch_size={batch_size}"])
    keep_freed_memory(cfg.malloc_trim_threshold_mb)  # the template's allocator setting, for a fair race
    torch.manual_seed(cfg.seed)
    data = instantiate(cfg.data, data_dir=data_dir)
    data.setup()
    images, labels = data.datasets["train"].images, data.datasets["train"].labels
    preprocess = data.preprocess  # the datamodule's own: augmentation, normalisation, channels, resize
    net = instantiate(cfg.model.net)
    freeze_parameters(net, cfg.model.freeze)  # no gradients for them; out of the optimizer below
    # The same memory format as the template's default for this model (cfg.model.channels_last).
    memory_format = torch.channels_last if cfg.model.channels_last else torch.contiguous_format
    net.to(memory_format=memory_format)
    optimizer = instantiate(cfg.optimizer)(
        param_groups(net, cfg.model.decay_norm_and_bias, cfg.model.lr_multipliers)
    )
    apply_lr_multipliers(optimizer)
    schedule = instantiate(cfg.scheduler).build(optimizer, steps)["scheduler"] if cfg.scheduler else None
    loss_fn = (
        instantiate(cfg.loss) if cfg.get("loss") else torch.nn.functional.cross_entropy
    )  # the template's
    # The template's precision: bf16 autocast when the config asks for it (experiment=cnn does).
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.trainer.precision == "bf16-mixed")

    step_starts, batch_sizes = [], []
    net.train()
    for module in net.modules():  # frozen batch norms keep their running statistics, as in the template
        params = list(module.parameters(recurse=False))
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and params:
            module.train(any(p.requires_grad for p in params))
    while len(step_starts) < steps:
        for index in torch.randperm(len(labels)).split(batch_size):  # a new permutation per epoch
            if len(step_starts) == steps:
                break
            step_starts.append(time.time())
            x = preprocess(images[index], training=True).contiguous(memory_format=memory_format)
            y = labels[index]
            if data.mixing is not None:  # mixup / cutmix, as the datamodule mixes the template's batches
                x, y = data.mixing(x, y)
            with autocast:
                loss = loss_fn(net(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if schedule is not None:
                schedule.step()
            batch_sizes.append(len(index))
    step_starts.append(time.time())

    test = data.datasets["test"]
    test_seconds, correct = None, None
    if cfg.test:  # test=false (as the template skips its test)
        started = time.perf_counter()
        net.eval()
        correct = 0
        with torch.no_grad():
            for index in torch.arange(len(test)).split(1000):
                x = preprocess(test.images[index], training=False).contiguous(memory_format=memory_format)
                with autocast:
                    correct += (net(x).argmax(1) == test.labels[index]).sum().item()
        test_seconds = time.perf_counter() - started
    Path(os.environ["PLAIN_OUT"]).write_text(
        json.dumps(
            {
                "step_starts": step_starts,
                "batch_sizes": batch_sizes,
                "test_seconds": test_seconds,
                "test_acc": None if correct is None else correct / len(test),
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models", nargs="+", choices=sorted(STEPS), help="default: mlp cnn lstm, unless --cases is given"
    )
    parser.add_argument(
        "--cases",
        nargs="+",
        type=parse_case,
        default=[],
        metavar="NAME:OVERRIDES",
        help="other configurations, as comma-separated Hydra overrides for both loops, e.g. "
        "resnet18_64:model=torchvision,model.net.weights=null,data.image_size=64,test=false",
    )
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[128, 512])
    parser.add_argument("--variants", nargs="+", default=["default"], choices=sorted(VARIANTS))
    parser.add_argument("--pairs", type=int, default=5, help="interleaved plain/template pairs")
    parser.add_argument("--max-other-cpu", type=float, default=2.0, help="CPU s others may use in a run")
    parser.add_argument("--retries", type=int, default=2)
    parser.add_argument("--data-dir", default=os.environ.get("DATA_DIR", str(ROOT / "data")))
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--plain", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument(
        "--steps", type=int, help="training steps per run (default: per model and batch size)"
    )
    parser.add_argument(
        "--warmup", type=int, help="first steps left out of the rate (default: a fifth of them, at least 5)"
    )
    args = parser.parse_args()
    args.data_dir = str(Path(args.data_dir).resolve())
    if args.models is None:
        args.models = [] if args.cases else ["mlp", "cnn", "lstm"]
    if args.plain:
        plain_loop(args.plain, args.batch_sizes[0], args.steps, args.data_dir)
        return
    rows = benchmark(args)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
