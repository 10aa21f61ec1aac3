// The tensor layer: factories, layout and views, element access, printing,
// and the text of the errors users see.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "nabla/nabla.hpp"

namespace nabla {
namespace {

std::vector<double> vals(const Tensor& t) { return t.to_vector<double>(); }

// The message of the nabla::Error that `fn` throws (fails the test if none).
template <class F>
std::string error_of(F&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a nabla::Error";
  return {};
}

std::string str(const Tensor& t) {
  std::ostringstream os;
  os << t;
  return os.str();
}

// ---- factories ------------------------------------------------------------------

TEST(TensorIndexing, SubscriptIsSelectOfTheFirstDimension) {
  Tensor m = arange(0, 6, 1, kFloat64).reshape({2, 3});
  EXPECT_EQ(m[1].shape(), Shape({3}));
  EXPECT_EQ(vals(m[1]), (std::vector<double>{3, 4, 5}));
  EXPECT_EQ(m[1][2].dim(), 0);
  EXPECT_EQ(m[1][2].item(), 5);
  EXPECT_EQ(vals(m[-1]), (std::vector<double>{3, 4, 5}));  // from the end, as libtorch
  // A view: writing through it changes m, and the gradient flows back to m.
  m[0].fill_(7);
  EXPECT_EQ(m.at({0, 2}), 7);
  Tensor w = ones({2, 2}, kFloat64).requires_grad_();
  sum(w[1] * 3.0).backward();
  EXPECT_EQ(vals(w.grad()), (std::vector<double>{0, 0, 3, 3}));
  EXPECT_NE(error_of([&] { (void)m[2]; }).find("2"), std::string::npos);
}

TEST(TensorFactories, ZerosOnesFull) {
  Tensor z = zeros({2, 3});
  EXPECT_EQ(z.shape(), (Shape{2, 3}));
  EXPECT_EQ(z.dtype(), kFloat32);
  EXPECT_EQ(z.numel(), 6);
  EXPECT_EQ(vals(z), std::vector<double>(6, 0.0));
  Tensor o = ones({4}, kFloat64);
  EXPECT_EQ(o.dtype(), kFloat64);
  EXPECT_EQ(vals(o), std::vector<double>(4, 1.0));
  Tensor f = full({2, 2}, -2.5);
  EXPECT_EQ(vals(f), std::vector<double>(4, -2.5));
  Tensor s = scalar_tensor(7.0, kFloat64);
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.numel(), 1);
  EXPECT_EQ(s.item(), 7.0);
  EXPECT_EQ(vals(zeros_like(f)), std::vector<double>(4, 0.0));
  EXPECT_EQ(vals(full_like(f, 3)), std::vector<double>(4, 3.0));
  EXPECT_TRUE(zeros({2}, TensorOptions().dtype(kFloat64).requires_grad()).requires_grad());
  EXPECT_THROW(zeros({2, -1}), Error);
}

TEST(TensorFactories, ArangeLinspaceEye) {
  EXPECT_EQ(vals(arange(5)), (std::vector<double>{0, 1, 2, 3, 4}));
  EXPECT_EQ(vals(arange(1, 2, 0.25, kFloat64)), (std::vector<double>{1, 1.25, 1.5, 1.75}));
  EXPECT_EQ(vals(arange(3, 0, -1)), (std::vector<double>{3, 2, 1}));
  EXPECT_EQ(arange(2, 2).numel(), 0);
  EXPECT_THROW(arange(0, 1, 0), Error);
  EXPECT_EQ(vals(linspace(0, 1, 5, kFloat64)), (std::vector<double>{0, 0.25, 0.5, 0.75, 1}));
  EXPECT_EQ(vals(linspace(-1, 1, 2)), (std::vector<double>{-1, 1}));
  // One step gives the start, as numpy.linspace and torch.linspace do.
  EXPECT_EQ(vals(linspace(3, 9, 1)), (std::vector<double>{3}));
  EXPECT_EQ(linspace(0, 1, 0).numel(), 0);
  EXPECT_EQ(vals(eye(3)), (std::vector<double>{1, 0, 0, 0, 1, 0, 0, 0, 1}));
  Tensor e = eye(2, 3);
  EXPECT_EQ(e.shape(), (Shape{2, 3}));
  EXPECT_EQ(vals(e), (std::vector<double>{1, 0, 0, 0, 1, 0}));
}

// Note [Checked sizes]: sizes that overflow or exceed the machine are errors
// before anything is allocated (1 << 62 elements wrapped to a 0-byte buffer).
TEST(TensorFactories, SizesBeyondTheMachineAreErrors) {
  auto kind_and_message = [](auto&& fn) {
    try {
      fn();
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::shape) << e.what();
      return std::string(e.what());
    }
    ADD_FAILURE() << "expected a nabla::Error";
    return std::string();
  };
  std::string m = kind_and_message([] { zeros({int64_t{1} << 62}); });
  EXPECT_EQ(m.rfind("tensor: shape [4611686018427387904] has more bytes than 64 bits can count", 0), 0u) << m;
  m = kind_and_message([] { zeros({int64_t{1} << 40}); });
  EXPECT_EQ(m.rfind("tensor: needs 4096.0 GB, more than the ", 0), 0u) << m;
  EXPECT_NE(m.find(" GB this machine allows"), std::string::npos) << m;
  m = kind_and_message([] { zeros({int64_t{1} << 32, int64_t{1} << 32}); });
  EXPECT_EQ(m, "tensor: shape [4294967296,4294967296] has more elements than 64 bits can count");
  m = kind_and_message([] { arange(0, double(int64_t{1} << 62)); });
  EXPECT_EQ(m, "arange: (0, 4.61169e+18, step 1) has 4.61169e+18 elements, too many for a tensor");
  m = kind_and_message([] { arange(0, double(int64_t{1} << 61)); });
  EXPECT_EQ(m.rfind("tensor: needs 8589934592.0 GB, more than the ", 0), 0u) << m;
  m = kind_and_message([] { arange(0, 1e300); });
  EXPECT_EQ(m.rfind("arange: (0, 1e+300, step 1) has 1e+300 elements, too many for a tensor", 0), 0u) << m;
  m = kind_and_message([] { eye(int64_t{1} << 20); });
  EXPECT_EQ(m.rfind("tensor: needs 4096.0 GB, more than the ", 0), 0u) << m;
  m = kind_and_message([] { empty({2, -3}); });
  EXPECT_EQ(m, "tensor: negative extent in shape [2,-3]");
  EXPECT_EQ(checked_numel({3, 0, int64_t{1} << 62}, "x"), 0);
  EXPECT_EQ(checked_mul(int64_t{1} << 31, int64_t{1} << 31, "x"), int64_t{1} << 62);
  m = kind_and_message([] { checked_add(INT64_MAX, 1, "layers"); });
  EXPECT_EQ(m, "layers: size 9223372036854775807 + 1 overflows 64 bits");
  EXPECT_GT(max_tensor_bytes(), uint64_t{1} << 20);
}

