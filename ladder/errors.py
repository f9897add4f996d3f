"""Errors the CLI turns into one clear line and exit code 2.

Every value that enters ladder from outside (a task file, a JSONL row, a CLI
option, an environment variable, an index folder, an HTTP backend's answer) is
checked where it enters; a bad one raises `InputError` naming its `source`
(file:line, option, field or URL) and what to do next. All of them are
`LadderError`s, so callers catch one type.
"""


class LadderError(Exception):
    """Bad input or a missing prerequisite. The message names the file/line/field and the next step."""


class InputError(LadderError):
    """A bad value from outside: `source` says where it came from (file:line, --option, field, URL).

    >>> str(InputError("--limit", "must be at least 1, got -3"))
    '--limit: must be at least 1, got -3'
    """

    def __init__(self, source: str, message: str):
        self.source, self.message = source, message
        super().__init__(f"{source}: {message}" if source else message)


class TaskError(LadderError):
    """A task file, a split or an example is unusable."""


def env_count(name: str) -> int | None:
    """A whole number above 0 from the environment variable `name`, None when unset or empty.

    >>> import os; os.environ["LADDER_DOCTEST_N"] = "2"; env_count("LADDER_DOCTEST_N")
    2
    """
    import os

    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise InputError(name, f"must be a whole number above 0, got {raw!r}; fix or unset it")
    return int(raw)
