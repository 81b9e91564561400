"""The examples in docstrings and in docs/*.md run as written."""
import doctest
import importlib
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

DOCTEST_MODULES = [
    "minigen.backend", "minigen.random", "minigen.autograd.tensor", "minigen.autograd.engine",
    "minigen.autograd.gradcheck", "minigen.functional.conv", "minigen.functional.pool", "minigen.functional.norm",
    "minigen.functional.embedding",
]


@pytest.mark.parametrize("name", DOCTEST_MODULES)
def test_docstring_examples(name):
    mod = importlib.import_module(name)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no docstring example"
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed"


# Blocks that use names defined only in prose (a model, a discriminator) are marked and skipped.
NEEDS_CONTEXT = ("model(x)", "D(x_hat)")


@pytest.mark.parametrize("page", ["autograd.md"])
def test_markdown_code_blocks_run(page):
    src = (ROOT / "docs" / page).read_text(encoding="utf-8")
    ns = {}
    for block in re.findall(r"```python\n(.*?)```", src, re.S):
        if any(s in block for s in NEEDS_CONTEXT):
            continue
        exec(compile(block, f"docs/{page}", "exec"), ns)
