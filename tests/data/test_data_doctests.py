"""The runnable examples in the docstrings of unified.data and unified.datasets run and give
the values they show (tests/test_doctests.py covers the core modules)."""

import doctest
import importlib

import pytest

MODULES = ["unified.data.dataset", "unified.data.sampler", "unified.data.collate",
           "unified.data.dataloader", "unified.datasets.digits"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name),
                             optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
