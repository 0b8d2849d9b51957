// unified._core: pybind11 bindings only. Converts NumPy arrays to TensorViews and Python
// dicts to Attrs, calls kernels through the registry, and turns a failed Status into the
// matching Python exception. No kernels and no op logic here.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <Eigen/Core>

#include "unified/fused.h"
#include "unified/memory_stats.h"
#include "unified/registry.h"
#include "unified/threading.h"

namespace py = pybind11;

namespace unified {
bool install_counting_allocator();  // numpy_allocator.cpp
void bind_comm(py::module_& m);      // comm_bindings.cpp
}
using namespace unified;

namespace {

constexpr int kMaxOperands = 16;
constexpr int64_t kReleaseGilElements = 1 << 15;

[[noreturn]] void raise_status(const Status& s) {
  switch (s.code()) {
    case StatusCode::kTypeError: throw py::type_error(s.message());
    case StatusCode::kIndexError: throw py::index_error(s.message());
    case StatusCode::kInvalidArgument: throw py::value_error(s.message());
    default: throw std::runtime_error(s.message());
  }
}

bool dtype_from_numpy(int type_num, DType* out) {
  using C = py::detail::npy_api::constants;
  switch (type_num) {
    case C::NPY_FLOAT_: *out = DType::kFloat32; return true;
    case C::NPY_INT_: *out = DType::kInt32; return true;
    case C::NPY_LONG_: case C::NPY_LONGLONG_: *out = DType::kInt64; return true;
    case C::NPY_BOOL_: *out = DType::kBool; return true;
    case C::NPY_UBYTE_: *out = DType::kUInt8; return true;
    default: return false;
  }
}

void view_from_array(py::handle h, TensorView* v, const char* role, int index, bool writable) {
  if (!py::isinstance<py::array>(h))
    throw py::type_error(std::string("_core.run: ") + role + " " + std::to_string(index) +
                         " is not a numpy array");
  auto* a = py::detail::array_proxy(h.ptr());
  auto* d = py::detail::array_descriptor_proxy(a->descr);
  if (!dtype_from_numpy(d->type_num, &v->dtype))
    throw py::type_error(std::string("_core.run: ") + role + " " + std::to_string(index) +
                         " has unsupported numpy dtype " + py::str(h.attr("dtype")).cast<std::string>());
  if (a->nd > kMaxDims)
    throw py::value_error("_core.run: at most " + std::to_string(kMaxDims) + " dimensions, got " +
                          std::to_string(a->nd));
  if (writable && !(a->flags & py::detail::npy_api::NPY_ARRAY_WRITEABLE_))
    throw py::value_error(std::string("_core.run: output ") + std::to_string(index) + " is read-only");
  const int64_t itemsize = dtype_itemsize(v->dtype);
  v->data = a->data;
  v->ndim = a->nd;
  for (int i = 0; i < a->nd; ++i) {
    v->shape[i] = a->dimensions[i];
    if (a->strides[i] % itemsize != 0)
      throw py::value_error("_core.run: array strides are not a multiple of the item size");
    v->strides[i] = a->strides[i] / itemsize;
  }
}

int fill_views(const py::tuple& arrays, TensorView* views, const char* role, bool writable,
               int64_t* numel_total) {
  const int n = static_cast<int>(arrays.size());
  if (n > kMaxOperands) throw py::value_error("_core.run: too many operands");
  for (int i = 0; i < n; ++i) {
    view_from_array(arrays[i], &views[i], role, i, writable);
    *numel_total += views[i].numel();
  }
  return n;
}

AttrValue attr_from_python(const std::string& name, py::handle value) {
  AttrValue v;
  if (py::isinstance<py::bool_>(value) || py::isinstance<py::int_>(value)) {
    v.kind = AttrValue::Kind::kInt;
    v.i = value.cast<int64_t>();
  } else if (py::isinstance<py::float_>(value)) {
    v.kind = AttrValue::Kind::kFloat;
    v.f = value.cast<double>();
  } else if (py::isinstance<py::str>(value)) {
    v.kind = AttrValue::Kind::kString;
    v.s = value.cast<std::string>();
  } else if (py::isinstance<py::tuple>(value) || py::isinstance<py::list>(value)) {
    bool all_int = true;
    for (auto item : value) all_int &= py::isinstance<py::int_>(item) || py::isinstance<py::bool_>(item);
    if (all_int) {
      v.kind = AttrValue::Kind::kInts;
      for (auto item : value) v.ints.push_back(item.cast<int64_t>());
    } else {
      v.kind = AttrValue::Kind::kFloats;
      for (auto item : value) v.floats.push_back(item.cast<double>());
    }
  } else if (value.is_none()) {
    v.kind = AttrValue::Kind::kInts;  // absent optional: an empty list
  } else {
    throw py::type_error("attribute '" + name + "' has unsupported type " +
                         py::str(py::type::of(value)).cast<std::string>());
  }
  return v;
}

Attrs attrs_from_dict(const py::dict& d) {
  Attrs attrs;
  for (auto item : d) {
    std::string name = item.first.cast<std::string>();
    attrs.set(name, attr_from_python(name, item.second));
  }
  return attrs;
}

void run(int kernel_id, const py::tuple& inputs, const py::tuple& outputs, py::handle attrs) {
  KernelRegistry& reg = all_kernels();
  if (kernel_id < 0 || kernel_id >= reg.size())
    throw py::value_error("_core.run: no kernel with id " + std::to_string(kernel_id));
  TensorView in_views[kMaxOperands];
  TensorView out_views[kMaxOperands];
  int64_t numel = 0;
  KernelArgs args;
  args.num_inputs = fill_views(inputs, in_views, "input", false, &numel);
  args.num_outputs = fill_views(outputs, out_views, "output", true, &numel);
  args.inputs = in_views;
  args.outputs = out_views;
  static const Attrs kNoAttrs;
  args.attrs = attrs.is_none() ? &kNoAttrs : attrs.cast<const Attrs*>();
  KernelFn fn = reg.get(kernel_id);
  Status status;
  if (numel >= kReleaseGilElements) {
    py::gil_scoped_release release;
    status = fn(args);
  } else {
    status = fn(args);
  }
  if (!status.is_ok()) raise_status(status);
}

// The eager fast path for elementwise ops whose inputs are all float32 and either of one
// shape or 0-d (a scalar operand broadcasts): the output then has that shape and dtype, which is
// what the op's infer rule gives in that case. Returns the new output array, or None when the
// inputs do not qualify (the caller then takes the general route through the op's infer rule).
py::object run_same(int kernel_id, const py::tuple& inputs, py::handle attrs) {
  const int n = static_cast<int>(inputs.size());
  if (n < 1 || n > 3) return py::none();
  if (kernel_id < 0 || kernel_id >= all_kernels().size())
    throw py::value_error("_core.run_same: no kernel with id " + std::to_string(kernel_id));
  auto& api = py::detail::npy_api::get();
  TensorView views[3];
  py::detail::PyArray_Proxy* shaped = nullptr;  // the operand that gives the output's shape
  for (int i = 0; i < n; ++i) {
    py::handle h = inputs[i];
    if (!api.PyArray_Check_(h.ptr())) return py::none();
    auto* a = py::detail::array_proxy(h.ptr());
    if (py::detail::array_descriptor_proxy(a->descr)->type_num !=
        py::detail::npy_api::constants::NPY_FLOAT_ || a->nd > kMaxDims) return py::none();
    if (a->nd > 0) {
      if (shaped == nullptr) {
        shaped = a;
      } else {
        if (a->nd != shaped->nd) return py::none();
        for (int d = 0; d < a->nd; ++d)
          if (a->dimensions[d] != shaped->dimensions[d]) return py::none();
      }
    }
    view_from_array(h, &views[i], "input", i, false);
  }
  auto* first = shaped ? shaped : py::detail::array_proxy(inputs[0].ptr());
  PyObject* out = api.PyArray_NewFromDescr_(api.PyArray_Type_, api.PyArray_DescrFromType_(
      py::detail::npy_api::constants::NPY_FLOAT_), first->nd, first->dimensions, nullptr,
      nullptr, 0, nullptr);
  if (!out) throw py::error_already_set();
  py::object result = py::reinterpret_steal<py::object>(out);
  TensorView out_view;
  view_from_array(result, &out_view, "output", 0, true);
  static const Attrs kNoAttrs;
  KernelArgs args;
  args.inputs = views;
  args.num_inputs = n;
  args.outputs = &out_view;
  args.num_outputs = 1;
  args.attrs = attrs.is_none() ? &kNoAttrs : attrs.cast<const Attrs*>();
  KernelFn fn = all_kernels().get(kernel_id);
  Status status;
  if (out_view.numel() >= kReleaseGilElements) {
    py::gil_scoped_release release;
    status = fn(args);
  } else {
    status = fn(args);
  }
  if (!status.is_ok()) raise_status(status);
  return result;
}

}  // namespace

