"""The runnable examples in unified.optim's docstrings give the values they show."""

import doctest
import importlib

import pytest

MODULES = ["unified.optim.optimizer", "unified.optim.sgd", "unified.optim.adam",
           "unified.optim.adamw", "unified.optim.rmsprop", "unified.optim.lr_scheduler"]


@pytest.mark.parametrize("name", MODULES)
def test_optim_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
