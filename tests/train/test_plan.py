"""plan-pretrain arithmetic: hand-worked numbers, a published run, and the errors."""
import doctest

import pytest

from ladder.errors import LadderError
from ladder.train import plan as P


def test_doctests_hold():
    assert doctest.testmod(P).failed == 0


@pytest.mark.parametrize("text,expected", [
    ("20M", 20_000_000), ("135m", 135_000_000), ("7B", 7_000_000_000), ("1T", 10**12),
    ("1.5k", 1500), ("3e9", 3_000_000_000), ("125000", 125_000), (" 2 B ", 2_000_000_000), (70e9, 70_000_000_000),
])
def test_parse_count(text, expected):
    assert P.parse_count(text) == expected


@pytest.mark.parametrize("bad", ["abc", "7X", "-5M", "0", "", "1..5B", "B7"])
def test_parse_count_rejects_bad_strings_with_an_example(bad):
    with pytest.raises(LadderError, match="--params") as e:
        P.parse_count(bad)
    assert "7B" in str(e.value)


def test_plan_matches_hand_arithmetic():
    p = P.plan(7 * 10**9, 10**12, gpu="h100", n_gpus=8, mfu=0.4, usd_per_gpu_hour=2.0)
    flops = 6 * 7e9 * 1e12
    hours = flops / (989e12 * 0.4) / 3600
    assert p.flops == pytest.approx(flops)
    assert p.gpu_hours == pytest.approx(hours)
    assert p.days == pytest.approx(hours / 8 / 24)
    assert p.dollars == pytest.approx(hours * 2.0)
    assert p.chinchilla_tokens == pytest.approx(140e9)
    assert p.tokens_per_param == pytest.approx(1e12 / 7e9)
    assert any("MFU 40%" in a for a in p.assumptions) and any("$2.00" in a for a in p.assumptions)


def test_published_llama2_7b_budget_is_within_2_percent():
    # Llama 2 paper, table 2: 7B on 2T tokens took 184,320 A100-80GB GPU-hours.
    assert P.gpu_hours(P.training_flops(7e9, 2e12), "a100", 0.4) == pytest.approx(184_320, rel=0.02)


def test_default_tokens_are_compute_optimal_and_more_gpus_only_shorten_days():
    one = P.plan(20_000_000, gpu="a100", n_gpus=1)
    eight = P.plan(20_000_000, gpu="a100", n_gpus=8)
    assert one.tokens == 400_000_000
    assert eight.gpu_hours == pytest.approx(one.gpu_hours)
    assert eight.days == pytest.approx(one.days / 8)
    assert eight.dollars == pytest.approx(one.dollars)


def test_faster_gpu_costs_fewer_hours():
    assert P.plan(10**9, gpu="h100").gpu_hours < P.plan(10**9, gpu="a100").gpu_hours < P.plan(10**9, gpu="t4").gpu_hours


def test_compute_optimal_params_inverts_six_n_twenty_n():
    n = P.compute_optimal_params(P.training_flops(3e9, P.chinchilla_tokens(3e9)))
    assert n == pytest.approx(3e9)


def test_unknown_gpu_lists_every_choice():
    with pytest.raises(LadderError) as e:
        P.plan(10**9, gpu="tpu9")
    for name in P.GPUS:
        assert name in str(e.value)


@pytest.mark.parametrize("kwargs,flag", [({"mfu": 0}, "--mfu"), ({"mfu": 1.5}, "--mfu"),
                                         ({"n_gpus": 0}, "--gpus"), ({"usd_per_gpu_hour": -1}, "--price")])
def test_bad_options(kwargs, flag):
    with pytest.raises(LadderError, match=flag):
        P.plan(10**9, **kwargs)


def test_run_cost_of_a_measured_run():
    c = P.run_cost(1_000_000, 50_000, wall_seconds=30, cpu_seconds=72, usd_per_cpu_hour=0.05)
    assert c["flops"] == 6 * 1_000_000 * 50_000
    assert c["flops_per_second"] == pytest.approx(1e10)
    assert c["dollars"] == pytest.approx(0.001)  # 72 CPU-seconds = 0.02 CPU-hours