TEST(TensorFactories, FromValues) {
  Tensor a = tensor({1.0, 2.0, 3.0});
  EXPECT_EQ(a.shape(), (Shape{3}));
  EXPECT_EQ(vals(a), (std::vector<double>{1, 2, 3}));
  Tensor m = tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}, kFloat64);
  EXPECT_EQ(m.shape(), (Shape{2, 3}));
  EXPECT_EQ(m.dtype(), kFloat64);
  EXPECT_EQ(m.at({1, 2}), 6.0);
  Tensor v = tensor(std::vector<double>{1, 2, 3, 4, 5, 6}, {3, 2});
  EXPECT_EQ(v.shape(), (Shape{3, 2}));
  EXPECT_EQ(v.at({2, 0}), 5.0);
  Tensor fv = tensor(std::vector<float>{0.5f, 1.5f});
  EXPECT_EQ(vals(fv), (std::vector<double>{0.5, 1.5}));
  EXPECT_EQ(error_of([] { tensor(std::vector<double>{1, 2, 3}, {2, 2}); }), "tensor: 3 values do not fill shape [2,2]");
  EXPECT_THROW(tensor({{1.0, 2.0}, {3.0}}), Error);
}

// Lists of one-element lists are matrices (a 1×1, a column), not 1-d tensors
// or a (values, shape) pair, and integer lists work like PyTorch's.
TEST(TensorFactories, NestedSingleElementListsAreMatrices) {
  Tensor one = tensor({{5.0}}, kFloat64);
  EXPECT_EQ(one.shape(), (Shape{1, 1}));
  EXPECT_EQ(one.at({0, 0}), 5.0);
  Tensor col = tensor({{1.0}, {2.0}, {3.0}});
  EXPECT_EQ(col.shape(), (Shape{3, 1}));
  EXPECT_EQ(vals(col), (std::vector<double>{1, 2, 3}));
  Tensor two = tensor({{1.0}, {2.0}});
  EXPECT_EQ(two.shape(), (Shape{2, 1}));
  Tensor ints = tensor({1, 2, 3}, kFloat64);
  EXPECT_EQ(ints.shape(), (Shape{3}));
  EXPECT_EQ(ints.dtype(), kFloat64);
  EXPECT_EQ(vals(ints), (std::vector<double>{1, 2, 3}));
  Tensor single = tensor({4.0});
  EXPECT_EQ(single.shape(), (Shape{1}));
}

