"""The README's Python API example runs as written (on a small task, with the real SmolLM2)."""
import re
import shutil
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_block(heading: str) -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.integration
def test_python_api_example_runs(sentiment_task, tmp_path, monkeypatch, capsys):
    work = tmp_path / "work"
    work.mkdir()
    for f in sentiment_task.parent.glob("*.*"):
        shutil.copy(f, work / f.name)
    monkeypatch.chdir(work)
    exec(compile(readme_block("Python API"), "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert re.search(r"zero-shot\s+smollm2-135m\s+\d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\] n=4", out)
    assert re.search(r"few-shot k=4: \d\.\d{3} \[", out)
    assert "target" in out  # the recommendation speaks of the task's target


def test_the_api_names_resolve_lazily():
    import ladder

    for name in ladder.__all__:
        assert getattr(ladder, name) is not None, name
    assert callable(ladder.climb) and callable(ladder.evaluate)
    with pytest.raises(AttributeError):
        ladder.no_such_name
