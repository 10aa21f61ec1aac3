// nabla/sym.hpp — symbolic matrix calculus.
//
// Parse a matrix expression with declared shapes, derive its gradient,
// Jacobian or Hessian in closed form by matrix differentials and the chain
// rule, simplify it to a short canonical form, print it (text, LaTeX, JSON,
// derivation steps), and lower it to a numeric function of Tensors.
//
//   auto decls = sym::parse_declarations("x:vector(n) A:matrix(n,n)");
//   sym::Expr f = sym::parse("x'*A*x", decls);
//   sym::Derivative d = sym::differentiate(f, "x", decls);
//   sym::to_text(d.result);   // "(A + A')*x"
//
// Expressions are immutable and hash-consed: two equal expressions are the
// same pointer. The smart constructors (add, mul, transpose, …) return the
// canonical form: sums flattened with like terms merged and ordered, numeric
// coefficients folded to the front of products, scalar factors collected
// with their powers, transposes pushed to the leaves ((AB)' = B'A'), the
// identity dropped from products. Identities that are choices (factoring
// common factors, sum(x .* y) = x'*y, trace of an outer product, …) are the
// named rules of simplify(), which --steps cites.
//
// Conventions: vectors are columns (n×1); a scalar is 1×1. The gradient of a
// scalar is shaped like its variable; a Jacobian is m×n (numerator layout)
// unless the denominator layout is asked for.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nabla/tensor.hpp"

namespace nabla::sym {

// ---- dimensions and shapes ---------------------------------------------------

// A dimension: an integer polynomial in symbols (3, n, n + m, m*n).
class Dim {
 public:
  Dim() = default;
  Dim(int64_t c) : c_(c) {}  // NOLINT: implicit, a number is a dimension
  static Dim symbol(const std::string& name);
  bool is_const() const noexcept { return terms_.empty(); }
  int64_t constant() const noexcept { return c_; }
  bool is_one() const noexcept { return terms_.empty() && c_ == 1; }
  // The single symbol of a dimension that is exactly one symbol, else "".
  std::string as_symbol() const;
  Dim operator+(const Dim& o) const;
  Dim operator-(const Dim& o) const;
  Dim operator*(const Dim& o) const;  // the length of vec(X) for X m×n: m*n
  bool operator==(const Dim& o) const noexcept { return c_ == o.c_ && terms_ == o.terms_; }
  bool operator!=(const Dim& o) const noexcept { return !(*this == o); }
  int compare(const Dim& o) const;
  std::string str() const;  // "n", "3", "n+m"
  // Binds the symbols; throws nabla::Error naming a missing one.
  int64_t eval(const std::map<std::string, int64_t>& dims) const;
  const std::vector<std::pair<std::string, int64_t>>& terms() const noexcept { return terms_; }
  size_t hash() const noexcept;

 private:
  int64_t c_ = 0;
  // Monomials ("n", "m*n": symbols sorted, joined by '*') with nonzero
  // coefficients, sorted by monomial.
  std::vector<std::pair<std::string, int64_t>> terms_;
};

struct Shape {
  Dim rows = 1, cols = 1;
  bool is_scalar() const noexcept { return rows.is_one() && cols.is_one(); }
  bool is_col() const noexcept { return cols.is_one() && !rows.is_one(); }
  bool is_row() const noexcept { return rows.is_one() && !cols.is_one(); }
  bool is_vector() const noexcept { return is_col() || is_row(); }
  bool is_square() const noexcept { return rows == cols; }
  bool operator==(const Shape& o) const noexcept { return rows == o.rows && cols == o.cols; }
  bool operator!=(const Shape& o) const noexcept { return !(*this == o); }
  Shape t() const { return {cols, rows}; }
  std::string str() const;  // "n×m"
};

// ---- expressions ------------------------------------------------------------

enum class Op : uint8_t {
  constant,   // a number (scalar); value
  variable,   // a declared variable; name, shape
  dim,        // a dimension symbol used as a scalar (1/N); name
  zero,       // the zero matrix of a shape (scalars use constant 0)
  identity,   // eye(n)
  ones,       // ones(n) or ones(m,n)
  add,        // Σ coefs[i]·args[i]
  mul,        // value · args[0..nscalars) (scalars) · args[nscalars..) (matrix chain)
  hadamard,   // args[0] .* args[1] .* …
  power,      // args[0] ^ value (element-wise for a non-scalar base)
  transpose,  // args[0]'
  func,       // fn(args[0])
  vcat,       // [args[0]; args[1]; …]
  kron,       // args[0] ⊗ args[1], the Kronecker product
  commutation,  // K(m,n): vec(Mᵀ) = K vec(M) for M m×n; args[0] is zeros(m,n), carrying m and n
};
inline constexpr int kOpCount = 15;

// The functions of expressions: the matrix functions, and every element-wise
// function of nabla/elementwise.def under its name there.
enum class Fn : uint8_t {
  sum, tr, det, logdet, inv,
#define NABLA_ELEMENTWISE(NAME, ...) NAME,
#include "nabla/elementwise.def"
  softmax, norm2, diag,
  vec,  // the columns of a matrix stacked into one column
};
inline constexpr int kFnCount = static_cast<int>(Fn::vec) + 1;

const char* fn_name(Fn f);
bool fn_is_elementwise(Fn f);

class Node;
using Expr = std::shared_ptr<const Node>;

class Node {
 public:
  Op op;
  Fn fn = Fn::sum;           // for func
  Shape shape;
  double value = 0;          // constant value, mul coefficient, power exponent
  std::string name;          // variable or dim name
  std::vector<Expr> args;
  std::vector<double> coefs;  // add: one per arg
  int nscalars = 0;           // mul: how many leading args are scalar factors
  // Derived, computed once at construction.
  size_t hash = 0;
  int leaves = 0;             // variable occurrences
  int size = 1;               // node count
  std::vector<std::string> vars;  // free variables, sorted

