// Matrix inverse, determinant, log-determinant and linear solves, on a matrix
// [n, n] or a batch of them [..., n, n]: one LU factorization with partial
// pivoting (Eigen's PartialPivLU) per matrix, in the tensor's dtype.
//
// The VJPs and JVPs are written with ops (matmul, inv and solve themselves),
// so that they are differentiable when the graph is being built (create_graph,
// forward-over-reverse: Hessians through these ops).
#include <Eigen/LU>
#include <cmath>
#include <limits>

#include "matrix_rules.hpp"
#include "ops_internal.hpp"

namespace nabla {
namespace {

template <class T>
using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using LU = Eigen::PartialPivLU<Mat<T>>;

// [..., n, n] with n the last extent.
void check_square(const Tensor& x, const char* op) {
  check_defined(x, op);
  NABLA_CHECK_KIND(x.dim() >= 2, ErrorKind::shape, op, ": expects a matrix or a batch of matrices [..., n, n], got ",
                   x.shape());
  const Shape& s = x.shape();
  NABLA_CHECK_KIND(s[s.size() - 1] == s[s.size() - 2], ErrorKind::shape, op, ": expects square matrices, got ",
                   x.shape());
}

Shape batch_of(const Shape& s, int trailing) { return Shape(s.begin(), s.end() - trailing); }

// "matrix [3,3]" or "matrix 2 of the batch [4,3,3]", for the messages.
std::string which_matrix(const Shape& s, int64_t b) {
  if (s.size() == 2) return detail::concat("matrix ", s);
  return detail::concat("matrix ", b, " of the batch ", s);
}

// A matrix singular to working precision (a zero pivot, or a reciprocal
// condition number below the dtype's epsilon: the result would carry no
// correct digit) is refused, as is one with non-finite entries.
template <class T>
void check_invertible(const LU<T>& lu, const char* op, const Shape& s, int64_t b) {
  const auto& u = lu.matrixLU();
  bool zero = false;
  for (Eigen::Index i = 0; i < u.rows(); ++i) {
    NABLA_CHECK(std::isfinite(u(i, i)), op, ": ", which_matrix(s, b), " has non-finite entries");
    if (u(i, i) == T(0)) zero = true;
  }
  const double rc = zero ? 0.0 : static_cast<double>(lu.rcond());
  NABLA_CHECK(rc >= static_cast<double>(std::numeric_limits<T>::epsilon()), op, ": ", which_matrix(s, b),
              " is singular (reciprocal condition number ", rc, ")");
}

// Calls f(b, lu) with the LU factorization of each matrix b of x [..., n, n] (n ≥ 1).
template <class T, class F>
void for_each_lu(const Tensor& x, F&& f) {
  const Tensor xc = x.detach().contiguous();
  const int64_t n = x.shape()[x.dim() - 1];
  const int64_t count = n == 0 ? 0 : x.numel() / (n * n);
  const T* p = xc.impl()->data<T>();
  for (int64_t b = 0; b < count; ++b) {
    LU<T> lu(Eigen::Map<const Mat<T>>(p + b * n * n, n, n));
    f(b, lu);
  }
}

// X⁻¹ on the buffers (no graph). `op` names the caller in errors.
Tensor inv_values(const Tensor& x, const char* op) {
  const Shape& s = x.shape();
  const int64_t n = s[s.size() - 1];
  Tensor y = make_tensor(s, x.dtype());
  dispatch(x.dtype(), [&]<class T>() {
    T* py = y.impl()->data<T>();
    for_each_lu<T>(x, [&](int64_t b, const LU<T>& lu) {
      check_invertible(lu, op, s, b);
      Eigen::Map<Mat<T>>(py + b * n * n, n, n) = lu.inverse();
    });
  });
  return y;
}

// det X (log = false) or log det X (log = true) of each matrix, on the buffers.
Tensor det_values(const Tensor& x, bool log) {
  const Shape& s = x.shape();
  Tensor y = make_tensor(batch_of(s, 2), x.dtype());
  if (s[s.size() - 1] == 0) return y.fill_(log ? 0.0 : 1.0);  // the empty product
  dispatch(x.dtype(), [&]<class T>() {
    T* py = y.impl()->data<T>();
    for_each_lu<T>(x, [&](int64_t b, const LU<T>& lu) {
      if (!log) {
        py[b] = lu.determinant();
        return;
      }
      // Σ log|uᵢᵢ| does not overflow where the product would; the sign decides NaN
      const auto& u = lu.matrixLU();
      T acc = 0;
      int sign = static_cast<int>(lu.permutationP().determinant());
      for (Eigen::Index i = 0; i < u.rows(); ++i) {
        acc += std::log(std::fabs(u(i, i)));
        if (u(i, i) < T(0)) sign = -sign;
      }
      py[b] = std::isinf(acc) && acc < 0 ? acc : sign < 0 ? std::numeric_limits<T>::quiet_NaN() : acc;
    });
  });
  return y;
}

// Flat index into a batch `sub` (right-aligned in `full`, 1 on broadcast
// dims) of the matrix at flat index i of the batch `full`.
int64_t broadcast_index(int64_t i, const Shape& full, const Shape& sub) {
  int64_t out = 0, stride = 1;
  for (int k = full.size() - 1, j = sub.size() - 1; k >= 0; --k, --j) {
    const int64_t idx = i % full[k];
    i /= full[k];
    if (j >= 0 && sub[j] != 1) {
      out += idx * stride;
      stride *= sub[j];
    }
  }
  return out;
}

// A⁻¹B on the buffers: A [..., n, n], B [..., n, k], batch dims broadcast.
Tensor solve_values(const Tensor& a, const Tensor& b, const char* op) {
  const Shape& sa = a.shape();
  const Shape& sb = b.shape();
  const int64_t n = sa[sa.size() - 1], k = sb[sb.size() - 1];
  const Shape ba = batch_of(sa, 2), bb = batch_of(sb, 2);
  const Shape batch = ba == bb ? ba : broadcast_shapes(ba, bb, op);
  Shape out = batch;
  out.push_back(n);
  out.push_back(k);
  Tensor x = make_tensor(out, a.dtype());
  if (x.numel() == 0) return x;
  const Tensor ac = a.detach().contiguous(), bc = b.detach().contiguous();
  dispatch(a.dtype(), [&]<class T>() {
    const T* pa = ac.impl()->data<T>();
    const T* pb = bc.impl()->data<T>();
    T* px = x.impl()->data<T>();
    LU<T> lu;
    int64_t factored = -1;  // the matrix of A that lu holds: one factorization serves a broadcast A
    for (int64_t i = 0, count = numel(batch); i < count; ++i) {
      const int64_t ia = broadcast_index(i, batch, ba), ib = broadcast_index(i, batch, bb);
      if (ia != factored) {
        lu.compute(Eigen::Map<const Mat<T>>(pa + ia * n * n, n, n));
        check_invertible(lu, op, sa, ia);
        factored = ia;
      }
      Eigen::Map<Mat<T>>(px + i * n * k, n, k) = lu.solve(Eigen::Map<const Mat<T>>(pb + ib * n * k, n, k));
    }
  });
  return x;
}

// inv with `op` named in the singular-matrix error (det's and logdet's VJPs use it).
Tensor inv_op(const Tensor& x, const char* op) {
  Tensor y = inv_values(x, op);
  if (should_record({&x}))
    // ∂Y = −Y dX Y  →  X̄ = −Yᵀ Ḡ Yᵀ
    record(y, "inv", {&x}, [x, yd = y.detach()](const Tensor& g, const VjpCtx& ctx) {
      const Tensor yy = differentiable({&g, &x}) ? inv_op(x, "inv") : yd;  // in the graph when it must be
      ctx.set(0, rules::inv_x(rules::TensorAlgebra{}, g, yy));
    }, {&x, &y});
  // Ẏ = −Y Ẋ Y  (rules::inv_jvp)
  jvp_rule(y, {&x}, "inv", [&] { return rules::inv_jvp(rules::TangentAlgebra{}, tangent_of(x), y); });
  return y;
}

// The rules' algebra (matrix_rules.hpp) for the VJPs of det and logdet: X⁻¹
// in the graph when the VJP must be differentiable, else on the buffers, and
// a singular X named as the gradient of `op`.
struct Algebra : rules::TensorAlgebra {
  const char* op;
  bool differentiable;
  Tensor inv(const Tensor& x) const { return differentiable ? inv_op(x, op) : inv_values(x, op); }
};

// The same for their JVPs, whose tangents carry no graph.
struct TangentAlgebra : rules::TangentAlgebra {
  const char* op;
  Tensor inv(const Tensor& x) const { return inv_values(x, op); }
};

}  // namespace

Tensor inv(const Tensor& x) {
  check_square(x, "inv");
  return inv_op(x, "inv");
}

Tensor det(const Tensor& x) {
  check_square(x, "det");
  Tensor y = det_values(x, false);
  if (should_record({&x}))
    // ∂ det X = det X · tr(X⁻¹ dX)  →  X̄ = ḡ · det X · X⁻ᵀ  (rules::det_x)
    record(y, "det", {&x}, [x, yd = y.detach()](const Tensor& g, const VjpCtx& ctx) {
      const bool d = differentiable({&g, &x});
      ctx.set(0, rules::det_x(Algebra{{}, "det (gradient)", d}, g, x, d ? det(x) : yd));
    }, {&x, &y});
  // ḋ = det X · tr(X⁻¹Ẋ)  (rules::det_jvp)
  jvp_rule(y, {&x}, "det", [&] {
    return rules::det_jvp(TangentAlgebra{{}, "det (tangent)"}, tangent_of(x), x, y);
  });
  return y;
}

Tensor logdet(const Tensor& x) {
  check_square(x, "logdet");
  Tensor y = det_values(x, true);
  if (should_record({&x}))
    // ∂ log det X = tr(X⁻¹ dX)  →  X̄ = ḡ X⁻ᵀ  (rules::logdet_x)
    record(y, "logdet", {&x}, [x](const Tensor& g, const VjpCtx& ctx) {
      ctx.set(0, rules::logdet_x(Algebra{{}, "logdet (gradient)", differentiable({&g, &x})}, g, x));
    }, {&x});
  // d(log det X) = tr(X⁻¹Ẋ)  (rules::logdet_jvp)
  jvp_rule(y, {&x}, "logdet", [&] {
    return rules::logdet_jvp(TangentAlgebra{{}, "logdet (tangent)"}, tangent_of(x), x);
  });
  return y;
}

Tensor solve(const Tensor& a, const Tensor& b) {
  check_same_dtype(a, b, "solve");
  check_square(a, "solve");
  const int64_t n = a.shape()[a.dim() - 1];
  NABLA_CHECK_KIND(b.dim() >= 1 && b.shape()[b.dim() == 1 ? 0 : b.dim() - 2] == n, ErrorKind::shape, "solve: A ",
                   a.shape(), " and B ", b.shape(), " do not align (expects B [..., ", n, ", k] or [", n, "])");
  if (b.dim() == 1) return squeeze(solve(a, unsqueeze(b, -1)), -1);  // a vector: one column
  const Shape ba = batch_of(a.shape(), 2), bb = batch_of(b.shape(), 2);
  bool broadcasts = true;
  for (int i = ba.size() - 1, j = bb.size() - 1; i >= 0 && j >= 0; --i, --j)
    broadcasts = broadcasts && (ba[i] == bb[j] || ba[i] == 1 || bb[j] == 1);
  NABLA_CHECK_KIND(broadcasts, ErrorKind::shape, "solve: the batch dims of A ", a.shape(), " and B ", b.shape(),
                   " do not broadcast");
  Tensor x = solve_values(a, b, "solve");
  if (should_record({&a, &b}))
    // dX = A⁻¹(dB − dA X)  →  B̄ = A⁻ᵀ Ḡ,  Ā = −B̄ Xᵀ (each summed over the batch dims it was broadcast along)
    record(x, "solve", {&a, &b}, [a, b, xd = x.detach(), r = x.dim()](const Tensor& g, const VjpCtx& ctx) {
      const int nb = batch_dims(g, r);
      const bool d = differentiable({&g, &a, &b});
      const Tensor gb = d ? solve(mT(a), g) : solve_values(mT(a.detach()), g, "solve");
      if (ctx.need(1)) ctx.set(1, sum_to_batched(gb, b.shape(), nb));
      if (ctx.need(0)) ctx.set(0, sum_to_batched(-matmul(gb, mT(d ? solve(a, b) : xd)), a.shape(), nb));
    }, {&a, &b, &x});
  // Ẋ = A⁻¹(Ḃ − Ȧ X), every direction in one solve
  jvp_rule(x, {&a, &b}, "solve", [&] {
    const int r = x.dim();
    Tensor rhs;
    if (has_tangent(b)) rhs = lift_tangent(tangent_of(b), r);
    if (has_tangent(a)) {
      Tensor u = matmul(lift_tangent(tangent_of(a), r), x);
      rhs = rhs.defined() ? rhs - u : -u;
    }
    return solve_values(a, rhs, "solve");
  });
  return x;
}

}  // namespace nabla