TEST(TensorFactories, FromBlobSharesAndCallsDeleter) {
  std::vector<double> buf{1, 2, 3, 4, 5, 6};
  {
    Tensor t = from_blob(buf.data(), {2, 3}, kFloat64);
    EXPECT_EQ(t.at({1, 1}), 5.0);
    t.set({0, 0}, 10.0);
    EXPECT_EQ(buf[0], 10.0);  // no copy: writes land in the caller's buffer
    buf[5] = -1;
    EXPECT_EQ(t.at({1, 2}), -1.0);
  }
  EXPECT_EQ(buf[1], 2.0);  // no deleter: the buffer survives the tensor

  int calls = 0;
  void* seen = nullptr;
  float* heap = new float[4]{1, 2, 3, 4};
  {
    Tensor t = from_blob(heap, {4}, kFloat32, [&](void* p) {
      ++calls;
      seen = p;
      delete[] static_cast<float*>(p);
    });
    Tensor view = t.slice(0, 1, 3);
    t = Tensor();
    EXPECT_EQ(calls, 0);  // a view keeps the storage alive
    EXPECT_EQ(vals(view), (std::vector<double>{2, 3}));
  }
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(seen, static_cast<void*>(heap));

  // Empty shapes wrap nothing.
  Tensor empty_view = from_blob(nullptr, {0, 3}, kFloat32);
  EXPECT_EQ(empty_view.numel(), 0);
  EXPECT_EQ(empty_view.to_vector<double>().size(), 0u);

  // Explicit strides: a column-major 2x3 matrix.
  std::vector<float> cm{1, 4, 2, 5, 3, 6};
  Tensor c = from_blob(cm.data(), {2, 3}, Dims{1, 2}, kFloat32);
  EXPECT_FALSE(c.is_contiguous());
  EXPECT_EQ(vals(c), (std::vector<double>{1, 2, 3, 4, 5, 6}));

  // Strides and a deleter together (a foreign strided array kept alive by its
  // owner): no copy, the deleter once, after the last view.
  int strided_calls = 0;
  auto* owned = new double[6]{1, 4, 2, 5, 3, 6};
  {
    Tensor s = from_blob(owned, {2, 3}, Dims{1, 2}, kFloat64, [&](void* p) {
      ++strided_calls;
      delete[] static_cast<double*>(p);
    });
    EXPECT_EQ(static_cast<const void*>(s.data_ptr<double>()), static_cast<const void*>(owned));
    EXPECT_EQ(vals(s), (std::vector<double>{1, 2, 3, 4, 5, 6}));
    Tensor row = s.select(0, 1);
    s = Tensor();
    EXPECT_EQ(strided_calls, 0);
    EXPECT_EQ(vals(row), (std::vector<double>{4, 5, 6}));
  }
  EXPECT_EQ(strided_calls, 1);
  // negative strides are refused, and the deleter is not called for a refused wrap
  double one = 1;
  EXPECT_THROW(from_blob(&one, {1}, Dims{-1}, kFloat64, [&](void*) { ++strided_calls; }), Error);
  EXPECT_EQ(strided_calls, 1);
}

