"""Errors the CLI turns into one clear line and exit code 2."""


class LadderError(Exception):
    """Bad input or a missing prerequisite. The message names the file/line/field and the next step."""


class TaskError(LadderError):
    pass
