"""Every public function and method of labsupport is fully annotated: each parameter and the return value.

Public: a module-level function or a class's method whose name has no leading underscore (``__init__`` counts, its
return annotation is optional as for mypy), defined in a labsupport module (imports from elsewhere are not walked).
``self`` and ``cls`` need no annotation.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterator
from types import ModuleType

import labsupport


def _modules() -> Iterator[ModuleType]:
    """labsupport and every submodule and subpackage; not ``__main__`` (the command line's entry) nor the former
    paths of moved modules (they only warn and hand over the module at its new place, which is walked)."""
    yield labsupport
    skip = {"labsupport.__main__", *(f"labsupport.{old}" for old in getattr(labsupport, "MOVED", {}))}
    for info in pkgutil.walk_packages(labsupport.__path__, "labsupport."):
        if info.name not in skip:
            yield importlib.import_module(info.name)


def _methods(cls: type) -> Iterator[tuple[str, Callable]]:
    """The public methods a class defines itself (static, class methods and property getters included)."""
    for name, member in vars(cls).items():
        if name.startswith("_") and name != "__init__":
            continue
        if isinstance(member, (staticmethod, classmethod)):
            member = member.__func__
        elif isinstance(member, property):
            member = member.fget
        if inspect.isfunction(member) and member.__qualname__ == f"{cls.__qualname__}.{name}":
            yield name, member


def public_functions(module: ModuleType) -> Iterator[tuple[str, Callable]]:
    """(qualified name, function) for the public functions and methods defined in ``module``."""
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(obj):
            yield f"{module.__name__}.{name}", obj
        elif inspect.isclass(obj):
            for method_name, method in _methods(obj):
                yield f"{module.__name__}.{obj.__qualname__}.{method_name}", method


def missing_annotations(function: Callable) -> list[str]:
    """The parameters of ``function`` without an annotation, and ``"return"`` when the return value has none."""
    signature = inspect.signature(function)
    missing = [name for name, p in signature.parameters.items()
               if p.annotation is inspect.Parameter.empty and name not in ("self", "cls")]
    if signature.return_annotation is inspect.Signature.empty and function.__name__ != "__init__":
        missing.append("return")
    return missing


def test_the_check_sees_missing_annotations() -> None:
    def untyped(a, b: int, *args, **kwargs):
        return a

    def typed(a: int, *args: int, **kwargs: str) -> int:
        return a

    class Thing:
        def __init__(self, x: int):
            self.x = x

        @property
        def double(self):
            return 2 * self.x

        @classmethod
        def make(cls, x) -> Thing:
            return cls(x)

    assert missing_annotations(untyped) == ["a", "args", "kwargs", "return"]
    assert missing_annotations(typed) == []
    assert {name: missing_annotations(m) for name, m in _methods(Thing)} == {
        "__init__": [], "double": ["return"], "make": ["x"]}


def test_public_functions_are_annotated() -> None:
    checked, incomplete = 0, []
    for module in _modules():
        for name, function in public_functions(module):
            checked += 1
            missing = missing_annotations(function)
            if missing:
                incomplete.append(f"{name}: {', '.join(missing)}")
    assert checked > 100, f"only {checked} public functions found: the walk over labsupport missed modules"
    assert not incomplete, f"{len(incomplete)} public functions lack annotations:\n" + "\n".join(incomplete)
