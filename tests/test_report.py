"""The report: HTML (self-contained, offline), Markdown and JSON from a climb or a run directory."""
import doctest
import json
import re

import pytest

from ladder.advisor import climb
from ladder.errors import LadderError
from ladder.report import disagreements, report_data, svg, write_report
from ladder.store import Store
from ladder.task import load_task
from tests.test_climb import models  # noqa: F401 (fixture)


def test_svg_doctests():
    assert doctest.testmod(svg).failed == 0


@pytest.fixture
def result(sentiment_task, tmp_path, models):  # noqa: F811
    task = load_task(sentiment_task)
    return climb(task, ["goodmodel", "bad"], ["zero-shot", "few-shot"], store=Store(tmp_path / "r.db"), all_rows=True,
                 runs_dir=tmp_path / "runs", volume=50_000)


def test_html_is_one_offline_file_with_the_decision_first(result, tmp_path):
    out = write_report(report_data(result), tmp_path / "report.html")
    html = out.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)  # nothing fetched from anywhere
    assert "<script" not in html
    decision = html.index("Decision")
    assert decision < html.index("Leaderboard") < html.index("Quality vs cost") < html.index("Latency per request")
    assert result.verdict["headline"] in html
    assert html.count("<svg") >= 2 and "Where the rows disagree" in html
    assert "<td class='nowrap'>goodmodel</td>" in html and "recommended" in html
    assert "50,000 requests/month" in html


def test_markdown_and_json(result, tmp_path):
    md = write_report(report_data(result), tmp_path / "r.md").read_text()
    assert md.startswith("## ladder climb: sentiment") and "| rung | model |" in md and "⭐" in md
    assert "Paired comparisons" in md
    js = json.loads(write_report(report_data(result), tmp_path / "r.json").read_text())
    assert js["verdict"]["best"] == result.best_index and "predictions" not in js


def test_rerendered_from_the_run_directory_matches(result, tmp_path):
    a = write_report(report_data(result), tmp_path / "a.md").read_text()
    b = write_report(report_data(result.run_dir), tmp_path / "b.md").read_text()
    strip = lambda s: s.split("Run directory")[0]
    assert strip(a) == strip(b)


def test_disagreements_show_only_examples_where_rows_differ(result):
    shown, exs = disagreements(report_data(result))
    assert shown[0] == result.best_index
    for e in exs:
        assert len({c["score"] for c in e["cells"]}) > 1
    # goodmodel is right on all 4 examples, bad on the 2 negatives: the 2 positives differ
    assert sorted(e["expected"] for e in exs) == ["positive", "positive"]


def test_unknown_extension_is_refused(result, tmp_path):
    with pytest.raises(LadderError, match="use .html, .md or .json"):
        write_report(report_data(result), tmp_path / "report.pdf")
    assert not (tmp_path / "report.pdf").exists()


def test_training_rows_get_their_loss_curves_and_others_none(result, tmp_path):
    data = report_data(result)
    assert "Training loss" not in write_report(data, tmp_path / "a.html").read_text()  # no training rows
    data["rows"][0]["loss_curve"] = [{"step": s, "loss": 2.0 / (s + 1), **({"dev_loss": 2.5 / (s + 1)} if s % 5 == 0 else {})}
                                     for s in range(20)]
    html = write_report(data, tmp_path / "b.html").read_text()
    section = html[html.index("Training loss"):]
    assert section.count("<polyline") == 2 and "(train)" in section and "(dev)" in section


def test_interval_plot_colours_what_clears_zero():
    out = svg.intervals([("a − b", 0.2, 0.1, 0.3), ("c − d", 0.01, -0.05, 0.07), ("e − f", -0.2, -0.3, -0.1)],
                        x_label="difference")
    assert out.startswith("<svg") and out.count("<circle") == 3 and "http" not in out.replace("http://www.w3.org", "")
    colours = re.findall(r'<circle [^>]*fill="(#[0-9a-f]+)"', out)
    assert colours[1] == "#9ca3af" and colours[0] != colours[1] and colours[2] not in (colours[0], colours[1])
    assert "c − d: +0.010 [-0.050, +0.070]" in out


def test_run_plots_are_shared_and_survive_odd_run_files():
    from ladder.report import plots

    run = {"rows": [{"rung": "zero-shot", "model": "m", "score": 0.5, "ci_low": 0.4, "ci_high": 0.6, "latency_p50": 0.1,
                     "amortised_per_1k": 0.002},
                    "not a row"],
           "verdict": {"comparisons": [{"a": "x", "b": "y", "diff": 0.1, "ci_low": 0.02, "ci_high": 0.2}, {"diff": "?"}],
                       "costs": "garbled", "pareto": [0, 7]}}
    assert plots.quality(run).count("<circle") >= 1 and plots.latency(run).startswith("<svg")
    assert plots.paired(run).count("<circle") == 1 and plots.losses(run) == ""
    assert all(f({}) == "" for f in (plots.quality, plots.latency, plots.losses, plots.paired))
    assert all(f({"rows": "x", "verdict": []}) == "" for f in (plots.quality, plots.latency, plots.losses, plots.paired))
