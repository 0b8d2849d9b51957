// unified._core: pybind11 bindings only. Converts NumPy arrays to TensorViews and Python
// dicts to Attrs, calls kernels through the registry, and turns a failed Status into the
// matching Python exception. No kernels and no op logic here.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <Eigen/Core>

#include "unified/registry.h"
#include "unified/threading.h"

namespace py = pybind11;
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

PYBIND11_MODULE(_core, m) {
  m.doc() = "unified C++ kernels (bindings only; see core_cpp/)";

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
