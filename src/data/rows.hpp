// Row gathering shared by subset() and the DataLoader: a plain memcpy per row
// (or one memcpy per run of consecutive rows) from a contiguous source.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>

#include "nabla/error.hpp"
#include "nabla/tensor.hpp"

namespace nabla::data::detail {

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
  size_t i = 0;
  while (i < indices.size()) {
    const int64_t first = indices[i];
    NABLA_CHECK_KIND(first >= 0 && first < n, ErrorKind::index, "data: row index ", first,
                     " is out of range for ", n, " rows");
    size_t run = 1;  // consecutive rows are copied in one go
    while (i + run < indices.size() && indices[i + run] == first + static_cast<int64_t>(run) &&
           indices[i + run] < n)
      ++run;
    std::memcpy(to + i * row, from + static_cast<size_t>(first) * row, run * row);
    i += run;
  }
  return out;
}

}  // namespace nabla::data::detail
