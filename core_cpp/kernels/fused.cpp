// The fused-elementwise engine: one kernel, `fused_elementwise`, that runs a small register
// program of fusable float32 ops (elementwise_math.h) tile by tile, so a chain's
// intermediates stay in cache instead of making a round trip through memory per op. Each
// instruction calls the same ew:: function as the unfused kernel (kernels/elementwise.cpp),
// one instruction at a time over a tile, so the results are bit-identical to running the ops
// one by one. The program comes from tracer/passes/fuse.py; the OpDef is unified/ops/fused.py.
//
// Attrs: ops ("mul add sigmoid": one name per instruction), regs (3 ints per instruction: dst,
// a, b; b = -1 for unary ops; registers 0..num_inputs-1 hold the inputs), params (2 floats per
// instruction: p0, p1), num_regs. The last instruction's dst is the output.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "unified/elementwise_math.h"
#include "unified/fused.h"
#include "unified/registry.h"
#include "unified/threading.h"

namespace unified {
namespace {

constexpr int64_t kTile = 512;  // floats per register tile: 2 KiB, so 32 registers fit in L2
constexpr int kMaxRegs = 32;

// One instruction over one tile: d[i] = f(a[i], b[i], p0, p1) (b unused by unary ops).
using TileFn = void (*)(float* __restrict d, const float* __restrict a,
                        const float* __restrict b, int64_t n, float p0, float p1);

template <float (*F)(float, float, float)>
void unary_tile(float* __restrict d, const float* __restrict a, const float* __restrict,
                int64_t n, float p0, float p1) {
  for (int64_t i = 0; i < n; ++i) d[i] = F(a[i], p0, p1);
}

// Ops defined by a packet function: the whole tile in packets (same bits as the unfused kernel).
template <pk::Packet (*FP)(const pk::Packet&, float, float)>
void packet_tile(float* __restrict d, const float* __restrict a, const float* __restrict,
                 int64_t n, float p0, float p1) {
  pk::map(a, d, n, [&](const pk::Packet& x) { return FP(x, p0, p1); });
}

template <float (*F)(float, float, float, float)>
void binary_tile(float* __restrict d, const float* __restrict a, const float* __restrict b,
                 int64_t n, float p0, float p1) {
  for (int64_t i = 0; i < n; ++i) d[i] = F(a[i], b[i], p0, p1);
}

struct FusedOp {
  const char* name;
  int arity;
  TileFn tile;
};

// Every op elementwise_math.h defines; the names are the op names of unified/ops/elementwise.py
// (tests/tracer/test_fuse.py checks this list against the OpDefs with fuse_params).
const FusedOp kFusedOps[] = {
    {"neg", 1, unary_tile<ew::neg>},
    {"abs", 1, unary_tile<ew::abs>},
    {"exp", 1, packet_tile<ew::exp_p>},
    {"log", 1, packet_tile<ew::log_p>},
    {"sqrt", 1, packet_tile<ew::sqrt_p>},
    {"rsqrt", 1, packet_tile<ew::rsqrt_p>},
    {"sin", 1, packet_tile<ew::sin_p>},
    {"cos", 1, packet_tile<ew::cos_p>},
    {"tanh", 1, packet_tile<ew::tanh_p>},
    {"sigmoid", 1, packet_tile<ew::sigmoid_p>},
    {"relu", 1, unary_tile<ew::relu>},
    {"silu", 1, packet_tile<ew::silu_p>},
    {"leaky_relu", 1, unary_tile<ew::leaky_relu>},
    {"gelu", 1, packet_tile<ew::gelu_p>},
    {"softplus", 1, packet_tile<ew::softplus_p>},
    {"clamp", 1, unary_tile<ew::clamp>},
    {"add", 2, binary_tile<ew::add>},
    {"sub", 2, binary_tile<ew::sub>},
    {"mul", 2, binary_tile<ew::mul>},
    {"div", 2, binary_tile<ew::div>},
    {"pow", 2, binary_tile<ew::pow>},
    {"maximum", 2, binary_tile<ew::maximum>},
    {"minimum", 2, binary_tile<ew::minimum>},
    {"relu_backward", 2, binary_tile<ew::relu_backward>},
    {"leaky_relu_backward", 2, binary_tile<ew::leaky_relu_backward>},
    {"sigmoid_backward", 2, binary_tile<ew::sigmoid_backward>},
    {"tanh_backward", 2, binary_tile<ew::tanh_backward>},
    {"silu_backward", 2, binary_tile<ew::silu_backward>},
    {"gelu_backward", 2, binary_tile<ew::gelu_backward>},
    {"softplus_backward", 2, binary_tile<ew::softplus_backward>},
    {"clamp_backward", 2, binary_tile<ew::clamp_backward>},
};

const FusedOp* find_op(const std::string& name) {
  for (const FusedOp& op : kFusedOps)
    if (name == op.name) return &op;
  return nullptr;
}

struct Instr {
  TileFn tile;
  int dst, a, b;
  float p0, p1;
};

struct Program {
  std::vector<Instr> instrs;
  int num_regs = 0;
};

std::vector<std::string> split_names(const std::string& text) {
  std::vector<std::string> names;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find(' ', pos);
    if (end == std::string::npos) end = text.size();
    if (end > pos) names.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return names;
}

// Parses and checks the program: known ops, register counts, every read of a register that
// holds a value (an input or an earlier dst), no write over an input.
Status parse_program(const Attrs& attrs, int num_inputs, Program* prog) {
  const char* kName = "fused_elementwise";
  std::vector<std::string> names = split_names(attrs.get_string("ops"));
  std::vector<int64_t> regs = attrs.get_ints("regs");
  std::vector<double> params = attrs.get_floats("params");
  const int64_t num_regs = attrs.get_int("num_regs", 0);
  const size_t n = names.size();
  if (n == 0) return make_status(StatusCode::kInvalidArgument, kName, ": empty program (ops=\"\")");
  if (regs.size() != 3 * n || params.size() != 2 * n)
    return make_status(StatusCode::kInvalidArgument, kName, ": ", n, " ops need ", 3 * n,
                       " regs and ", 2 * n, " params, got ", regs.size(), " and ", params.size());
  if (num_regs < num_inputs || num_regs > kMaxRegs)
    return make_status(StatusCode::kInvalidArgument, kName, ": num_regs=", num_regs,
                       " must be in [num_inputs=", num_inputs, ", ", kMaxRegs, "]");
  bool defined[kMaxRegs] = {false};
  for (int r = 0; r < num_inputs; ++r) defined[r] = true;
  prog->num_regs = static_cast<int>(num_regs);
  for (size_t k = 0; k < n; ++k) {
    const FusedOp* op = find_op(names[k]);
    if (!op)
      return make_status(StatusCode::kInvalidArgument, kName, ": instruction ", k,
                         ": unknown op '", names[k], "'");
    const int64_t dst = regs[3 * k], a = regs[3 * k + 1], b = regs[3 * k + 2];
    auto readable = [&](int64_t r) { return r >= 0 && r < num_regs && defined[r]; };
    // dst differs from a and b: the tile loops take restrict pointers
    bool ok = dst >= num_inputs && dst < num_regs && dst != a && dst != b && readable(a) &&
              (op->arity == 2 ? readable(b) : b == -1);
    if (!ok)
      return make_status(StatusCode::kInvalidArgument, kName, ": instruction ", k, " (",
                         names[k], "): registers dst=", dst, " a=", a, " b=", b,
                         " (need dst in [", num_inputs, ", ", num_regs,
                         "), a", op->arity == 2 ? " and b" : "",
                         " holding a value", op->arity == 2 ? "" : ", b = -1", ", dst not read)");
    defined[dst] = true;
    prog->instrs.push_back({op->tile, static_cast<int>(dst), static_cast<int>(a),
                            static_cast<int>(b), static_cast<float>(params[2 * k]),
                            static_cast<float>(params[2 * k + 1])});
  }
  return Status::ok();
}

// Elements [begin, begin + n) of `in` (of the output's shape), in row-major order, into `dst`.
void gather(const TensorView& in, int64_t begin, int64_t n, float* dst) {
  int64_t index[kMaxDims];
  int64_t rem = begin, offset = 0;
  for (int d = in.ndim - 1; d >= 0; --d) {
    index[d] = rem % in.shape[d];
    rem /= in.shape[d];
    offset += index[d] * in.strides[d];
  }
  const float* base = in.ptr<float>();
  for (int64_t i = 0; i < n; ++i) {
    dst[i] = base[offset];
    for (int d = in.ndim - 1; d >= 0; --d) {  // step the index like an odometer
      offset += in.strides[d];
      if (++index[d] < in.shape[d]) break;
      offset -= index[d] * in.strides[d];
      index[d] = 0;
    }
  }
}

enum class InputKind { kDirect, kScalar, kGather };

// Runs the program over the tiles of [begin, end) with one set of register tiles.
void run_tiles(const Program& prog, const KernelArgs& args, const InputKind* kinds,
               int64_t begin, int64_t end) {
  alignas(64) float storage[kMaxRegs][kTile];
  const float* reg[kMaxRegs];
  float* out = args.out(0).ptr<float>();
  for (int r = 0; r < args.num_inputs; ++r)
    if (kinds[r] == InputKind::kScalar)  // a 0-d input: one tile of copies, filled once
      for (int64_t i = 0; i < kTile; ++i) storage[r][i] = *args.in(r).ptr<float>();
  const size_t last = prog.instrs.size() - 1;
  for (int64_t start = begin; start < end; start += kTile) {
    const int64_t n = std::min(kTile, end - start);
    for (int r = 0; r < args.num_inputs; ++r) {
      if (kinds[r] == InputKind::kDirect) {
        reg[r] = args.in(r).ptr<float>() + start;
      } else {
        if (kinds[r] == InputKind::kGather) gather(args.in(r), start, n, storage[r]);
        reg[r] = storage[r];
      }
    }
    for (size_t k = 0; k <= last; ++k) {
      const Instr& ins = prog.instrs[k];
      float* dst = k == last ? out + start : storage[ins.dst];
      ins.tile(dst, reg[ins.a], ins.b >= 0 ? reg[ins.b] : nullptr, n, ins.p0, ins.p1);
      reg[ins.dst] = dst;
    }
  }
}

}  // namespace

// Kernel entry points have external linkage: a trimmed runtime (mobile/, a generated
// ops_used.cpp) registers only those its model uses and the linker drops the rest.
Status fused_elementwise(const KernelArgs& args) {
  const char* kName = "fused_elementwise";
  UNIFIED_RETURN_IF_ERROR(check_arity(args, kName, args.num_inputs, 1));
  const TensorView& out = args.out(0);
  UNIFIED_RETURN_IF_ERROR(check_dtype(out, DType::kFloat32, kName, "output"));
  if (!out.is_contiguous())
    return make_status(StatusCode::kInvalidArgument, kName, ": the output of shape ",
                       out.shape_str(), " must be contiguous");
  if (args.num_inputs < 1 || args.num_inputs > kMaxRegs)
    return make_status(StatusCode::kInvalidArgument, kName, ": takes 1 to ", kMaxRegs,
                       " inputs, got ", args.num_inputs);
  InputKind kinds[kMaxRegs];
  for (int r = 0; r < args.num_inputs; ++r) {
    const TensorView& in = args.in(r);
    UNIFIED_RETURN_IF_ERROR(check_dtype(in, DType::kFloat32, kName, "input"));
    bool same = in.ndim == out.ndim;
    for (int d = 0; same && d < in.ndim; ++d) same = in.shape[d] == out.shape[d];
    if (in.ndim == 0) {
      kinds[r] = InputKind::kScalar;
    } else if (same) {
      kinds[r] = in.is_contiguous() ? InputKind::kDirect : InputKind::kGather;
    } else {
      return make_status(StatusCode::kInvalidArgument, kName, ": input ", r, " has shape ",
                         in.shape_str(), "; inputs must have the output's shape ",
                         out.shape_str(), " or be 0-d");
    }
  }
  Program prog;
  UNIFIED_RETURN_IF_ERROR(parse_program(*args.attrs, args.num_inputs, &prog));
  const int64_t numel = out.numel();
  const int64_t num_tiles = (numel + kTile - 1) / kTile;
  parallel_for(num_tiles, std::max<int64_t>(1, kGrainElements / kTile),
               [&](int64_t first, int64_t last) {
                 run_tiles(prog, args, kinds, first * kTile, std::min(numel, last * kTile));
               });
  return Status::ok();
}

std::vector<std::string> fused_op_names() {
  std::vector<std::string> names;
  for (const FusedOp& op : kFusedOps) names.push_back(op.name);
  return names;
}

FusedTileFn fused_unary_tile(const std::string& name) {
  const FusedOp* op = find_op(name);
  return op != nullptr && op->arity == 1 ? op->tile : nullptr;
}

void register_fused_kernels(KernelRegistry& reg) { reg.add("fused_elementwise", fused_elementwise); }

}  // namespace unified
