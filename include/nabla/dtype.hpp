// nabla/dtype.hpp — element types: float32 for training, float64 for checking.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>

#include "nabla/error.hpp"

namespace nabla {

enum class DType : uint8_t { f32, f64 };

inline constexpr DType kFloat32 = DType::f32;
inline constexpr DType kFloat64 = DType::f64;
inline constexpr DType kFloat = DType::f32;
inline constexpr DType kDouble = DType::f64;

inline size_t itemsize(DType t) noexcept { return t == DType::f32 ? 4 : 8; }
inline const char* dtype_name(DType t) noexcept { return t == DType::f32 ? "float32" : "float64"; }
std::ostream& operator<<(std::ostream& os, DType t);

template <class T>
struct dtype_of;
template <>
struct dtype_of<float> {
  static constexpr DType value = DType::f32;
};
template <>
struct dtype_of<double> {
  static constexpr DType value = DType::f64;
};
template <class T>
inline constexpr DType dtype_v = dtype_of<T>::value;

// Calls fn.template operator()<T>() with T the C++ type of `t`.
//   dispatch(t, [&]<class T>() { ... });
template <class F>
decltype(auto) dispatch(DType t, F&& fn) {
  if (t == DType::f32) return fn.template operator()<float>();
  return fn.template operator()<double>();
}

}  // namespace nabla
