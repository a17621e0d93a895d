"""Every filter and cleaner under ``filters/`` keeps the ``Step`` contract (table-driven, no Beam).

The table is found, not written: every module of ``filters`` is imported and every subclass of
:class:`filters.base.Step` defined there is checked, so a new step is covered the day it lands.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import io
import pickle
import pkgutil
import re
import typing

import pytest

import filters
from filters.base import BadRecord, Step

SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
# What a pickled step may refer to: our config and step classes, and plain containers. A
# model (fastText, KenLM, scikit-learn, numpy arrays) would name its own module here.
ALLOWED_PICKLE_MODULES = ("filters.", "mixtures.", "builtins", "copyreg", "collections", "__builtin__")


def _all_steps() -> list[type[Step]]:
    for info in pkgutil.walk_packages(filters.__path__, prefix="filters."):
        importlib.import_module(info.name)
    found, todo = set(), [Step]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                todo.append(sub)
    return sorted((s for s in found if s.__module__.startswith("filters.")), key=lambda s: s.__qualname__)


STEPS = _all_steps()


def _build(step_class: type[Step]) -> Step:
    """The step with its defaults; a required config argument gets its type's defaults."""
    hints = typing.get_type_hints(step_class.__init__)
    kwargs = {}
    for name, param in inspect.signature(step_class.__init__).parameters.items():
        if name == "self" or param.default is not inspect.Parameter.empty:
            continue
        config_type = next(t for t in typing.get_args(hints[name]) or (hints[name],) if dataclasses.is_dataclass(t))
        kwargs[name] = config_type()
    return step_class(**kwargs)


def _pickled_modules(step: Step) -> set[str]:
    """The modules of every class the pickle of ``step`` names (found by unpickling it)."""
    modules: set[str] = set()

    class Recorder(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> typing.Any:
            modules.add(module)
            return super().find_class(module, name)

    Recorder(io.BytesIO(pickle.dumps(step))).load()
    return modules


def test_every_filters_module_was_searched():
    names = {s.__name__ for s in STEPS}
    # One from each family, so an import that silently stopped finding steps fails here.
    assert {"LanguageFilter", "WikitextCleaner", "C4PageFilter", "HtmlExtractor", "GithubContentFilter",
            "ArxivCleaner", "GutenbergCleaner"} <= names


@pytest.mark.parametrize("step_class", STEPS, ids=lambda s: s.__name__)
def test_name_version_and_reasons(step_class):
    step = _build(step_class)
    assert isinstance(step.name, str) and step.name
    assert isinstance(step.version, int) and step.version >= 1
    assert step.versioned_name == f"{step.name}_v{step.version}"
    assert isinstance(step.reasons, tuple) and len(set(step.reasons)) == len(step.reasons)
    for reason in step.reasons:
        assert isinstance(reason, str) and SNAKE_CASE.match(reason), reason


@pytest.mark.parametrize("step_class", STEPS, ids=lambda s: s.__name__)
def test_data_errors_are_data_errors_not_bug_types(step_class):
    bugs = (TypeError, KeyError, AttributeError, NameError, IndexError, AssertionError)
    for error in step_class.data_errors:
        assert issubclass(error, BaseException) and error is not BadRecord
        assert not issubclass(error, bugs) and not any(issubclass(bug, error) for bug in bugs), error


@pytest.mark.parametrize("step_class", STEPS, ids=lambda s: s.__name__)
def test_pickles_its_constructor_arguments_only(step_class):
    step = _build(step_class)
    state = step.__getstate__()
    params = [p for p in inspect.signature(step_class.__init__).parameters if p != "self"]
    assert list(state) == params
    clone = pickle.loads(pickle.dumps(step))
    assert type(clone) is step_class
    assert clone.__getstate__() == state


@pytest.mark.parametrize("step_class", STEPS, ids=lambda s: s.__name__)
def test_no_model_object_is_pickled(step_class):
    step = _build(step_class)
    try:
        step.load()  # builds the model where this checkout has it (bundled fastText, badwords)
    except (OSError, ValueError):  # fastText reports a missing model file as ValueError
        pass  # a model this checkout does not hold (quality, perplexity): the unloaded step is checked
    foreign = {m for m in _pickled_modules(step) if not m.startswith(ALLOWED_PICKLE_MODULES)}
    assert not foreign, f"{step_class.__name__} pickles {sorted(foreign)}"
    assert pickle.loads(pickle.dumps(step)).__getstate__() == _build(step_class).__getstate__()
