"""The runnable examples in unified.nn's docstrings run and give the values they show."""

import doctest
import importlib
import pkgutil

import pytest

import unified.nn

MODULES = [f"unified.nn.{m.name}" for m in pkgutil.iter_modules(unified.nn.__path__)
           if not m.name.startswith("_")]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
