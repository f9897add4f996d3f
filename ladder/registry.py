"""Open registries: rungs, model backends, metrics, rerankers and corpus readers.

Each kind of plugin is an entry-point group. The built-ins register through the
same groups (see pyproject.toml), so a plugin package is a peer of ladder's own
parts, not a special case:

    [project.entry-points."ladder.rungs"]
    my-rung = "my_package:RUNG"          # a ladder.rungs.RungSpec

    [project.entry-points."ladder.metrics"]
    my_metric = "my_package:my_metric"   # a function (prediction, reference) -> float

Entry points are loaded only when a name is asked for, so `ladder --help` imports
none of them. Code can also register directly: `RUNGS.register("name", spec)`.
"""
from __future__ import annotations

from importlib.metadata import EntryPoint, distributions
from typing import Any, Generic, Iterator, TypeVar

from ladder.errors import LadderError

T = TypeVar("T")


class Registry(Generic[T]):
    """Names -> plugins of one kind, filled from the entry-point group `group` on first use.

    >>> r = Registry("ladder.examples", "example")
    >>> r.register("double", lambda x: 2 * x)
    >>> r.get("double")(21)
    42
    >>> r.get("triple")
    Traceback (most recent call last):
    ...
    ladder.errors.LadderError: unknown example 'triple'; choose one of: double
    """

    def __init__(self, group: str, kind: str):
        self.group, self.kind = group, kind
        self._items: dict[str, Any] = {}  # name -> loaded object or a not-yet-loaded EntryPoint
        self._scanned = False

    def _scan(self) -> None:
        if self._scanned:
            return
        self._scanned = True
        # Every installed distribution's entry points, not only the first copy of each: a stale
        # `*.egg-info` beside the sources must not hide what the installed metadata declares.
        for dist in distributions():
            for ep in dist.entry_points.select(group=self.group):
                self._items.setdefault(ep.name, ep)  # an explicit register() wins over an entry point

    def register(self, name: str, obj: T) -> None:
        self._scan()
        self._items[name] = obj

    def unregister(self, name: str) -> None:
        self._scan()
        self._items.pop(name, None)

    def names(self) -> list[str]:
        self._scan()
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        self._scan()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def get(self, name: str) -> T:
        self._scan()
        if name not in self._items:
            raise LadderError(f"unknown {self.kind} '{name}'; choose one of: {', '.join(self.names())}")
        item = self._items[name]
        if isinstance(item, EntryPoint):
            item = self._load(name, item)
            self._items[name] = item
        return item

    def items(self) -> list[tuple[str, T]]:
        return [(n, self.get(n)) for n in self.names()]

    def _load(self, name: str, ep: EntryPoint) -> Any:
        try:
            return ep.load()
        except ModuleNotFoundError as e:
            raise LadderError(f"{self.kind} '{name}' needs a missing package ({e.name}); "
                              f"install it (for ladder's own parts: 'make install')") from None
        except (ImportError, AttributeError) as e:
            raise LadderError(f"{self.kind} '{name}' could not be loaded from {ep.value} ({e}); "
                              "reinstall the package that provides it") from None
