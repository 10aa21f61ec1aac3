// Row gathering shared by subset() and the DataLoader: a plain memcpy per row
// (or one memcpy per run of consecutive rows) from a contiguous source.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>

#include "../kernels/parallel.hpp"
#include "nabla/error.hpp"
#include "nabla/tensor.hpp"

namespace nabla::data::detail {

// Note [Row gathers]: a DataLoader batch copies rows at random positions of
// the data set, so each row starts with a cache (and often TLB) miss; from
// this many bytes the copy is split over the helper pool, which keeps twice
// as many misses in flight. Measured on `nabla train` (784-256-128-10, Adam),
// alternated with the serial copy: epochs 8–10% shorter at batch 1024 (3.2 MB
// a batch), no change beyond noise at 128 (400 KB); batch 32 (100 KB) stays
// serial.
inline constexpr int64_t kParallelGatherBytes = int64_t{1} << 18;

// New contiguous tensor [indices.size(), rest of src's shape] holding the rows
// src[indices[0]], src[indices[1]], … ; src must be contiguous with rank ≥ 1.
inline Tensor gather_rows(const Tensor& src, std::span<const int64_t> indices) {
  Shape shape = src.shape();
  const int64_t n = shape[0];
  shape[0] = static_cast<int64_t>(indices.size());
  Tensor out = empty(shape, src.dtype());
  const size_t row = static_cast<size_t>(n > 0 ? src.numel() / n : 0) * itemsize(src.dtype());
  const auto* from = static_cast<const unsigned char*>(src.raw_data());
  auto* to = static_cast<unsigned char*>(out.raw_data());
  for (int64_t i : indices)
    NABLA_CHECK_KIND(i >= 0 && i < n, ErrorKind::index, "data: row index ", i, " is out of range for ", n, " rows");
  // Rows [lo, hi) of the result; consecutive source rows are copied in one go.
  auto copy = [&](int64_t lo, int64_t hi) {
    for (auto i = static_cast<size_t>(lo); i < static_cast<size_t>(hi);) {
      const int64_t first = indices[i];
      size_t run = 1;
      while (i + run < static_cast<size_t>(hi) && indices[i + run] == first + static_cast<int64_t>(run)) ++run;
      std::memcpy(to + i * row, from + static_cast<size_t>(first) * row, run * row);
      i += run;
    }
  };
  // Note [Row gathers]
  const auto rows = static_cast<int64_t>(indices.size());
  if (row > 0 && rows * static_cast<int64_t>(row) >= kParallelGatherBytes)
    kernels::parallel_for(rows, std::max<int64_t>(1, kParallelGatherBytes / 2 / static_cast<int64_t>(row)), 1, copy);
  else
    copy(0, rows);
  return out;
}

}  // namespace nabla::data::detail
