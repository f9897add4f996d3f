"""metric = "judge": an LLM grades each prediction against a rubric from the task file.

    metric = "judge"
    [judge]
    model = "openai/llama-3.1-70b"   # any backend; the bundled large tier works offline
    rubric = "Is the answer correct and complete given the reference?"

The judge answers 1-5 (scored directly when the backend scores choices, else
parsed from text); the example's score is (grade - 1) / 4, in [0, 1].
"""
from __future__ import annotations

import re
from typing import Any, Callable

from ladder.errors import TaskError
from ladder.models import load_model
from ladder.store import CachedModel, Store
from ladder.task import Example, Task

GRADES = ["1", "2", "3", "4", "5"]


def judge_messages(rubric: str, question: str, reference: Any, prediction: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": "You grade answers. Reply with one digit from 1 (bad) to 5 (excellent).\n"
                                      f"Rubric: {rubric}"},
        {"role": "user", "content": f"<input>\n{question}\n</input>\n<reference>\n{reference}\n</reference>\n"
                                    f"<answer>\n{prediction}\n</answer>\nGrade (1-5):"},
    ]


def parse_grade(text: str) -> int | None:
    """
    >>> parse_grade("Grade: 4/5"), parse_grade("none")
    (4, None)
    """
    m = re.search(r"[1-5]", text)
    return int(m.group()) if m else None


def make_judge(task: Task, store: Store, base_url: str | None = None) -> Callable[[str, Any, Example], float]:
    spec, rubric = task.judge.get("model"), task.judge.get("rubric")
    if not spec or not rubric:
        raise TaskError(f"{task.source}: [judge] needs 'model' and 'rubric'")
    model = CachedModel(load_model(spec, base_url=task.judge.get("base_url", base_url)), store)

    def score(prediction: str, reference: Any, example: Example) -> float:
        msgs = judge_messages(rubric, task.render(example), reference, prediction)
        if model.scores_choices:
            grade = int(model.complete(msgs, choices=GRADES).text)
        else:
            grade = parse_grade(model.complete(msgs, max_tokens=8).text) or 1
        return (grade - 1) / 4

    return score
