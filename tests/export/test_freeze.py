"""export/freeze.py: the frozen inference graph (weights as named consts, no params or writes,
outputs in the function's structure) and the clear refusals (state writes, random ops,
data-dependent branches, Python results), each naming the reason and the line."""

from __future__ import annotations

import numpy as np
import pytest
from unified.export.freeze import inference_graph
from unified.tracer import interpret

import unified as U
from unified import nn
from unified.errors import ExportError

F = nn.functional


def _model():
    U.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10),
                         nn.Dropout(0.5))


def _infer(model):
    def infer(img_u8):
        x = img_u8.float() / 255.0
        x = (x - 0.5) / 0.25
        probs = F.softmax(model(x), dim=1)
        return probs.topk(3, dim=1)

    return infer


def test_weights_become_named_consts_and_the_graph_computes_the_eager_result():
    model = _model().eval()
    model[1].running_mean.copy_(U.tensor([0.1, -0.2, 0.3, 0.0]))
    img = U.tensor(np.random.default_rng(0).integers(0, 256, (2, 1, 8, 8)).astype(np.uint8))
    ig = inference_graph(U.trace(_infer(model)), (img,))
    g = ig.graph
    assert ig.input_names == ["img_u8"] and ig.output_names == ["output0", "output1"]
    assert not g.params() and not g.writes and len(g.outputs) == 2
    consts = {n.name for n in g.nodes if n.kind == "const"}
    assert {"model.0.weight", "model.5.weight", "model.5.bias"} <= consts
    weight = next(n for n in g.nodes if n.name == "model.5.weight")
    np.testing.assert_array_equal(weight.value, model[5].weight.detach().numpy())
    assert not np.shares_memory(weight.value, model[5].weight.detach().numpy())  # a private copy
    with U.no_grad():
        eager = _infer(model)(img)
    np.testing.assert_array_equal(ig.example_outputs[0], eager.values.numpy())
    np.testing.assert_array_equal(ig.example_outputs[1], eager.indices.numpy())
    ran, _ = interpret.run(g, [img], [])  # BatchNorm may be folded: rounding differs
    np.testing.assert_allclose(ran[0].numpy(), eager.values.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ran[1].numpy(), eager.indices.numpy())
    rebuilt = ig.build(["v", "i"])
    assert type(rebuilt).__name__ == "TopK" and tuple(rebuilt) == ("v", "i")


def test_output_names_and_dict_results():
    ig = inference_graph(lambda x: {"double": x * 2, "neg": -x}, U.ones(3),
                         output_names=["double", "neg"])
    assert ig.output_names == ["double", "neg"] and ig.build([1, 2]) == {"double": 1, "neg": 2}
    with pytest.raises(ExportError, match=r"output_names \['a'\] must be 2 distinct names"):
        inference_graph(lambda x: (x * 2, -x), U.ones(3), output_names=["a"])


def test_training_mode_batch_norm_is_refused_with_a_hint():
    model = _model()
    model.train()
    model[6].eval()  # dropout off: the BatchNorm write is what is refused
    with pytest.raises(ExportError, match=r"updates state in place .*model\.eval\(\)"):
        inference_graph(_infer(model), (U.zeros(2, 1, 8, 8, dtype=U.uint8),))


def test_dropout_in_training_mode_is_refused_naming_the_op_and_line():
    model = _model().eval()
    model[6].train()
    with pytest.raises(ExportError, match=r"random op bernoulli at test_freeze.py:\d+"):
        inference_graph(_infer(model), (U.zeros(1, 1, 8, 8, dtype=U.uint8),))


def test_data_dependent_branch_and_python_results_are_refused():
    def branch(x):
        if x.sum() > 0:
            return x * 2
        return x - 1

    with pytest.raises(ExportError, match=r"read into Python \(bool of %\d+ at test_freeze"):
        inference_graph(branch, (U.ones(2),))
    with pytest.raises(ExportError, match="returns a Python value 3"):
        inference_graph(lambda x: (x * 2, 3), (U.ones(2),))
    with pytest.raises(ExportError, match="returns an argument"):
        inference_graph(lambda x: x, (U.ones(2),))