// ==== executor bindings (core_cpp/executor: Plan, the arena allocation counter) ===========
// Conversions only; building, checking and running a plan is in core_cpp/executor/plan.cpp.
#include "../executor/plan.h"

namespace {

DType dtype_from_name(const std::string& name) {
  static const std::pair<const char*, DType> kNames[] = {
      {"float32", DType::kFloat32}, {"int32", DType::kInt32}, {"int64", DType::kInt64},
      {"bool", DType::kBool}, {"uint8", DType::kUInt8}};
  for (const auto& item : kNames)
    if (name == item.first) return item.second;
  throw py::type_error("_core.Plan: unsupported dtype '" + name + "'");
}

SlotSpec spec_from_python(py::handle item) {  // (shape, dtype name)
  auto pair = item.cast<py::tuple>();
  SlotSpec spec;
  spec.shape = pair[0].cast<std::vector<int64_t>>();
  spec.dtype = dtype_from_name(pair[1].cast<std::string>());
  return spec;
}

std::vector<SlotSpec> specs_from_python(const py::sequence& items) {
  std::vector<SlotSpec> specs;
  for (auto item : items) specs.push_back(spec_from_python(item));
  return specs;
}

// (storage, slot, byte_offset, dtype name, shape, strides in elements)
std::vector<Operand> operands_from_python(const py::sequence& items) {
  std::vector<Operand> ops;
  for (auto item : items) {
    auto t = item.cast<py::tuple>();
    if (t.size() != 6) throw py::value_error("_core.Plan: an operand is a 6-tuple");
    Operand op;
    op.storage = static_cast<Storage>(t[0].cast<int>());
    op.slot = t[1].cast<int32_t>();
    op.byte_offset = t[2].cast<int64_t>();
    op.view.dtype = dtype_from_name(t[3].cast<std::string>());
    auto shape = t[4].cast<std::vector<int64_t>>();
    auto strides = t[5].cast<std::vector<int64_t>>();
    if (shape.size() != strides.size() || shape.size() > static_cast<size_t>(kMaxDims))
      throw py::value_error("_core.Plan: operand shape and strides differ in length or exceed " +
                            std::to_string(kMaxDims) + " dims");
    op.view.ndim = static_cast<int32_t>(shape.size());
    std::copy(shape.begin(), shape.end(), op.view.shape);
    std::copy(strides.begin(), strides.end(), op.view.strides);
    ops.push_back(op);
  }
  return ops;
}

void bind_arrays(Plan& plan, Storage storage, const py::sequence& arrays, const char* role,
                 bool writable) {
  if (static_cast<int>(arrays.size()) != plan.num_slots(storage))
    throw py::value_error(std::string("_core.Plan.run: expected ") +
                          std::to_string(plan.num_slots(storage)) + " " + role + " arrays, got " +
                          std::to_string(arrays.size()));
  for (int k = 0; k < static_cast<int>(arrays.size()); ++k) {
    TensorView v;
    view_from_array(arrays[k], &v, role, k, writable);
    Status st = plan.bind(storage, k, v);
    if (!st.is_ok()) raise_status(st);
  }
}

void bind_executor(py::module_& m) {
  py::class_<Plan>(m, "Plan", "A lowered graph run by C++ (core_cpp/executor/plan.h).")
      .def(py::init([](int64_t arena_bytes, const py::sequence& inputs, const py::sequence& params,
                       const py::sequence& outputs) {
             auto plan = std::make_unique<Plan>();
             Status st = plan->init(arena_bytes, specs_from_python(inputs),
                                    specs_from_python(params), specs_from_python(outputs));
             if (!st.is_ok()) raise_status(st);
             return plan;
           }), py::arg("arena_bytes"), py::arg("inputs"), py::arg("params"), py::arg("outputs"))
      .def("add_const", [](Plan& plan, const py::array& value) {
             py::array c = py::array::ensure(value, py::array::c_style);
             TensorView v;
             view_from_array(c, &v, "const", 0, false);
             SlotSpec spec;
             spec.dtype = v.dtype;
             spec.shape.assign(v.shape, v.shape + v.ndim);
             int slot = -1;
             Status st = plan.add_const(spec, c.data(), &slot);
             if (!st.is_ok()) raise_status(st);
             return slot;
           }, py::arg("value"), "Copy a constant into the plan; returns its slot.")
      .def("add_step", [](Plan& plan, int kernel_id, std::string label, const py::sequence& inputs,
                          const py::sequence& outputs, py::handle attrs) {
             Attrs parsed = attrs.is_none() ? Attrs() : attrs.cast<Attrs>();
             Status st = plan.add_step(kernel_id, std::move(label), operands_from_python(inputs),
                                       operands_from_python(outputs), std::move(parsed));
             if (!st.is_ok()) raise_status(st);
           }, py::arg("kernel_id"), py::arg("label"), py::arg("inputs"), py::arg("outputs"),
           py::arg("attrs") = py::none())
      .def("run", [](Plan& plan, const py::sequence& inputs, const py::sequence& params,
                     const py::sequence& outputs) {
             bind_arrays(plan, Storage::kInput, inputs, "input", false);
             bind_arrays(plan, Storage::kParam, params, "param", true);
             bind_arrays(plan, Storage::kOutput, outputs, "output", true);
             Status st;
             {
               py::gil_scoped_release release;
               st = plan.run();
             }
             if (!st.is_ok()) raise_status(st);
           }, py::arg("inputs"), py::arg("params"), py::arg("outputs"),
           "Run every step; params are updated and outputs filled in place.")
      .def_property("profiling", &Plan::profiling, &Plan::set_profiling,
                    "Record each step's start and end on every run (see timeline()).")
      .def("timeline", [](const Plan& plan) {
             py::list out;
             const auto& tl = plan.timeline();
             auto& reg = all_kernels();
             for (size_t i = 0; i < tl.size(); ++i)
               out.append(py::make_tuple(reg.name(plan.step_kernel(static_cast<int>(i))),
                                         plan.step_label(static_cast<int>(i)), tl[i].first,
                                         tl[i].second));
             return out;
           }, "(kernel, label, start_ns, end_ns) per step of the last profiled run.")
      .def_property_readonly("num_steps", &Plan::num_steps)
      .def_property_readonly("arena_bytes", &Plan::arena_bytes)
      .def("describe", &Plan::describe);
  m.def("executor_allocations", &executor_allocations,
        "Arenas and constant buffers the executor has allocated so far (a run adds none).");
}

}  // namespace
// ==== end of executor bindings ==============================================================

