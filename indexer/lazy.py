"""A package front whose names load on first use (PEP 562), shared by `cooc.indexer` and `cooc.scorer`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib import import_module


def lazy_front(package: str, home: dict[str, tuple[str, str]]) -> tuple[Callable[[str], object], Callable[[], list]]:
    """The module `__getattr__` and `__dir__` of `package`, whose public name N lives at `home[N]` =
    (submodule, name there). A name is imported when first asked for, then kept as a plain attribute."""

    def __getattr__(name: str) -> object:
        if name not in home:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, attr = home[name]
        value = getattr(import_module(f".{module}", package), attr)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *home})

    return __getattr__, __dir__
