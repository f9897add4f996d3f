"""The decision path end to end with the real SmolLM2: climb writes a run directory and an HTML
report, `ladder check` loads the saved best program (hash-checked) and gates it, `ladder compare`
pairs two rows of the run."""
import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

pytestmark = pytest.mark.integration


def ladder(*args, cwd, check=True):
    return subprocess.run([sys.executable, "-m", "ladder", *args], cwd=cwd, capture_output=True, text=True,
                          check=check, env={**__import__("os").environ, "LADDER_THREADS": "1"})


def test_climb_report_check_compare(sentiment_task, tmp_path):
    out = ladder("climb", str(sentiment_task), "--models", "smollm2-135m", "--rungs", "zero-shot,few-shot", "--all",
                 "--volume", "1000/day", "--report", "report.html", "--json", cwd=tmp_path)
    doc = json.loads(out.stdout)
    run_dir = tmp_path / doc["run_dir"]
    assert (run_dir / "best" / "program.json").is_file() and (tmp_path / "report.html").stat().st_size > 5000
    assert doc["verdict"]["volume_per_month"] == 30_000 and len(doc["verdict"]["costs"]) == 2
    assert f"run directory: {doc['run_dir']}" in out.stderr

    ok = ladder("check", str(sentiment_task), "--program", str(run_dir / "best"), "--baseline", str(run_dir),
                "--target", "0", "--junit", "ok.xml", cwd=tmp_path, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ET.parse(tmp_path / "ok.xml").getroot().find("testsuite").get("failures") == "0"

    high = ladder("check", str(sentiment_task), "--program", str(run_dir / "best"), "--target", "0.99",
                  "--junit", "fail.xml", cwd=tmp_path, check=False)
    assert high.returncode == 1 and "FAIL target" in high.stdout
    assert ET.parse(tmp_path / "fail.xml").getroot().find("testsuite").get("failures") == "1"

    rows = sorted(p for p in (run_dir / "rows").iterdir())
    cmp = json.loads(ladder("compare", str(rows[0]), str(rows[1]), "--json", cwd=tmp_path).stdout)
    assert cmp["test"]["n"] == 4 and cmp["test"]["method"] == "mcnemar"