// ==== bundle bindings (core_cpp/bundle: LoadedBundle) ======================================
// Conversions only; checking a file and building its plan is in core_cpp/bundle/.
#include "../bundle/bundle_batch.h"
#include "../bundle/bundle_reader.h"

namespace {

// The caller's buffer stays exported (so alive, and a bytearray or mmap cannot be resized
// or closed under it) for as long as the bundle may use it in place.
struct PyBundle {
  std::unique_ptr<py::buffer_info> buffer;
  LoadedBundle bundle;
};

py::tuple shape_tuple(const std::vector<int64_t>& shape) {
  py::tuple t(shape.size());
  for (size_t i = 0; i < shape.size(); ++i) t[i] = py::int_(shape[i]);
  return t;
}

py::tuple view_shape(const TensorView& v, bool strides) {
  py::tuple t(v.ndim);
  for (int i = 0; i < v.ndim; ++i) t[i] = py::int_(strides ? v.strides[i] : v.shape[i]);
  return t;
}

py::tuple spec_to_python(const BundleTensorSpec& s) {  // (name, dtype, shape, {axis: name})
  py::dict dynamic;
  for (size_t i = 0; i < s.dynamic_axes.size(); ++i)
    dynamic[py::int_(s.dynamic_axes[i])] = py::str(s.dynamic_names[i]);
  return py::make_tuple(s.name, dtype_name(s.spec.dtype), shape_tuple(s.spec.shape), dynamic);
}

// A read-only array over the bundle's bytes, keeping `owner` (the Python Bundle) alive.
py::array tensor_to_python(const BundleTensor& t, py::handle owner) {
  py::array a(py::dtype(dtype_name(t.spec.dtype)), t.spec.shape, {}, t.data, owner);
  a.attr("setflags")(py::arg("write") = false);
  return a;
}

py::object attr_to_python(const AttrValue& v) {
  switch (v.kind) {
    case AttrValue::Kind::kInt: return py::int_(v.i);
    case AttrValue::Kind::kFloat: return py::float_(v.f);
    case AttrValue::Kind::kInts: return py::tuple(py::cast(v.ints));
    case AttrValue::Kind::kFloats: return py::tuple(py::cast(v.floats));
    case AttrValue::Kind::kString: return py::str(v.s);
  }
  return py::none();
}

py::list operands_to_python(const std::vector<Operand>& ops) {
  py::list out;
  for (const Operand& op : ops)
    out.append(py::make_tuple(static_cast<int>(op.storage), op.slot, op.byte_offset,
                              dtype_name(op.view.dtype), view_shape(op.view, false),
                              view_shape(op.view, true)));
  return out;
}

py::list step_to_python(const std::vector<BundleStep>& steps) {
  py::list out;
  for (const BundleStep& s : steps) {
    py::dict attrs;
    for (const auto& item : s.attrs.items())
      attrs[py::str(item.first)] = attr_to_python(item.second);
    out.append(py::make_tuple(s.kernel, s.op, s.label, operands_to_python(s.inputs),
                              operands_to_python(s.outputs), attrs));
  }
  return out;
}

std::unique_ptr<PyBundle> bundle_from_buffer(const py::buffer& buf, bool copy) {
  auto holder = std::make_unique<PyBundle>();
  holder->buffer = std::make_unique<py::buffer_info>(buf.request());
  const py::buffer_info& info = *holder->buffer;
  if (info.ndim > 1 || (info.ndim == 1 && info.strides[0] != info.itemsize))
    throw py::value_error("_core.Bundle: the bundle bytes must be one contiguous buffer");
  const size_t size = static_cast<size_t>(info.size * info.itemsize);
  Status st;
  {
    py::gil_scoped_release release;
    st = load_bundle(static_cast<const uint8_t*>(info.ptr), size, &holder->bundle, copy);
  }
  if (!st.is_ok()) throw py::value_error(st.message());
  if (holder->bundle.owned.data() != nullptr) holder->buffer.reset();  // copied: not needed
  return holder;
}

py::list bundle_run_python(PyBundle& b, const py::sequence& inputs) {
  const LoadedBundle& lb = b.bundle;
  if (inputs.size() != lb.inputs.size())
    throw py::value_error("_core.Bundle.run: the model takes " +
                          std::to_string(lb.inputs.size()) + " inputs, got " +
                          std::to_string(inputs.size()));
  std::vector<TensorView> in_views(lb.inputs.size()), out_views(lb.outputs.size());
  for (size_t k = 0; k < in_views.size(); ++k)
    view_from_array(inputs[k], &in_views[k], "input", static_cast<int>(k), false);
  py::list outputs;
  for (size_t k = 0; k < out_views.size(); ++k) {
    py::array a(py::dtype(dtype_name(lb.outputs[k].spec.dtype)), lb.outputs[k].spec.shape);
    view_from_array(a, &out_views[k], "output", static_cast<int>(k), true);
    outputs.append(a);
  }
  Status st;
  {
    py::gil_scoped_release release;
    st = bundle_run(&b.bundle, in_views.data(), static_cast<int>(in_views.size()),
                    out_views.data(), static_cast<int>(out_views.size()));
  }
  if (!st.is_ok()) raise_status(st);
  return outputs;
}

void bind_bundle(py::module_& m) {
  py::class_<PyBundle>(m, "Bundle", "A checked .ufb bundle and its plan (core_cpp/bundle).")
      .def(py::init(&bundle_from_buffer), py::arg("data"), py::arg("copy") = false,
           "Check the bundle bytes (ValueError naming the field) and build its plan; the bytes "
           "are used in place unless copied (copy=True, or a start not 64-byte aligned).")
      .def("run", &bundle_run_python, py::arg("inputs"),
           "Run on C-contiguous arrays matching the input specs; returns new output arrays.")
      .def_property_readonly("format_version",
                             [](const PyBundle& b) { return b.bundle.format_version; })
      .def_property_readonly("inputs", [](const PyBundle& b) {
             py::list out;
             for (const auto& s : b.bundle.inputs) out.append(spec_to_python(s));
             return out;
           }, "(name, dtype, shape, {axis: dynamic name}) per input.")
      .def_property_readonly("outputs", [](const PyBundle& b) {
             py::list out;
             for (const auto& s : b.bundle.outputs) out.append(spec_to_python(s));
             return out;
           }, "(name, dtype, shape, {axis: dynamic name}) per output.")
      .def_property_readonly("kernels", [](const PyBundle& b) { return b.bundle.kernels; })
      .def_property_readonly("arena_bytes",
                             [](const PyBundle& b) { return b.bundle.arena_bytes; })
      .def_property_readonly("steps",
           [](const PyBundle& b) { return step_to_python(b.bundle.steps); },
           "(kernel, op, label, inputs, outputs, attrs) per step; operands as Plan.add_step.")
      .def_property_readonly("consts", [](const PyBundle& b) {
             py::list out;
             for (const auto& c : b.bundle.consts)
               out.append(py::make_tuple(c.name, dtype_name(c.spec.dtype),
                                         shape_tuple(c.spec.shape), c.spec.nbytes()));
             return out;
           }, "(name, dtype, shape, nbytes) per constant.")
      .def_property_readonly("metadata", [](const PyBundle& b) {
             const BundleMetadata& md = b.bundle.metadata;
             py::dict d;
             d["framework_version"] = md.framework_version;
             d["created_utc"] = md.created_utc;
             d["content_hash"] = md.content_hash;
             d["name"] = md.name;
             return d;
           })
      .def_property_readonly("user_metadata",
           [](const PyBundle& b) { return b.bundle.metadata.user; }, "(key, JSON text) pairs.")
      .def_property_readonly("references", [](py::object self) {
             const PyBundle& b = self.cast<const PyBundle&>();
             py::list out;
             for (const auto& r : b.bundle.references) {
               py::list ins, outs;
               for (const auto& t : r.inputs) ins.append(tensor_to_python(t, self));
               for (const auto& t : r.outputs) outs.append(tensor_to_python(t, self));
               out.append(py::make_tuple(ins, outs));
             }
             return out;
           }, "(inputs, outputs) per reference pair: read-only arrays over the bundle bytes.")
      .def_property_readonly("out_structure",
                             [](const PyBundle& b) { return b.bundle.out_structure; })
      .def("describe", [](const PyBundle& b) { return b.bundle.plan->describe(); })
      .def_property_readonly("batch", [](const PyBundle& b) {
             return py::make_tuple(b.bundle.batch.current, b.bundle.batch.max);
           }, "(current batch, largest batch); (0, 0) for a bundle without a dynamic batch.")
      .def("set_batch", [](PyBundle& b, int64_t n) {
             Status st = bundle_set_batch(&b.bundle, n);
             if (!st.is_ok()) raise_status(st);
           }, py::arg("n"), "Re-plan a format 2 bundle at batch n (bundle_batch.h).");
}

}  // namespace
// ==== end of bundle bindings ================================================================

