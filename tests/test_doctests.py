"""The runnable examples in public docstrings (tensor, creation, grad modes, autograd and every
functional module) run and give the values they show."""

import doctest
import importlib
import pkgutil

import pytest

import unified.functional

MODULES = ["unified.tensor", "unified.creation", "unified.grad_mode", "unified.autograd"] + [
    f"unified.functional.{m.name}" for m in pkgutil.iter_modules(unified.functional.__path__)
    if not m.name.startswith("_")
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
