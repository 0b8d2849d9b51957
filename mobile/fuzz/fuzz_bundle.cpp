// libFuzzer target over the bundle reader and executor (core_cpp/bundle, core_cpp/executor) as
// the edge runtime links them. Each input is tried twice:
//  1. as given: the preamble, CRC and FlatBuffer checks must refuse it cleanly;
//  2. with its two CRC-32s recomputed (the FlatBuffer's, then the data section's when the
//     FlatBuffer verifies), so mutations reach the Verifier and the semantic checks.
// A bundle that loads is then run on zero inputs, and on each stored reference pair. Limits:
// bundles whose arena or tensors exceed kMaxBytes are skipped before loading (a valid file may
// ask for any amount of memory; that is a resource limit, not a memory-safety question).
// Build and run: see mobile/fuzz/README.md.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../../core_cpp/bundle/bundle_reader.h"
#include "../../core_cpp/bundle/crc32.h"
#include "unified/bundle_generated.h"

namespace {

constexpr int64_t kMaxBytes = int64_t{64} << 20;

uint64_t read_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | p[i];
  return v;
}

void write_u32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

// The FlatBuffer of a file whose preamble size fits, verified; null otherwise.
const unified::fbs::Bundle* verified_root(const uint8_t* data, size_t size) {
  if (size < unified::kBundlePreambleBytes) return nullptr;
  const uint64_t fb_size = read_u64(data + 8);
  if (fb_size < 8 || fb_size > size - unified::kBundlePreambleBytes) return nullptr;
  const uint8_t* fb = data + unified::kBundlePreambleBytes;
  flatbuffers::Verifier verifier(fb, static_cast<size_t>(fb_size));
  if (!unified::fbs::VerifyBundleBuffer(verifier)) return nullptr;
  return unified::fbs::GetBundle(fb);
}

void fix_crcs(std::vector<uint8_t>* file) {
  uint8_t* data = file->data();
  const size_t size = file->size();
  const uint64_t fb_size = read_u64(data + 8);
  if (fb_size > size - unified::kBundlePreambleBytes) return;
  write_u32(data + 16, unified::crc32(data + unified::kBundlePreambleBytes, fb_size));
  const unified::fbs::Bundle* root = verified_root(data, size);
  if (root == nullptr || root->data() == nullptr || root->data()->offset() > size) return;
  // the crc32 field's bytes inside the (mutable) copy of the buffer
  auto* table = reinterpret_cast<const flatbuffers::Table*>(root->data());
  const uint8_t* field = table->GetAddressOf(unified::fbs::DataSection::VT_CRC32);
  if (field == nullptr) return;
  const uint64_t start = root->data()->offset();
  write_u32(data + (field - data), unified::crc32(data + start, size - start));
  // the data CRC sits inside the FlatBuffer: its CRC changes again
  write_u32(data + 16, unified::crc32(data + unified::kBundlePreambleBytes, fb_size));
}

// Skips files whose arena or inputs/outputs are too large to allocate in a fuzzing run.
bool small_enough(const uint8_t* data, size_t size) {
  const unified::fbs::Bundle* root = verified_root(data, size);
  if (root == nullptr) return true;  // refused before anything is allocated
  const auto* plan = root->plan();
  return plan == nullptr || (plan->arena_bytes() >= 0 && plan->arena_bytes() <= kMaxBytes);
}

void run_loaded(unified::LoadedBundle* b) {
  std::vector<std::vector<uint8_t>> buffers;
  std::vector<unified::TensorView> ins, outs;
  int64_t total = 0;
  for (int pass = 0; pass < 2; ++pass) {
    for (const auto& s : pass == 0 ? b->inputs : b->outputs) {
      total += s.spec.nbytes();
      if (total > kMaxBytes) return;
      buffers.emplace_back(static_cast<size_t>(s.spec.nbytes()) + 1);  // never empty
      unified::TensorView v;
      v.data = buffers.back().data();
      v.dtype = s.spec.dtype;
      v.ndim = static_cast<int32_t>(s.spec.shape.size());
      int64_t stride = 1;
      for (int i = v.ndim - 1; i >= 0; --i) {
        v.shape[i] = s.spec.shape[i];
        v.strides[i] = stride;
        stride *= s.spec.shape[i];
      }
      (pass == 0 ? ins : outs).push_back(v);
    }
  }
  (void)unified::bundle_run(b, ins.data(), static_cast<int>(ins.size()), outs.data(),
                            static_cast<int>(outs.size()));
  for (const auto& ref : b->references) {
    if (ref.inputs.size() != ins.size()) continue;
    for (size_t k = 0; k < ins.size(); ++k)
      std::memcpy(ins[k].data, ref.inputs[k].data,
                  static_cast<size_t>(ref.inputs[k].spec.nbytes()));
    (void)unified::bundle_run(b, ins.data(), static_cast<int>(ins.size()), outs.data(),
                              static_cast<int>(outs.size()));
  }
}

void load_and_run(const uint8_t* data, size_t size) {
  if (!small_enough(data, size)) return;
  unified::LoadedBundle b;
  if (unified::load_bundle(data, size, &b, /*copy=*/true).is_ok()) run_loaded(&b);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  load_and_run(data, size);
  if (size >= unified::kBundlePreambleBytes) {
    std::vector<uint8_t> fixed(data, data + size);
    fix_crcs(&fixed);
    load_and_run(fixed.data(), fixed.size());
  }
  return 0;
}