PYBIND11_MODULE(_core, m) {
  m.doc() = "unified C++ kernels (bindings only; see core_cpp/)";
  bind_executor(m);
  bind_bundle(m);
  bind_comm(m);

  py::class_<Attrs>(m, "Attrs", "An op's attributes, parsed once for the kernels.")
      .def(py::init(&attrs_from_dict), py::arg("values"))
      .def("keys", [](const Attrs& a) {
        std::vector<std::string> names;
        for (const auto& item : a.items()) names.push_back(item.first);
        return names;
      });

  m.def("kernel_names", [] {
    KernelRegistry& reg = all_kernels();
    std::vector<std::string> names;
    for (int i = 0; i < reg.size(); ++i) names.push_back(reg.name(i));
    return names;
  }, "Names of every registered kernel.");
  m.def("fusable_ops", &fused_op_names,
        "Op names the fused-elementwise engine can run (kernels/fused.cpp).");
  m.def("kernel_id", [](const std::string& name) {
    int id = all_kernels().find(name);
    if (id < 0) throw py::key_error("no C++ kernel named '" + name + "'");
    return id;
  }, py::arg("name"), "The registry id of a kernel, resolved once per op.");
  m.def("run", &run, py::arg("kernel_id"), py::arg("inputs"), py::arg("outputs"),
        py::arg("attrs") = py::none(),
        "Run kernel `kernel_id` on numpy arrays; outputs are preallocated and filled.");
  m.def("run_same", &run_same, py::arg("kernel_id"), py::arg("inputs"),
        py::arg("attrs") = py::none(),
        "Elementwise fast path: float32 inputs of one shape (or 0-d) -> new output, else None.");
  m.def("install_counting_allocator", &install_counting_allocator,
        "Count NumPy array allocations into memory_stats (NEP 49 handler; per context).");
  m.def("memory_stats", [] {
    py::dict d;
    d["current_bytes"] = memory_current();
    d["peak_bytes"] = memory_peak();
    return d;
  });
  m.def("reset_peak_memory_stats", &memory_reset_peak);
  m.def("tune_allocator", &tune_allocator,
        "Raise glibc's mmap/trim thresholds so large freed blocks are reused (process-wide).");
  m.def("set_num_threads", &set_num_threads, py::arg("n"));
  m.def("get_num_threads", &get_num_threads);
  m.def("build_info", [] {
    py::dict info;
    info["simd"] = std::string(Eigen::SimdInstructionSetsInUse());
#ifdef _OPENMP
    info["openmp"] = true;
#else
    info["openmp"] = false;
#endif
    info["eigen"] = std::to_string(EIGEN_WORLD_VERSION) + "." + std::to_string(EIGEN_MAJOR_VERSION) +
                    "." + std::to_string(EIGEN_MINOR_VERSION);
    return info;
  });
}