TEST(TensorFactories, RandomIsReproducible) {
  Generator g1(42), g2(42), g3(43);
  Tensor a = rand({100}, g1), b = rand({100}, g2), c = rand({100}, g3);
  EXPECT_TRUE(equal(a, b));
  EXPECT_FALSE(equal(a, c));
  for (double v : vals(a)) {
    EXPECT_GE(v, 0.0);
    EXPECT_LT(v, 1.0);
  }
  Tensor n1 = randn({1000}, g1, kFloat64), n2 = randn({1000}, g2, kFloat64), n3 = randn({1000}, g3, kFloat64);
  EXPECT_TRUE(equal(n1, n2));
  EXPECT_FALSE(equal(n1, n3));
  double mean = n1.mean().item();
  double var = nabla::mean(square(n1)).item() - mean * mean;
  EXPECT_NEAR(mean, 0.0, 0.1);
  EXPECT_NEAR(var, 1.0, 0.15);
  Tensor u1 = uniform({50}, -2, 3, g1, kFloat64), u2 = uniform({50}, -2, 3, g2, kFloat64);
  EXPECT_TRUE(equal(u1, u2));
  for (double v : vals(u1)) {
    EXPECT_GE(v, -2.0);
    EXPECT_LT(v, 3.0);
  }
  Tensor m = normal({2000}, 5.0, 0.5, g3, kFloat64);
  EXPECT_NEAR(m.mean().item(), 5.0, 0.05);
  // Reseeding restarts the stream.
  Generator g(7);
  Tensor first = randn({5}, g);
  g.manual_seed(7);
  EXPECT_TRUE(equal(first, randn({5}, g)));
}

// ---- layout and views -------------------------------------------------------------

