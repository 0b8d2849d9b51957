"""ONNX export (export/onnx.py, export/onnx_builder.py and the `onnx` fields in unified/ops):
onnxruntime against eager (the oracle) for four models with a dynamic batch, the digits
pipeline with uint8 input and top-k, every exportable row of the op table (tests/op_cases.py)
at opsets 13, 17 and 18, hand-picked ops at several batch sizes, the errors (unexportable ops,
baked sizes, bad arguments), external data and atomic writes."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import unified as U
import unified.functional as F
from tests.export.models import MODELS, digits_cnn
from tests.op_cases import all_cases
from tests.op_harness import make_inputs
from unified.errors import ExportError

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from unified.export.freeze import InferenceGraph, inference_graph  # noqa: E402
from unified.export.onnx import build_model, check, to_onnx  # noqa: E402

BATCHES = (1, 3, 8)


def session(model_or_path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3  # no warnings on stderr
    source = model_or_path.SerializeToString() if isinstance(
        model_or_path, onnx.ModelProto) else os.fspath(model_or_path)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def batch_of(example: U.Tensor, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (n,) + tuple(example.shape[1:])
    if example.dtype == U.uint8:
        return rng.integers(0, 256, shape).astype(np.uint8)
    if example.dtype in (U.int64, U.int32):
        return rng.integers(0, 5, shape).astype(example.dtype)
    return rng.standard_normal(shape).astype(np.float32)


def eager(fn, *arrays) -> list[np.ndarray]:
    with U.no_grad():
        out = fn(*(U.tensor(a) for a in arrays))
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [o.numpy() for o in outs]


def output_dims(model: onnx.ModelProto, k: int = 0) -> list:
    dims = model.graph.output[k].type.tensor_type.shape.dim
    return [d.dim_param or d.dim_value for d in dims]


# ---- models with a dynamic batch -------------------------------------------------------------
@pytest.mark.parametrize("opset, example_batch", [(17, 2), (18, 2), (17, 1)])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_matches_eager_at_batch_1_3_8(name, opset, example_batch, tmp_path):
    model, example = MODELS[name](batch=example_batch)
    path = tmp_path / f"{name}.onnx"
    exported = to_onnx(model, example, path, input_names=["x"], opset=opset,
                       dynamic_axes={"x": {0: "batch"}})
    check(path)
    assert output_dims(exported)[0] == "batch"
    sess = session(path)
    for n in BATCHES:
        x = batch_of(example[0], n, seed=n)
        (got,) = sess.run(None, {"x": x})
        np.testing.assert_allclose(got, eager(model, x)[0], rtol=0, atol=1e-5,
                                   err_msg=f"{name} at batch {n}")


def test_digits_pipeline_with_uint8_input_and_topk_matches_eager(tmp_path):
    model, _ = digits_cnn()

    @U.trace
    def infer(img_u8):  # (N, 1, 32, 32) uint8
        x = img_u8.float() / 255.0
        x = (x - 0.5) / 0.25
        probs = F.softmax(model(x), dim=1)
        return probs.topk(3, dim=1)  # values float32, indices int64

    from unified import export

    example = (U.zeros(1, 1, 32, 32, dtype=U.uint8),)
    path = tmp_path / "digits.onnx"
    export.to_onnx(infer, example, str(path), dynamic_axes={"img_u8": {0: "batch"}})
    sess = session(path)
    assert [i.type for i in sess.get_inputs()] == ["tensor(uint8)"]
    for n in BATCHES:
        img = batch_of(example[0], n, seed=10 + n)
        values, indices = sess.run(None, {"img_u8": img})
        want_values, want_indices = eager(infer.fn, img)
        assert values.dtype == np.float32 and indices.dtype == np.int64
        assert values.shape == indices.shape == (n, 3)
        np.testing.assert_allclose(values, want_values, rtol=0, atol=1e-5)
        np.testing.assert_array_equal(indices, want_indices)


def test_output_names_and_dynamic_spatial_dims_are_kept(tmp_path):
    U.manual_seed(4)
    conv = U.nn.Conv2d(3, 4, 3, padding=1)

    def fcn(image):
        y = F.max_pool2d(conv(image).relu(), 2, return_indices=True)
        return F.avg_pool2d(y[0], 2), y[1]

    axes = {0: "batch", 2: "height", 3: "width"}
    path = tmp_path / "fcn.onnx"
    model = to_onnx(fcn, (U.ones(1, 3, 8, 8),), path, output_names=["pooled", "argmax"],
                    dynamic_axes={"image": axes, "pooled": {2: "h4"}})
    assert [o.name for o in model.graph.output] == ["pooled", "argmax"]
    assert output_dims(model, 0) == ["batch", 4, "h4", model.graph.output[0].type.tensor_type
                                     .shape.dim[3].dim_param]
    sess = session(path)
    for shape in ((1, 3, 8, 8), (2, 3, 12, 20), (3, 3, 17, 9)):
        image = np.random.default_rng(shape[2]).standard_normal(shape).astype(np.float32)
        got = sess.run(None, {"image": image})
        want = eager(fcn, image)
        np.testing.assert_allclose(got[0], want[0], rtol=0, atol=1e-5)
        np.testing.assert_array_equal(got[1], want[1])


# ---- the op table: every exportable row, static shapes -----------------------------------
CASES = all_cases()


def feeds_for(ig: InferenceGraph, fn, tensors, arrays) -> dict:
    """ONNX input name -> the argument array that graph input node reads (input nodes are
    named after the arguments)."""
    from unified.tracer.trace import trace

    _, _, names, _ = trace(fn)._key(tuple(tensors), {})
    by_name = dict(zip(names, arrays))
    return {name: by_name[node.name].reshape(node.metas[0].shape)
            for name, node in zip(ig.input_names, ig.graph.inputs())}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_op_table_row_runs_in_onnxruntime_like_eager(case):
    arrays = make_inputs(case)
    tensors = [U.tensor(a) for a in arrays]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # trace warnings of rows that are not inference
            ig = inference_graph(case.fn, tuple(tensors))
    except ExportError as exc:  # state writes, random ops, values read into Python
        assert "export(" in str(exc)
        return
    except RuntimeError as exc:  # the row differentiates: it cannot run under no_grad
        pytest.skip(f"not an inference function ({exc})")
    blocked = [n for n in ig.graph.calls() if n.op.onnx is None]
    if blocked:
        with pytest.raises(ExportError, match=f"op {blocked[0].op.name} .*not exportable"):
            build_model(ig)
        return
    feeds = feeds_for(ig, case.fn, tensors, arrays)
    for opset in (13, 17, 18):
        model = build_model(ig, opset=opset)
        check(model)
        outs = session(model).run(None, feeds)
        for k, (got, want) in enumerate(zip(outs, ig.example_outputs)):
            want = want.reshape(ig.graph.outputs[k].meta.shape)
            what = f"{case.name} output {k} (opset {opset})"
            assert got.shape == want.shape and got.dtype == want.dtype, what
            if want.dtype.kind in "biu":
                np.testing.assert_array_equal(got, want, err_msg=what)
            else:
                # a row that allows more than 1e-5 against NumPy (Winograd's transforms round
                # differently) allows the same against onnxruntime
                np.testing.assert_allclose(got, want, rtol=max(case.rtol, 1e-5),
                                           atol=max(case.atol, 1e-5), err_msg=what)


# ---- single ops with a dynamic batch -----------------------------------------------------
def _setitem_columns(x, v):
    y = x.clone()
    y[:, U.tensor(np.array([0, 2]))] = v
    return y


def _interpolate(mode, **kw):
    return lambda x: F.interpolate(x, mode=mode, **kw)


IDX = U.tensor(np.array([2, 0, 2, 1]))
ROWS, COLS = U.tensor(np.array([[0], [2]])), U.tensor(np.array([1, -1]))
DYNAMIC_OPS = {
    # name: (fn, example argument shapes (batch first), dtypes)
    "flatten": (lambda x: x.flatten(1), [(2, 3, 4, 5)]),
    "split_heads": (lambda x: x.reshape(x.shape[0], 6, 2, 4).permute(0, 2, 1, 3), [(2, 6, 8)]),
    "merge_batch": (lambda x: x.reshape(-1, 8).relu(), [(2, 6, 8)]),
    "unflatten": (lambda x: x.view(x.shape[0], 4, 5), [(2, 20)]),
    "slice_tail": (lambda x: x[:, 1:] * 2.0, [(2, 5, 3)]),
    "slice_batch_from_1": (lambda x: x[1:], [(2, 4)]),
    "select": (lambda x: x[:, 0] + x[:, -1], [(2, 5, 3)]),
    "stride": (lambda x: x[..., ::2], [(2, 3, 7)]),
    "expand": (lambda x: x.expand(-1, 3, 4) + 1.0, [(2, 1, 4)]),
    "cat_batch": (lambda x, y: U.cat([x, y], 0), [(2, 3), (2, 3)]),
    "cat_features": (lambda x: U.cat([x, x * 2.0], 1), [(2, 3)]),
    "pad_reflect": (lambda x: F.pad(x, (1, 2, 2, 1), mode="reflect"), [(2, 1, 4, 4)]),
    "pad_circular": (lambda x: F.pad(x, (1, 2), mode="circular"), [(2, 3, 4)]),
    "index_select": (lambda x: x.index_select(1, IDX), [(2, 3, 5)]),
    "gather": (lambda x: x.gather(1, (x.abs() * 2).long().clamp(0, 2)), [(2, 3)]),
    "index_two_dims": (lambda x: x[:, ROWS, COLS], [(2, 3, 4)]),
    "index_split_dims": (lambda x: x[:, IDX[:2], :, IDX[:2]], [(2, 3, 4, 5)]),
    "setitem_columns": (_setitem_columns, [(2, 3), (2, 2)]),
    "masked_fill": (lambda x: x.masked_fill(x > 0.5, -1.0), [(2, 6)]),
    "where": (lambda x, y: U.where(x > y, x, y * 3.0), [(2, 4), (2, 4)]),
    "var_logsumexp": (lambda x: x.var(dim=(1, 2)) + U.logsumexp(x, dim=2).sum(1), [(2, 3, 4)]),
    "argmax": (lambda x: x.argmax(dim=1).sum(1) + x.argmax(), [(2, 4, 3)]),
    "log_softmax_topk": (lambda x: F.log_softmax(x, dim=-1).topk(2, dim=-1, largest=False),
                         [(2, 7)]),
    "one_hot": (lambda i: F.one_hot(i, 6), [(2, 3)], [U.int64]),
    "embedding": (lambda i: F.embedding(i, U.tensor(np.linspace(-1, 1, 24, dtype=np.float32)
                                                    .reshape(6, 4))), [(2, 3)], [U.int32]),
    "layer_norm": (lambda x: F.layer_norm(x, (6,)), [(2, 4, 6)]),
    "max_pool_ceil_indices": (lambda x: F.max_pool2d(x, 2, ceil_mode=True, return_indices=True),
                              [(2, 2, 5, 5)]),
    "avg_pool_pad": (lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True), [(2, 2, 6, 7)]),
    "adaptive_uneven": (lambda x: F.adaptive_avg_pool2d(x, (2, 3)), [(2, 2, 5, 7)]),
    "nearest": (_interpolate("nearest", size=(7, 5)), [(2, 2, 3, 4)]),
    "bilinear": (_interpolate("bilinear", scale_factor=1.5), [(2, 2, 3, 4)]),
    "bilinear_corners": (_interpolate("bilinear", size=(5, 2), align_corners=True),
                         [(2, 1, 3, 4)]),
    "activations": (lambda x: F.gelu(x, approximate="tanh") + F.silu(x) + F.softplus(x, 2.0)
                    + x.clamp(min=-0.5) + x.clamp(max=0.2) + U.rsqrt(x.abs() + 1.0)
                    + F.leaky_relu(x, 0.2), [(2, 5)]),
    "compare": (lambda x, y: (x != y).sum(1) + (x >= y).sum(1) + (x < 2).sum(1),
                [(2, 4), (2, 4)], [U.int64] * 2),
}


@pytest.mark.parametrize("name", sorted(DYNAMIC_OPS))
def test_single_op_with_dynamic_batch_matches_eager(name, tmp_path):
    fn, shapes, *dtypes = DYNAMIC_OPS[name]
    dtypes = dtypes[0] if dtypes else [U.float32] * len(shapes)
    example = tuple(U.tensor(batch_of(U.zeros(*s, dtype=d), s[0], seed=k))
                    for k, (s, d) in enumerate(zip(shapes, dtypes)))
    names = [f"in{k}" for k in range(len(shapes))]
    path = tmp_path / f"{name}.onnx"
    to_onnx(fn, example, path, input_names=names,
            dynamic_axes={n: {0: "batch"} for n in names})
    sess = session(path)
    for n in BATCHES:
        arrays = [batch_of(e, n, seed=100 * n + k) for k, e in enumerate(example)]
        got = sess.run(None, dict(zip(names, arrays)))
        want = eager(fn, *arrays)
        for k, (g, w) in enumerate(zip(got, want)):
            what = f"{name} output {k} at batch {n}"
            assert g.shape == w.shape, what
            if w.dtype.kind in "biu":
                np.testing.assert_array_equal(g, w, err_msg=what)
            else:
                np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5, err_msg=what)


def test_index_put_accumulates_repeated_indices(tmp_path):
    from unified.ops import lookup

    def fn(x, v):
        return F.call_op(lookup("index_put"), x, v, U.tensor(np.array([1, 1, 0])), dims=(1,),
                         accumulate=1)

    example = (U.ones(2, 3), U.tensor(np.arange(6, dtype=np.float32).reshape(2, 3)))
    path = tmp_path / "acc.onnx"
    to_onnx(fn, example, path, opset=16)
    (got,) = session(path).run(None, {"x": example[0].numpy(), "v": example[1].numpy()})
    np.testing.assert_allclose(got, [[3.0, 2.0, 1.0], [6.0, 8.0, 1.0]])
    with pytest.raises(ExportError, match="opset 16"):
        to_onnx(fn, example, tmp_path / "acc13.onnx", opset=13)


# ---- errors ------------------------------------------------------------------------------
def test_backward_op_in_the_function_names_the_op_and_line(tmp_path):
    from unified.ops import lookup

    def fn(g, x):
        return F.call_op(lookup("relu_backward"), g, x)

    line = inspect.getsourcelines(fn)[1] + 1
    with pytest.raises(ExportError) as info:
        to_onnx(fn, (U.ones(3), U.ones(3)), tmp_path / "bw.onnx")
    message = str(info.value)
    assert message.startswith("to_onnx: op relu_backward (at test_onnx.py:")
    assert f"test_onnx.py:{line} in fn" in message
    assert message.endswith("is not exportable: backward ops are not exported")
    assert not (tmp_path / "bw.onnx").exists()


def _hand_built(op_name: str, *metas, **attrs) -> InferenceGraph:
    from unified.ops import lookup
    from unified.tracer.graph import Graph, SourceLoc

    g = Graph("hand_built")
    inputs = [g.add_input(f"in{k}", m).ref() for k, m in enumerate(metas)]
    op = lookup(op_name)
    node = g.add_call(op, tuple(inputs), {**op.attrs, **attrs},
                      source=SourceLoc("/src/model.py", 42, "forward"))
    g.set_outputs([node.ref()])
    return InferenceGraph(g, [f"in{k}" for k in range(len(metas))], ["out"], [], [], None, "h")


def test_hand_built_random_and_backward_ops_are_refused_with_their_reason():
    from unified.ops.registry import TensorMeta

    f32 = np.dtype(np.float32)
    state = TensorMeta((2,), np.dtype(np.int64))
    with pytest.raises(ExportError, match=r"op uniform \(at model.py:42 in forward\) is not "
                                          r"exportable: random ops are not exported"):
        build_model(_hand_built("uniform", state, size=(3,)))
    meta = TensorMeta((4,), f32)
    with pytest.raises(ExportError, match=r"op sigmoid_backward \(at model.py:42 in forward\) "
                                          r"is not exportable: backward ops"):
        build_model(_hand_built("sigmoid_backward", meta, meta))


def test_reshape_splitting_the_dynamic_dim_is_refused_with_its_line(tmp_path):
    def fn(x):
        return x.reshape(2, 2, 6)

    line = inspect.getsourcelines(fn)[1] + 1
    with pytest.raises(ExportError, match=rf"op reshape \(at test_onnx.py:{line} in fn\).*"
                                          "splits a dynamic dim"):
        to_onnx(fn, (U.ones(4, 6),), tmp_path / "r.onnx", dynamic_axes={"x": {0: "n"}})
    to_onnx(fn, (U.ones(4, 6),), tmp_path / "r.onnx")  # fine with a fixed size


def test_size_baked_from_the_batch_is_refused_with_the_dynamic_axis(tmp_path):
    bias = U.ones(2, 3)  # sized like the example's batch: breaks at any other batch

    def fn(x):
        return x + bias

    with pytest.raises(ExportError, match=r"op add .*dynamic axes \['batch'\]"):
        to_onnx(fn, (U.ones(2, 3),), tmp_path / "b.onnx", dynamic_axes={"x": {0: "batch"}})


def test_dynamic_axis_asked_of_a_static_output_is_refused(tmp_path):
    with pytest.raises(ExportError, match="dim 0 of output 'output0' dynamic"):
        to_onnx(lambda x: x.sum(0), (U.ones(2, 3),), tmp_path / "s.onnx",
                dynamic_axes={"x": {0: "batch"}, "output0": {0: "batch"}})


def test_bad_arguments_are_refused_with_the_values(tmp_path):
    example = (U.ones(2, 3),)
    with pytest.raises(ValueError, match="opset must be an int from 13 to .*got 12"):
        to_onnx(lambda x: x * 2.0, example, tmp_path / "o.onnx", opset=12)
    with pytest.raises(ValueError, match=r"dynamic_axes names 'y'.*\['x'\]"):
        to_onnx(lambda x: x * 2.0, example, tmp_path / "o.onnx", dynamic_axes={"y": [0]})
    with pytest.raises(ValueError, match="dynamic axis 2 of 'x' is out of range"):
        to_onnx(lambda x: x * 2.0, example, tmp_path / "o.onnx", dynamic_axes={"x": [2]})
    with pytest.raises(ValueError, match="'batch' has size 2 in one input and 4 in 'y'"):
        to_onnx(lambda x, y: x.sum(0) + y.sum(0), (U.ones(2, 3), U.ones(4, 3)),
                tmp_path / "o.onnx", dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    with pytest.raises(ValueError, match="input_names"):
        to_onnx(lambda x: x * 2.0, example, tmp_path / "o.onnx", input_names=["a", "b"])


# ---- files -------------------------------------------------------------------------------
def test_external_data_model_loads_and_runs(tmp_path):
    model, example = MODELS["resnet_cnn"]()
    path = tmp_path / "resnet.onnx"
    to_onnx(model, example, path, input_names=["x"], external_data=True,
            dynamic_axes={"x": {0: "batch"}})
    data = tmp_path / "resnet.onnx.data"
    assert data.stat().st_size > 30_000 > 10 * path.stat().st_size
    assert sorted(p.name for p in tmp_path.iterdir()) == ["resnet.onnx", "resnet.onnx.data"]
    check(path)
    loaded = onnx.load(os.fspath(path), load_external_data=False)
    big = [t for t in loaded.graph.initializer if np.prod(t.dims) * 4 > 1024]
    assert big and all(t.data_location == onnx.TensorProto.EXTERNAL for t in big)
    x = batch_of(example[0], 3, seed=5)
    (got,) = session(path).run(None, {"x": x})
    np.testing.assert_allclose(got, eager(model, x)[0], rtol=0, atol=1e-5)


def test_failed_export_leaves_the_existing_file_alone(tmp_path):
    path = tmp_path / "keep.onnx"
    path.write_bytes(b"old model")
    with pytest.raises(ExportError):
        to_onnx(lambda x: x.reshape(2, 2, 6), (U.ones(4, 6),), path,
                dynamic_axes={"x": {0: "n"}})
    assert path.read_bytes() == b"old model"
    assert os.listdir(tmp_path) == ["keep.onnx"]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        to_onnx(lambda x: x * 2.0, (U.ones(2),), tmp_path / "missing" / "m.onnx")


def test_importing_unified_and_its_ops_does_not_import_onnx():
    code = ("import sys, unified, unified.ops, unified.nn; "
            "assert 'onnx' not in sys.modules and 'onnxruntime' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