  bool depends_on(const std::string& var) const;
  bool is_const(double v) const { return op == Op::constant && value == v; }
};

// Total order used to sort terms and factors: terms with more variables
// first, then smaller trees, then by structure.
int compare(const Expr& a, const Expr& b);

// ---- smart constructors (canonicalizing) --------------------------------------

Expr constant(double v);
Expr variable(const std::string& name, const Shape& shape);
Expr dim_value(const std::string& name);  // a dimension symbol as a scalar
Expr zero(const Shape& shape);            // constant(0) for a scalar shape
Expr identity(const Dim& n);
Expr ones(const Shape& shape);
Expr add(std::vector<Expr> terms);        // equal shapes, or scalars expanded
Expr add(const Expr& a, const Expr& b);
Expr sub(const Expr& a, const Expr& b);
Expr neg(const Expr& a);
Expr scale(double c, const Expr& a);
Expr mul(std::vector<Expr> factors);      // matrix product; a scalar factor scales
Expr mul(const Expr& a, const Expr& b);
Expr hadamard(std::vector<Expr> factors);
Expr hadamard(const Expr& a, const Expr& b);
Expr power(const Expr& a, double p);      // element-wise for a non-scalar base
Expr divide(const Expr& a, const Expr& scalar);
Expr transpose(const Expr& a);
Expr func(Fn f, const Expr& a);
Expr vcat(std::vector<Expr> parts);
Expr inner(const Expr& a, const Expr& b);  // Σ a ⊙ b as a scalar (a'b for vectors)
// The Kronecker product: (A ⊗ B) is (rows(A)·rows(B)) × (cols(A)·cols(B)),
// blocks A_ij B. vec(A X B) = (Bᵀ ⊗ A) vec(X), vec of a matrix stacking its
// columns (column-major).
Expr kron(const Expr& a, const Expr& b);
Expr vec(const Expr& a);                  // func(Fn::vec, a); a column stays itself
Expr commutation(const Dim& m, const Dim& n);  // K(m,n), mn × mn; K(m,1) = K(1,n) = I

// ---- parsing ------------------------------------------------------------------

struct Declarations {
  std::map<std::string, Shape> vars;
  std::vector<std::string> order;  // declaration order
  std::vector<std::string> dims;   // dimension symbols, first-use order
  Expr var(const std::string& name) const;  // throws when undeclared
  bool is_dim(const std::string& s) const;
};

// "x:vector(n) A:matrix(n,n) W:matrix(m,n) b:scalar y:vector(m) r:rowvector(n)"
Declarations parse_declarations(const std::string& text);

// Parses EXPR against the declarations. Errors (nabla::Error, kind parse or
// shape) start with "col K: " (1-based column of the offending token).
Expr parse(const std::string& text, const Declarations& decls);

// ---- printing -----------------------------------------------------------------

std::string to_text(const Expr& e);   // the input syntax: parse(to_text(e)) == e
std::string to_latex(const Expr& e);
std::string to_json(const Expr& e);   // {"op":…, "shape":[r,c], "args":[…]}
// Text with chosen subexpressions shown by name (for the derivation steps).
std::string to_text(const Expr& e, const std::map<const Node*, std::string>& names);

// e with each subexpression that it contains more than once (of 4 nodes or
// more, counted as printed) named once: "s1*(1 - s1)*x where s1 = sigmoid(w'*x)",
// innermost first; parse() reads the text back to e itself. The names s1, s2, …
// skip those declared. Without repeats, text and latex are to_text/to_latex's.
struct NamedForm {
  std::string text, latex;
  std::vector<std::pair<std::string, Expr>> names;  // in definition order
};
NamedForm name_repeated(const Expr& e, const Declarations& decls);

// ---- simplification ---------------------------------------------------------

// One application of a named rule: what it rewrote and into what.
struct RuleApplication {
  std::string rule;
  Expr before, after;
};

// Rewrites with the rule table to a fixed point (bounded). `trace`, if given,
// receives each rule application in order.
Expr simplify(const Expr& e, std::vector<RuleApplication>* trace = nullptr);

// The names of the rules simplify() knows, in the order it tries them.
std::vector<std::string> rule_names();

// ---- differentiation --------------------------------------------------------

enum class Layout { automatic, numerator, denominator };
enum class DerivKind { gradient, jacobian, hessian };

struct Step {
  std::string rule;   // e.g. "product", "chain: elementwise", "trace"
  std::string text;   // "∂f/∂u = …" in the notes' style
};

struct Derivative {
  DerivKind kind = DerivKind::gradient;
  Layout layout = Layout::automatic;
  Expr raw;      // as derived, before simplify (after layout)
  Expr result;   // simplified, in the requested layout
  Shape shape;   // of result
  std::vector<std::pair<std::string, Expr>> intermediates;  // u1 = …, in order
  std::vector<Step> steps;
  std::vector<RuleApplication> rules;  // simplification trace
  // A mixed second derivative ∂²f/∂x∂y (DiffOptions::then_wrt): y's name; empty otherwise.
  std::string second;
  // The derivative of F (f; for order 2, its gradient) by X (the variable; for
  // a mixed block, the second one) is a tensor of F's indices and then X's
  // (numerator layout), or X's and then F's (denominator). `result` holds it as
  // a matrix: F's own shape when X is a scalar; the gradient, Jacobian or
  // Hessian when F and X are scalars and vectors (and the gradient of a scalar
  // by a matrix); otherwise (vec_form) ∂vec(F)/∂vec(X)ᵀ, numel(F) × numel(X),
  // transposed in denominator layout.
  bool vec_form = false;
  Shape of_shape, by_shape;  // F's and X's
  std::string by;            // X's name
};

// The derivative's value (evaluate_derivative's, at b) as the tensor it is:
// shaped F's non-unit dimensions then X's (JAX's jacobian convention: a vector
// has one index, a scalar none), X's first in denominator layout. A
// derivative that is not in vec form keeps its matrix shape.
struct Bindings;
Tensor derivative_tensor(const Derivative& d, const Tensor& value, const Bindings& b);

// The derivative in index notation, "∂f_{ij}/∂X_{kl} = A_{ik} δ_{jl}", for a
// vec_form derivative whose terms are Kronecker products, commutation and
// diagonal matrices, and outer products of vecs (each term a product of
// them); nullopt otherwise.
std::optional<std::string> index_notation(const Derivative& d, const std::string& fname = "f");

struct DiffOptions {
  Layout layout = Layout::automatic;
  int order = 1;        // 1 or 2 (Hessian of a scalar by a vector)
  bool steps = false;   // record the derivation steps
  // order 2 only: the second variable y of a mixed derivative ∂²f/∂x∂y, the
  // Jacobian by y of the gradient by x (rows follow x, columns y; transposed
  // in denominator layout). Empty, or x itself: the Hessian.
  std::string then_wrt;
  // The most work the derivation may do, in units of one operand looked at
  // (by a node built or a simplification rule tried; about 0.07 µs each, so
  // the default is 3 to 5 s). Past it, differentiate() throws nabla::Error
  // instead of running on for minutes: a derivative that large is of no use
  // as a formula. Textbook derivatives take a few thousand units.
  uint64_t max_work = 60'000'000;
};

// Derivative of f with respect to the declared variable `wrt`:
//  scalar f: the gradient, shaped like wrt (automatic, denominator), or its
//            transpose (numerator); order 2: the Hessian (wrt a vector/scalar).
//  vector f: the Jacobian wrt a scalar or vector, m×n (automatic, numerator)
//            or n×m (denominator).
//  by a scalar: a matrix f's derivative, shaped like f.
//  otherwise: ∂vec(f)/∂vec(x)ᵀ (Derivative::vec_form), e.g. I ⊗ A for A*X by X;
//            order 2 of a scalar f by a matrix: ∂vec(∇f)/∂vec(X)ᵀ.
Derivative differentiate(const Expr& f, const std::string& wrt, const Declarations& decls,
                         const DiffOptions& opts = {});

// The unsimplified building blocks, for library users and tests.
Expr gradient(const Expr& f, const Expr& x);  // scalar f; shaped like x
// ∂vec(f)/∂vec(x)ᵀ, numel(f) × numel(x), for f and x of any shapes (vec
// stacks columns): the Jacobian m×n of a vector by a vector; I ⊗ A for A*X by X.
Expr jacobian(const Expr& f, const Expr& x);
// df/dx by a scalar x, shaped like f: -inv(A + x*B)*B*inv(A + x*B) for inv(A + x*B).
Expr derivative_by_scalar(const Expr& f, const Expr& x);

// The derivation, as the notes write it (intermediate variables, rule per step).
// With the declarations, the result is in its named form (name_repeated).
std::string format_steps(const Derivative& d, const std::string& fname = "f", const Declarations* decls = nullptr);

// ---- evaluation -------------------------------------------------------------

struct Bindings {
  std::map<std::string, Tensor> values;  // float64, 2-d (rows, cols); vectors n×1
  std::map<std::string, int64_t> dims;
};

// Evaluates in float64 with nabla's ops; the result is 2-d (a scalar is 1×1).
// With requires_grad inputs, the graph is recorded (autodiff through the
// expression, inv/det/logdet included: they are nabla's numeric ops).
Tensor evaluate(const Expr& e, const Bindings& b);

// A numeric function of Tensors: lower(e)(b) == evaluate(e, b).
std::function<Tensor(const Bindings&)> lower(const Expr& e);

// Reads {"x": [1,2], "A": [[1,2],[3,4]], "b": 0.5, "n": 3} against the
// declarations; dimension symbols bind from the shapes (or from a number
// given under their name). Throws nabla::Error on a malformed value.
Bindings read_values(const std::string& json_text, const Declarations& decls);

// Random values for every declared variable (square matrices made
// diagonally dominant so inv/logdet are defined); unbound dims get 3, 4, ….
Bindings random_values(const Declarations& decls, uint64_t seed, Bindings base = {});

// The value of a derivative as JSON: a number, an array, or an array of rows.
std::string tensor_to_json(const Tensor& t, bool as_vector);

// ---- code generation --------------------------------------------------------

enum class Target { cpp, numpy, torch };

// The source of one function `name` that computes f and each derivative (the
// pairs: the variable's name and the derivative, e.g. Derivative::result) at
// values of every declared variable, its arguments in declaration order; the
// dimensions are read off their shapes. A subexpression that f and the
// derivatives share is computed once. The function returns f and then the
// derivatives, each 2-d in float64 (a scalar 1×1, a vector a column), the
// values evaluate() gives: a std::vector<nabla::Tensor> over nabla's public API
// (Target::cpp, an inline function in a header), or a tuple of NumPy arrays
// or of PyTorch tensors. Throws nabla::Error when a dimension is not the size
// of some variable alone (it could not be read off the arguments).
std::string emit_code(Target target, const std::string& name, const Expr& f,
                      const std::vector<std::pair<std::string, Expr>>& derivatives, const Declarations& decls);

// ---- checking ---------------------------------------------------------------

struct CheckReport {
  bool autodiff_used = false;   // true: check() throws rather than skip autodiff
  double autodiff_error = 0;    // worst |sym − ad| / max(1, |ad|)
  double fd_error = 0;          // worst |sym − fd| / max(1, |fd|)
  double tolerance = 0;
  bool ok = true;
  std::string note;             // remarks on the check, if any
};

// Evaluates d.result at b, and compares it with the same derivative computed
// by nabla's autodiff engine and by central finite differences in float64.
// Throws nabla::Error when autodiff cannot differentiate f at b: a check is
// never passed on finite differences alone.
CheckReport check(const Expr& f, const std::string& wrt, const Derivative& d, const Bindings& b);

// The numeric derivative in d's layout, evaluated at b (2-d).
Tensor evaluate_derivative(const Derivative& d, const Bindings& b);

}  // namespace nabla::sym
