"""The benchmark scripts still run, in their shortest form (their figures live in benchmarks/README.md)."""

import json

import pytest

from .helpers import run


@pytest.mark.slow
def test_lightning_overhead_reports_each_loop_against_the_plain_one():
    result = run("benchmarks/lightning_overhead.py", "--rounds", "1", "--steps", "15")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = [line for line in result.stdout.splitlines() if "plain/this" in line]
    assert [line.split("  ")[0] for line in summary] == [
        "plain loop",
        "Lightning, automatic optimization",
        "Lightning, manual optimization",
    ]
    assert summary[0].endswith("plain/this 1.000")


@pytest.mark.slow
def test_throughput_races_the_template_against_the_plain_loop(real_data_dir, tmp_path):
    rows_path = tmp_path / "rows.json"
    result = run(
        "benchmarks/throughput.py",
        *("--models", "mlp", "--batch-sizes", "512", "--pairs", "1", "--steps", "20"),
        *("--max-other-cpu", "1000", "--json", str(rows_path)),
        data_dir=real_data_dir,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (row,) = json.loads(rows_path.read_text())
    assert row["model"] == "mlp" and row["batch_size"] == 512 and row["pairs"] == 1
    assert row["ratio"] == pytest.approx(row["template_samples_per_s"] / row["plain_samples_per_s"])
    assert row["template_samples_per_s"] > 0 and row["plain_test_s"] > 0
