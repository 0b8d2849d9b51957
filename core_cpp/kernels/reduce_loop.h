// The loop engine of the reduce kernels (reduce.cpp): a plan that splits the input's dims into
// kept dims (one per output element) and reduced dims, each group coalesced, and two schedules:
// rows (each output walks its reduced elements; used when a reduced dim is the fastest-varying)
// and columns (a block of neighbouring outputs advances together, for leading-dim reductions).
// Long reductions with few outputs are split across threads and combined in order.
#pragma once
#include <algorithm>
#include <cstdint>
#include <memory>

#include "unified/tensor_view.h"
#include "unified/threading.h"

namespace unified {
namespace reduce_detail {

struct ReducePlan {
  int nk = 0;  // kept dims (size > 1, coalesced), outermost first
  int64_t kshape[kMaxDims], kin[kMaxDims], kout[kMaxDims];
  int nr = 0;  // reduced dims (size > 1, coalesced), outermost first: row-major reduced index
  int64_t rshape[kMaxDims], rin[kMaxDims];
  int64_t M = 1;  // output elements
  int64_t R = 1;  // reduced elements per output
};

// Merges neighbouring dims whose strides chain (in `a`, and in `b` when given); returns the count.
inline int coalesce(int n, int64_t* shape, int64_t* a, int64_t* b) {
  int m = 0;
  for (int d = 0; d < n; ++d) {
    if (m > 0 && a[m - 1] == a[d] * shape[d] && (!b || b[m - 1] == b[d] * shape[d])) {
      shape[m - 1] *= shape[d];
      a[m - 1] = a[d];
      if (b) b[m - 1] = b[d];
      continue;
    }
    shape[m] = shape[d];
    a[m] = a[d];
    if (b) b[m] = b[d];
    ++m;
  }
  return m;
}

// `reduced[d]` marks the reduced dims of x; o has x's shape without them (or with 1s: keepdim).
inline ReducePlan make_reduce_plan(const TensorView& x, const TensorView& o, const bool* reduced,
                                   bool keepdim) {
  ReducePlan p;
  int out_d = 0;
  for (int d = 0; d < x.ndim; ++d) {
    if (reduced[d]) {
      p.R *= x.shape[d];
      if (x.shape[d] != 1) {
        p.rshape[p.nr] = x.shape[d];
        p.rin[p.nr++] = x.strides[d];
      }
      out_d += keepdim ? 1 : 0;
      continue;
    }
    p.M *= x.shape[d];
    if (x.shape[d] != 1) {
      p.kshape[p.nk] = x.shape[d];
      p.kin[p.nk] = x.strides[d];
      p.kout[p.nk++] = o.strides[out_d];
    }
    ++out_d;
  }
  p.nk = coalesce(p.nk, p.kshape, p.kin, p.kout);
  p.nr = coalesce(p.nr, p.rshape, p.rin, nullptr);
  return p;
}

// Input and output offsets of kept element `i` over the first `ndims` kept dims.
inline void kept_offsets(const ReducePlan& p, int ndims, int64_t i, int64_t* in_off,
                         int64_t* out_off) {
  int64_t a = 0, b = 0;
  for (int d = ndims - 1; d >= 0; --d) {
    int64_t k = i % p.kshape[d];
    i /= p.kshape[d];
    a += k * p.kin[d];
    b += k * p.kout[d];
  }
  *in_off = a;
  *out_off = b;
}

// Calls row(offset, r_first, n, stride) for the runs of the innermost reduced dim that cover
// reduced indices [begin, end).
template <class RowFn>
void for_each_reduced_row(const ReducePlan& p, int64_t begin, int64_t end, RowFn row) {
  if (p.nr == 0) {
    if (begin < end) row(int64_t{0}, int64_t{0}, int64_t{1}, int64_t{0});
    return;
  }
  const int inner = p.nr - 1;
  const int64_t n_inner = p.rshape[inner];
  for (int64_t r = begin; r < end;) {
    int64_t j = r % n_inner, rest = r / n_inner, off = j * p.rin[inner];
    for (int d = inner - 1; d >= 0; --d) {
      off += (rest % p.rshape[d]) * p.rin[d];
      rest /= p.rshape[d];
    }
    int64_t n = std::min(n_inner - j, end - r);
    row(off, r, n, p.rin[inner]);
    r += n;
  }
}

// Every reduced dim is slower than the innermost kept dim: outputs advance in blocks.
inline bool use_columns(const ReducePlan& p) {
  if (p.nk == 0 || p.nr == 0) return false;
  auto magnitude = [](int64_t s) { return s < 0 ? -s : s; };
  int64_t fastest_reduced = magnitude(p.rin[0]);
  for (int d = 1; d < p.nr; ++d) fastest_reduced = std::min(fastest_reduced, magnitude(p.rin[d]));
  return magnitude(p.kin[p.nk - 1]) < fastest_reduced;
}

// How many pieces to cut each reduction into when `tasks` tasks of `work` elements each are
// too few to keep the threads busy.
inline int64_t reduction_splits(int64_t tasks, int64_t work, int64_t R) {
  const int64_t threads = get_num_threads();
  if (tasks >= threads || work < 2 * kGrainElements) return 1;
  int64_t splits = std::min<int64_t>(threads, work / kGrainElements);
  return std::max<int64_t>(1, std::min(splits, R));
}

// Row schedule: out element i accumulates its reduced elements in reduced-index order.
template <class T, class Red, class Store>
void reduce_rows(const ReducePlan& p, const T* x, const Red& red, Store store) {
  using Acc = typename Red::Acc;
  auto accumulate = [&](Acc& acc, const T* base, int64_t begin, int64_t end) {
    for_each_reduced_row(p, begin, end, [&](int64_t off, int64_t r0, int64_t n, int64_t s) {
      red.row(acc, base + off, n, s, r0);
    });
  };
  const int64_t splits = reduction_splits(p.M, p.R, p.R);
  if (splits == 1) {
    parallel_for(p.M, std::max<int64_t>(1, kGrainElements / std::max<int64_t>(p.R, 1)),
                 [&](int64_t begin, int64_t end) {
                   for (int64_t i = begin; i < end; ++i) {
                     int64_t in_off, out_off;
                     kept_offsets(p, p.nk, i, &in_off, &out_off);
                     Acc acc = red.init(i);
                     accumulate(acc, x + in_off, 0, p.R);
                     store(i, out_off, red.finish(acc, i));
                   }
                 });
    return;
  }
  std::unique_ptr<Acc[]> part(new Acc[splits]);  // not vector: Acc may be bool
  for (int64_t i = 0; i < p.M; ++i) {
    int64_t in_off, out_off;
    kept_offsets(p, p.nk, i, &in_off, &out_off);
    parallel_for(splits, 1, [&](int64_t begin, int64_t end) {
      for (int64_t c = begin; c < end; ++c) {
        part[c] = red.init(i);
        accumulate(part[c], x + in_off, p.R * c / splits, p.R * (c + 1) / splits);
      }
    });
    for (int64_t c = 1; c < splits; ++c) red.combine(part[0], part[c]);
    store(i, out_off, red.finish(part[0], i));
  }
}

constexpr int64_t kColumnBlock = 256;

// One block of the column schedule: outputs j0 .. j0 + n - 1 along the innermost kept dim of
// kept row `outer`, with that row's input and output offsets.
struct ColumnBlock {
  int64_t outer, j0, n, in_off, out_off;
};

inline ColumnBlock column_block(const ReducePlan& p, int64_t item, int64_t blocks) {
  ColumnBlock b;
  b.outer = item / blocks;
  b.j0 = (item % blocks) * kColumnBlock;
  b.n = std::min(kColumnBlock, p.kshape[p.nk - 1] - b.j0);
  kept_offsets(p, p.nk - 1, b.outer, &b.in_off, &b.out_off);
  return b;
}

// Each reduced position in [r_begin, r_end) feeds the block's neighbouring elements together.
template <class T, class Red>
void accumulate_columns(const ReducePlan& p, const T* x, const Red& red, const ColumnBlock& b,
                        int64_t r_begin, int64_t r_end, typename Red::Acc* acc) {
  const int64_t ks = p.kin[p.nk - 1], n = b.n;
  const T* base = x + b.in_off + b.j0 * ks;
  for_each_reduced_row(p, r_begin, r_end, [&](int64_t off, int64_t r0, int64_t rn, int64_t rs) {
    for (int64_t r = 0; r < rn; ++r) {
      const T* line = base + off + r * rs;
      if (ks == 1) {
        for (int64_t j = 0; j < n; ++j) red.step(acc[j], line[j], r0 + r);
      } else {
        for (int64_t j = 0; j < n; ++j) red.step(acc[j], line[j * ks], r0 + r);
      }
    }
  });
}

template <class Red, class Store>
void store_columns(const ReducePlan& p, const Red& red, const ColumnBlock& b,
                   const typename Red::Acc* acc, Store& store) {
  const int64_t K = p.kshape[p.nk - 1], ko = p.kout[p.nk - 1];
  for (int64_t j = 0; j < b.n; ++j) {
    const int64_t i = b.outer * K + b.j0 + j;
    store(i, b.out_off + (b.j0 + j) * ko, red.finish(acc[j], i));
  }
}

// Column schedule, for reductions over dims slower than the innermost kept dim: tasks are
// (block, piece of the reduction); pieces are combined in order afterwards.
template <class T, class Red, class Store>
void reduce_columns(const ReducePlan& p, const T* x, const Red& red, Store store) {
  using Acc = typename Red::Acc;
  const int64_t K = p.kshape[p.nk - 1];
  const int64_t blocks = (K + kColumnBlock - 1) / kColumnBlock;
  const int64_t items = (p.M / K) * blocks;
  const int64_t splits = reduction_splits(items, p.R * std::min(K, kColumnBlock), p.R);
  std::unique_ptr<Acc[]> part(new Acc[splits > 1 ? items * splits * kColumnBlock : 0]);
  auto run_task = [&](int64_t task) {
    const int64_t split = task % splits;
    const ColumnBlock b = column_block(p, task / splits, blocks);
    Acc local[kColumnBlock];
    Acc* acc = splits > 1 ? part.get() + task * kColumnBlock : local;
    for (int64_t j = 0; j < b.n; ++j) acc[j] = red.init(b.outer * K + b.j0 + j);
    accumulate_columns(p, x, red, b, p.R * split / splits, p.R * (split + 1) / splits, acc);
    if (splits == 1) store_columns(p, red, b, acc, store);
  };
  const int64_t work = std::max<int64_t>(1, p.R / splits * std::min(K, kColumnBlock));
  parallel_for(items * splits, std::max<int64_t>(1, kGrainElements / work),
               [&](int64_t begin, int64_t end) {
                 for (int64_t t = begin; t < end; ++t) run_task(t);
               });
  if (splits == 1) return;
  for (int64_t item = 0; item < items; ++item) {
    const ColumnBlock b = column_block(p, item, blocks);
    Acc* first = part.get() + item * splits * kColumnBlock;
    for (int64_t s = 1; s < splits; ++s)
      for (int64_t j = 0; j < b.n; ++j) red.combine(first[j], first[s * kColumnBlock + j]);
    store_columns(p, red, b, first, store);
  }
}

// Reduces x per the plan, calling store(i, out_offset, value) once per output element
// (i: the row-major index over kept dims). R == 0 gives finish(init(i)) (e.g. sum -> 0).
template <class T, class Red, class Store>
void run_reduce(const ReducePlan& p, const T* x, const Red& red, Store store) {
  if (p.M == 0) return;
  if (p.R == 0) {
    for (int64_t i = 0; i < p.M; ++i) {
      int64_t in_off, out_off;
      kept_offsets(p, p.nk, i, &in_off, &out_off);
      store(i, out_off, red.finish(red.init(i), i));
    }
    return;
  }
  if (use_columns(p)) {
    reduce_columns<T>(p, x, red, store);
  } else {
    reduce_rows<T>(p, x, red, store);
  }
}

}  // namespace reduce_detail
}  // namespace unified
