"""End to end: examples/train_digits.py trains the digits CNN and the W1 MLP to the accuracy
the issue asks (>= 97% and >= 96% on the fixed 80/20 split), and a checkpoint round trip
gives a model with the same predictions."""

import importlib.util
import os

import pytest

import unified as U

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "examples", "train_digits.py")


def _example():
    spec = importlib.util.spec_from_file_location("train_digits", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_digits_cnn_reaches_97_percent_and_checkpoint_round_trips(tmp_path):
    ex = _example()
    model, acc, x_test = ex.train("cnn", epochs=12, progress=False)
    assert acc >= 0.97, f"test accuracy {acc:.4f}"
    path = tmp_path / "cnn.ufc"
    U.save(model.state_dict(), path)
    reloaded = ex.build_model("cnn")
    reloaded.load_state_dict(U.load(path))
    assert bool((ex.predict(reloaded, x_test) == ex.predict(model, x_test)).all())


@pytest.mark.slow
def test_digits_mlp_reaches_96_percent():
    ex = _example()
    _, acc, _ = ex.train("mlp", epochs=12, progress=False)
    assert acc >= 0.96, f"test accuracy {acc:.4f}"
