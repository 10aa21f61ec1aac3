// nabla/ops.hpp — every differentiable operation.
//
// Conventions: row-major; shape[0] is rows. Binary element-wise ops broadcast
// as NumPy does (scalar expansion, x + z with a scalar z, is the
// rank-0 case). Both operands must have the same dtype; a C++ double operand
// takes the tensor's dtype. Comparisons return 0/1 in the operands' dtype and
// carry no gradient.
//
// Each op's forward, VJP and JVP live together in one file of src/ops/.
#pragma once

#include <optional>
#include <vector>

#include "nabla/tensor.hpp"

namespace nabla {

// ---- arithmetic (broadcasting) ----------------------------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor neg(const Tensor& a);
Tensor pow(const Tensor& a, const Tensor& b);  // a^b, element-wise
Tensor pow(const Tensor& a, double exponent);
Tensor maximum(const Tensor& a, const Tensor& b);  // ties: gradient to a
Tensor minimum(const Tensor& a, const Tensor& b);  // ties: gradient to a
Tensor maximum(const Tensor& a, double b);         // max(a, c); max(0, z) is relu but for the tie rule
Tensor minimum(const Tensor& a, double b);
Tensor clamp(const Tensor& a, std::optional<double> lo, std::optional<double> hi);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a);
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(double a, const Tensor& b);

// ---- element-wise functions -------------------------------------------------
// One per line of nabla/elementwise.def, which gives each one's formula and
// derivative: exp, log, sqrt, abs (|x|'(0) = 0), sign, sin, cos, sinh, cosh,
// tanh, sigmoid (σ(x) = 1 / (1 + e^−x)), relu (relu'(0) = 0), step (Heaviside
// [x > 0], relu's derivative; its own derivative is 0), softplus (log(1 + eˣ),
// stable), square, ….
#define NABLA_ELEMENTWISE(NAME, ...) Tensor NAME(const Tensor& x);
#include "nabla/elementwise.def"
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);

// ---- linear algebra ---------------------------------------------------------
// matmul: [m,k]@[k,n] → [m,n]; [m,k]@[k] → [m]; [k]@[k,n] → [n]; [k]@[k] → [];
// batched [b,m,k]@[b,k,n] → [b,m,n] (a rank-2 side broadcasts over the batch).
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor mm(const Tensor& a, const Tensor& b);  // rank-2 only
Tensor dot(const Tensor& a, const Tensor& b);  // 1-d · 1-d → scalar
Tensor outer(const Tensor& a, const Tensor& b);  // [m] ⊗ [n] → [m,n]
Tensor transpose(const Tensor& a, int64_t d0, int64_t d1);
Tensor trace(const Tensor& a);  // sum of the main diagonal of a matrix
Tensor diag(const Tensor& a);   // matrix → its diagonal; vector → diagonal matrix
Tensor diagflat(const Tensor& a);  // any tensor, flattened, onto a diagonal
// Linear (affine) map y = x Wᵀ + b with W [out,in] as PyTorch stores it; x [..., in].
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b = Tensor());

// ---- reductions (dims may be negative; empty dims = all) -----------------------
Tensor sum(const Tensor& x);
Tensor sum(const Tensor& x, const Dims& dims, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, const Dims& dims, bool keepdim = false);
Tensor prod(const Tensor& x);
Tensor prod(const Tensor& x, int64_t dim, bool keepdim = false);
// max/min: the gradient goes to the first extremal element (one
// subgradient, chosen); argmax/argmin return its index (as float values).
Tensor max(const Tensor& x);
Tensor max(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor min(const Tensor& x);
Tensor min(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor logsumexp(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor softmax(const Tensor& x, int64_t dim);      // stable at ±1000
Tensor log_softmax(const Tensor& x, int64_t dim);  // stable at ±1000
Tensor norm(const Tensor& x);  // Euclidean (Frobenius) norm
// Sums `x` down to `shape` (the reverse of broadcasting `shape` up to x's).
Tensor sum_to(const Tensor& x, const Shape& shape);

// ---- shape ops --------------------------------------------------------------
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor flatten(const Tensor& x, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor squeeze(const Tensor& x, std::optional<int64_t> dim = std::nullopt);
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor permute(const Tensor& x, const Dims& order);
Tensor expand(const Tensor& x, const Shape& shape);
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step = 1);
Tensor concat(const std::vector<Tensor>& xs, int64_t dim = 0);
Tensor cat(const std::vector<Tensor>& xs, int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& xs, int64_t dim = 0);
// index_select: picks `index` (integral values in any dtype) along `dim`.
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
// gather: out[i][j] = x[i][index[i][j]] for dim 1 (and the analogue for any dim).
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
// One-hot rows from class indices: [n] → [n, classes].
Tensor one_hot(const Tensor& labels, int64_t classes, DType dtype = kFloat32);

// ---- comparisons and selection (no gradient through the condition) ---------
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);  // cond ≠ 0 picks a

bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8);
bool equal(const Tensor& a, const Tensor& b);  // same shape, same values

// ---- inverse, determinants and solves (LU with partial pivoting) ------------
// Each takes a matrix [n, n] or a batch of them [..., n, n], float32 or float64.
// A matrix singular to working precision (a zero pivot, or a reciprocal
// condition number below the dtype's epsilon) makes inv and solve throw
// nabla::Error naming the op and the shape; so do their gradients, and the
// gradients of det and logdet, which need X⁻¹.
Tensor inv(const Tensor& x);  // X⁻¹
Tensor det(const Tensor& x);  // det X of each matrix: [n, n] → [], [..., n, n] → [...]; 0 when singular
// log det X as PyTorch's logdet: NaN where det X < 0, −inf where det X = 0.
Tensor logdet(const Tensor& x);
// X = A⁻¹B without forming A⁻¹: A [..., n, n] and B [..., n, k] (the batch dims
// broadcast) → [..., n, k]; a vector B [n] gives [..., n].
Tensor solve(const Tensor& a, const Tensor& b);

}  // namespace nabla