TEST(TensorViews, ShapesAndStrides) {
  Tensor a = arange(24).reshape({2, 3, 4});
  EXPECT_EQ(a.shape(), (Shape{2, 3, 4}));
  EXPECT_EQ(a.strides(), (Dims{12, 4, 1}));
  EXPECT_EQ(a.dim(), 3);
  EXPECT_EQ(a.size(-1), 4);
  EXPECT_EQ(a.shape_str(), "[2,3,4]");
  EXPECT_TRUE(a.is_contiguous());
  Tensor t = a.transpose(0, 2);
  EXPECT_EQ(t.shape(), (Shape{4, 3, 2}));
  EXPECT_EQ(t.strides(), (Dims{1, 4, 12}));
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_EQ(t.at({3, 2, 1}), a.at({1, 2, 3}));
  Tensor p = a.permute({1, 2, 0});
  EXPECT_EQ(p.shape(), (Shape{3, 4, 2}));
  EXPECT_EQ(p.at({2, 1, 1}), a.at({1, 2, 1}));
  Tensor s = a.slice(2, 1, 4, 2);
  EXPECT_EQ(s.shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(s.strides(), (Dims{12, 4, 2}));
  EXPECT_EQ(s.storage_offset(), 1);
  EXPECT_EQ(vals(s.select(0, 1).select(0, 2)), (std::vector<double>{21, 23}));
  EXPECT_EQ(vals(a.narrow(1, 1, 1).flatten()), (std::vector<double>{4, 5, 6, 7, 16, 17, 18, 19}));
  Tensor e = tensor({1.0, 2.0, 3.0}).unsqueeze(1).expand({3, 4});
  EXPECT_EQ(e.strides(), (Dims{1, 0}));
  EXPECT_EQ(vals(e.select(1, 3)), (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(a.squeeze().shape(), (Shape{2, 3, 4}));
  EXPECT_EQ(zeros({1, 3, 1}).squeeze().shape(), (Shape{3}));
  EXPECT_EQ(zeros({1, 3, 1}).squeeze(0).shape(), (Shape{3, 1}));
  EXPECT_EQ(zeros({1, 3, 1}).squeeze(1).shape(), (Shape{1, 3, 1}));
  EXPECT_EQ(zeros({3}).unsqueeze(0).shape(), (Shape{1, 3}));
  EXPECT_EQ(zeros({3}).unsqueeze(-1).shape(), (Shape{3, 1}));
  EXPECT_EQ(a.reshape({-1, 6}).shape(), (Shape{4, 6}));
  EXPECT_EQ(a.flatten(1).shape(), (Shape{2, 12}));
  EXPECT_EQ(zeros({}).flatten().shape(), (Shape{1}));
  EXPECT_EQ(zeros({2, 3}).t().shape(), (Shape{3, 2}));
}

TEST(TensorViews, ViewsShareStorage) {
  Tensor base = zeros({3, 4}, kFloat64);
  Tensor r = base.reshape({12});  // contiguous: a view
  r.set({5}, 1.0);
  EXPECT_EQ(base.at({1, 1}), 1.0);
  Tensor tr = base.t();
  tr.set({3, 2}, 2.0);
  EXPECT_EQ(base.at({2, 3}), 2.0);
  Tensor sl = base.slice(1, 0, 4, 2);
  sl.fill_(9.0);
  EXPECT_EQ(vals(base.select(0, 0)), (std::vector<double>{9, 0, 9, 0}));
  EXPECT_EQ(base.at({1, 1}), 1.0);  // odd columns untouched
  Tensor row = base.select(0, 2);
  row.add_(ones({4}, kFloat64));
  EXPECT_EQ(vals(base.select(0, 2)), (std::vector<double>{10, 1, 10, 3}));
  Tensor ex = base.select(1, 1).unsqueeze(0).expand({5, 3});
  EXPECT_EQ(ex.raw_data(), base.slice(1, 1, 2).raw_data());
  base.set({0, 1}, 4.0);
  EXPECT_EQ(ex.at({4, 0}), 4.0);
  // reshape of a non-contiguous tensor copies; view refuses.
  Tensor copy = tr.reshape({12});
  EXPECT_NE(copy.raw_data(), base.raw_data());
  EXPECT_EQ(copy.at({1}), base.at({1, 0}));
  EXPECT_THROW(tr.view({12}), Error);
  // detach shares the storage too
  Tensor d = base.detach();
  d.set({0, 0}, -1.0);
  EXPECT_EQ(base.at({0, 0}), -1.0);
}

TEST(TensorViews, ContiguousAndClone) {
  Tensor a = arange(6, kFloat64).reshape({2, 3});
  EXPECT_TRUE(a.contiguous().is_same(a));
  Tensor t = a.t();
  Tensor c = t.contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_EQ(c.strides(), (Dims{2, 1}));
  EXPECT_EQ(vals(c), (std::vector<double>{0, 3, 1, 4, 2, 5}));
  Tensor k = a.clone();
  EXPECT_NE(k.raw_data(), a.raw_data());
  k.set({0, 0}, 100.0);
  EXPECT_EQ(a.at({0, 0}), 0.0);
  EXPECT_EQ(vals(a.slice(1, 0, 3, 2).clone()), (std::vector<double>{0, 2, 3, 5}));
  Tensor f = a.to(kFloat32);
  EXPECT_EQ(f.dtype(), kFloat32);
  EXPECT_EQ(vals(f), vals(a));
  EXPECT_TRUE(a.to(kFloat64).is_same(a));
}

TEST(TensorAccess, ItemAtSetToVector) {
  Tensor a = tensor({{1.0, 2.0}, {3.0, 4.0}});
  EXPECT_EQ(a.at({0, 1}), 2.0);
  EXPECT_EQ(a.at({-1, -1}), 4.0);
  a.set({1, 0}, 30.0);
  EXPECT_EQ(a.at({1, 0}), 30.0);
  EXPECT_EQ(a.to_vector<float>(), (std::vector<float>{1, 2, 30, 4}));
  EXPECT_EQ(a.t().to_vector<int>(), (std::vector<int>{1, 30, 2, 4}));
  EXPECT_EQ(scalar_tensor(2.5).item(), 2.5);
  EXPECT_EQ(tensor(std::vector<double>{5.0}, {1, 1}).item<float>(), 5.0f);
  EXPECT_EQ(a.data_ptr<float>()[3], 4.0f);
  EXPECT_EQ(error_of([&] { a.data_ptr<double>(); }), "data_ptr: tensor is float32, requested float64");
  EXPECT_EQ(error_of([&] { a.at({2, 0}); }), "at: index 2 is out of range for dimension 0 of size 2 (shape [2,2])");
  EXPECT_EQ(error_of([&] { a.set({0, -3}, 1.0); }),
            "set: index -3 is out of range for dimension 1 of size 2 (shape [2,2])");
  EXPECT_EQ(error_of([&] { a.at({0}); }), "at: 1 indices for a tensor of shape [2,2]");
  EXPECT_EQ(error_of([&] { a.item(); }), "item: a tensor of shape [2,2] has 4 elements, not one");
  EXPECT_EQ(error_of([] { Tensor().shape(); }), "shape: the tensor is undefined");
}

// ---- printing ---------------------------------------------------------------------

TEST(TensorPrint, SmallTensorExact) {
  EXPECT_EQ(str(tensor({{1.0, -2.5}, {3.0, 4.0}})),
            "tensor([[ 1.0000, -2.5000],\n"
            "        [ 3.0000,  4.0000]], shape=[2,2], dtype=float32)");
  EXPECT_EQ(str(tensor({1.0, 2.0, 3.0}, kFloat64)), "tensor([1., 2., 3.], shape=[3], dtype=float64)");
  EXPECT_EQ(str(scalar_tensor(0.5)), "tensor(0.5000, shape=[], dtype=float32)");
  EXPECT_EQ(str(zeros({0, 3})), "tensor([], shape=[0,3], dtype=float32)");
  EXPECT_EQ(str(Tensor()), "tensor(undefined)");
  EXPECT_EQ(str(ones({2}, TensorOptions().requires_grad())),
            "tensor([1., 1.], shape=[2], dtype=float32, requires_grad=true)");
}

TEST(TensorPrint, RanksAndSpecialValues) {
  EXPECT_EQ(str(arange(8).reshape({2, 2, 2})),
            "tensor([[[0., 1.],\n"
            "         [2., 3.]],\n"
            "\n"
            "        [[4., 5.],\n"
            "         [6., 7.]]], shape=[2,2,2], dtype=float32)");
  EXPECT_EQ(str(tensor({NAN, INFINITY, -INFINITY, 1.5})),
            "tensor([   nan,    inf,   -inf, 1.5000], shape=[4], dtype=float32)");
  EXPECT_EQ(str(tensor({1e-5, 1.0}, kFloat64)), "tensor([1.0000e-05, 1.0000e+00], shape=[2], dtype=float64)");
  EXPECT_EQ(str(tensor({-0.25, 10.0})), "tensor([-0.2500, 10.0000], shape=[2], dtype=float32)");
  Tensor x = ones({2}, TensorOptions().requires_grad());
  EXPECT_EQ(str(x * 2.0), "tensor([2., 2.], shape=[2], dtype=float32, grad_fn=mulBackward)");
  EXPECT_EQ(str(tensor({{1.0, 2.0}, {3.0, 4.0}}).t()),
            "tensor([[1., 3.],\n"
            "        [2., 4.]], shape=[2,2], dtype=float32)");
}

TEST(TensorPrint, LargeTensorIsSummarized) {
  std::string s = str(arange(2000));
  EXPECT_EQ(s, "tensor([   0.,    1.,    2., ..., 1997., 1998., 1999.], shape=[2000], dtype=float32)");
  std::string m = str(arange(2000).reshape({40, 50}));
  EXPECT_NE(m.find("..."), std::string::npos);
  EXPECT_LT(m.size(), 600u);
  EXPECT_NE(m.find("1999."), std::string::npos);
  EXPECT_EQ(m.find("1000."), std::string::npos);
}

// ---- errors -----------------------------------------------------------------------

TEST(TensorErrors, MessagesNameOpsAndShapes) {
  EXPECT_EQ(error_of([] { matmul(zeros({3, 4}), zeros({5, 2})); }), "matmul: shapes [3,4] and [5,2] do not align (4 != 5)");
  EXPECT_EQ(error_of([] { add(zeros({2, 3}), zeros({4})); }),
            "add: shapes [2,3] and [4] cannot be broadcast (dimension 1: 3 vs 4)");
  EXPECT_EQ(error_of([] { mul(zeros({2}), zeros({2}, kFloat64)); }),
            "mul: dtypes differ (float32 [2] and float64 [2]); convert one with .to()");
  std::string bc = error_of([] { where(zeros({3}), zeros({2, 3}), zeros({4})); });
  EXPECT_NE(bc.find("[2,3]"), std::string::npos) << bc;
  EXPECT_NE(bc.find("[4]"), std::string::npos) << bc;
  EXPECT_EQ(error_of([] { zeros({2, 3}).transpose(0, 2); }), "transpose: dimension 2 is out of range for a tensor of rank 2");
  EXPECT_EQ(error_of([] { zeros({2, 3}).select(1, 3); }), "select: index 3 is out of range for dimension 1 of size 3");
  EXPECT_EQ(error_of([] { zeros({2, 3}).reshape({4, 2}); }), "reshape: cannot reshape [2,3] (6 elements) to [4,2]");
  EXPECT_EQ(error_of([] { zeros({2, 3}).expand({2, 4}); }),
            "expand: cannot expand [2,3] to [2,4] (dimension 1: 3 vs 4)");
  EXPECT_EQ(error_of([] { index_select(zeros({3}), 0, tensor({0.0, 3.0})); }),
            "index_select: index 3 at position 1 is out of range for a dimension of size 3");
  EXPECT_EQ(error_of([] { zeros({2}).narrow(0, 1, 2); }), "narrow: range [1, 3) is out of bounds for dimension 0 of [2]");
  Error e("x", ErrorKind::shape);
  EXPECT_EQ(e.kind(), ErrorKind::shape);
  try {
    matmul(zeros({3, 4}), zeros({5, 2}));
  } catch (const Error& err) {
    EXPECT_EQ(err.kind(), ErrorKind::shape);
  }
  try {
    zeros({2}).at({5});
  } catch (const Error& err) {
    EXPECT_EQ(err.kind(), ErrorKind::index);
  }
}

TEST(TensorInplace, UpdatesAndVersionedErrors) {
  Tensor a = ones({2, 2}, kFloat64);
  a.mul_(3.0).add_(1.0);
  EXPECT_EQ(vals(a), std::vector<double>(4, 4.0));
  a.add_(tensor({1.0, 2.0}, kFloat64), 2.0);  // broadcast row, alpha
  EXPECT_EQ(vals(a), (std::vector<double>{6, 8, 6, 8}));
  a.sub_(ones({2, 1}, kFloat64));
  EXPECT_EQ(vals(a), (std::vector<double>{5, 7, 5, 7}));
  a.div_(tensor({5.0, 7.0}, kFloat64));
  EXPECT_EQ(vals(a), std::vector<double>(4, 1.0));
  a.zero_();
  EXPECT_EQ(vals(a), std::vector<double>(4, 0.0));
  a.copy_(tensor({{1.0, 2.0}, {3.0, 4.0}}, kFloat64).t());
  EXPECT_EQ(vals(a), (std::vector<double>{1, 3, 2, 4}));
  EXPECT_EQ(error_of([&] { a.add_(ones({3}, kFloat64)); }),
            "add_: shapes [2,2] and [3] cannot be broadcast (dimension 1: 2 vs 3)");
  EXPECT_EQ(error_of([&] { a.add_(ones({2, 2, 2}, kFloat64)); }),
            "add_: cannot update a tensor of shape [2,2] in place with one of shape [2,2,2]");
}

TEST(TensorShape, BroadcastShapesAndDims) {
  EXPECT_EQ(broadcast_shapes({3, 1}, {1, 4}, "t"), (Shape{3, 4}));
  EXPECT_EQ(broadcast_shapes({}, {2, 3}, "t"), (Shape{2, 3}));
  EXPECT_EQ(broadcast_shapes({5, 1, 3}, {4, 1}, "t"), (Shape{5, 4, 3}));
  EXPECT_THROW(broadcast_shapes({2}, {3}, "t"), Error);
  EXPECT_EQ(normalize_dim(-1, 3, "t"), 2);
  EXPECT_THROW(normalize_dim(3, 3, "t"), Error);
  EXPECT_EQ(contiguous_strides({2, 3, 4}), (Dims{12, 4, 1}));
  EXPECT_EQ(numel(Shape{}), 1);
  EXPECT_EQ(to_string(Dims{}), "[]");
  Dims d{1, 2, 3, 4, 5, 6, 7, 8};
  EXPECT_THROW(d.push_back(9), Error);
}

}  // namespace
}  // namespace nabla

namespace nabla {
namespace {
// A write through data_ptr() that is recorded with mark_written() invalidates
// the graphs that saved the old values, as an in-place op does.
TEST(TensorWrites, MarkWrittenInvalidatesSavedValues) {
  Tensor w = tensor({2.0, 3.0}, kFloat64);
  Tensor x = tensor({1.0, 1.0}, kFloat64).requires_grad_();
  Tensor y = sum(x * w);  // mul saves w for x's gradient
  w.data_ptr<double>()[0] = 5.0;
  Tensor y2 = sum(x * w);
  y2.backward();  // a graph made after the write is fine
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{5.0, 3.0}));
  w.mark_written();
  try {
    y.backward();
    FAIL() << "backward used a value written after it was saved";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("modified in place"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Tensor().mark_written(), Error);
}
}  // namespace
}  // namespace nabla
