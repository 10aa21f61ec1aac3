// The tensor layer: storage, layout, element access, factories. No autograd
// logic here (differentiable methods such as reshape live in src/ops/).
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <ostream>

#include "small_alloc.hpp"
#include "nabla/generator.hpp"
#include "nabla/tensor.hpp"
#include "tensor_impl.hpp"

namespace nabla {

std::ostream& operator<<(std::ostream& os, DType t) { return os << dtype_name(t); }

std::string to_string(const Dims& d) {
  std::string s = "[";
  for (int i = 0; i < d.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(d[i]);
  }
  return s + "]";
}
std::ostream& operator<<(std::ostream& os, const Dims& d) { return os << to_string(d); }

Dims broadcast_shapes(const Dims& a, const Dims& b, const char* op) {
  int n = std::max(a.size(), b.size());
  Dims out = Dims::filled(n, 1);
  for (int i = 0; i < n; ++i) {
    int ia = a.size() - n + i, ib = b.size() - n + i;
    int64_t ea = ia >= 0 ? a[ia] : 1, eb = ib >= 0 ? b[ib] : 1;
    NABLA_CHECK_KIND(ea == eb || ea == 1 || eb == 1, ErrorKind::shape, op, ": shapes ", a, " and ", b,
                     " cannot be broadcast (dimension ", i, ": ", ea, " vs ", eb, ")");
    out[i] = ea == 1 ? eb : ea;
  }
  return out;
}

int normalize_dim(int64_t dim, int rank, const char* op) {
  int r = std::max(rank, 1);
  NABLA_CHECK_KIND(dim >= -r && dim < r, ErrorKind::index, op, ": dimension ", dim,
                   " is out of range for a tensor of rank ", rank);
  return static_cast<int>(dim < 0 ? dim + r : dim);
}

// Note [Block cache]: a training step or a small forward/backward allocates
// the same buffer sizes over and over; going to malloc for each (and, for
// large ones, to the kernel for fresh zeroed pages) costs more than the
// arithmetic on small tensors. Blocks up to detail::kSmallMax come from the
// thread-local lists of Note [Small blocks]; larger freed blocks are kept here
// in per-size free lists (sizes rounded to 4 KiB) and handed out again, up to
// kCacheBytes in all. Sanitizer builds bypass both so that use-after-free
// stays detectable.
namespace {
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kUseCache = false;
#else
constexpr bool kUseCache = true;
#endif
constexpr size_t kCacheBytes = size_t{512} << 20;
constexpr size_t kMaxBlock = size_t{64} << 20;

struct BlockCache {
  std::mutex mu;
  std::unordered_map<size_t, std::vector<void*>> free;
  size_t cached = 0;
};
BlockCache& block_cache() {
  static BlockCache* c = new BlockCache;  // never destroyed: blocks may be returned during exit
  return *c;
}
size_t round_block(size_t n) {
  n = std::max<size_t>(n, 1);
  if (n >= detail::kHugePage) return (n + detail::kHugePage - 1) / detail::kHugePage * detail::kHugePage;
  return n <= 4096 ? (n + 63) / 64 * 64 : (n + 4095) / 4096 * 4096;
}

// Note [Huge pages]: a block of 2 MiB or more is aligned to 2 MiB and marked
// for transparent huge pages (which Debian's default "madvise" setting grants
// on request). A data set is such a block: filling 188 MB of Fashion-MNIST
// with 4 KiB pages took 46 000 page faults, each a trip through the
// hypervisor on a virtual machine, and the first epoch's random row gathers
// missed the TLB on nearly every row. Measured with `nabla train --epochs 4
// --batch-size 128`: the first epoch 0.70–0.76 s → 0.37–0.39 s, the whole
// run 0.4–1.0 s shorter; later epochs unchanged.
void* alloc_block(size_t rounded) {
  if (rounded < detail::kHugePage) return std::aligned_alloc(64, rounded);
  void* p = std::aligned_alloc(detail::kHugePage, rounded);
  detail::advise_huge_pages(p, rounded);
  return p;
}
}  // namespace

Storage::~Storage() {
  if (small) {
    detail::small_free(data, small);
    return;
  }
  if (pooled) {
    BlockCache& c = block_cache();
    {
      std::lock_guard<std::mutex> lock(c.mu);
      if (c.cached + pooled <= kCacheBytes) {
        c.free[pooled].push_back(data);
        c.cached += pooled;
        return;
      }
    }
    std::free(data);
    return;
  }
  if (deleter) deleter(data);
}

// Note [Inline bytes]: a Storage record is a small block of its own; when the
// tensor's bytes are small too, they follow the record in the same block
// (at a 64-byte boundary), so a fresh small tensor costs two allocations (its
// TensorImpl and this block) instead of three.
namespace {
constexpr size_t kRecordBytes = (sizeof(Storage) + 63) / 64 * 64;

Storage* new_record(size_t inline_bytes) {
  const size_t block = kRecordBytes + inline_bytes;
  void* p = detail::small_alloc(block);
  auto* s = ::new (p) Storage();
  s->record_bytes = block;
  if (inline_bytes) s->data = static_cast<char*>(p) + kRecordBytes;
  return s;
}
}  // namespace

void destroy_storage(Storage* s) noexcept {
  const size_t block = s->record_bytes;
  s->~Storage();
  detail::small_free(s, block);
}

StorageRef new_storage_record() { return StorageRef(new_record(0)); }

std::shared_ptr<TensorImpl> new_tensor_impl() {
  return std::allocate_shared<TensorImpl>(detail::SmallAllocator<TensorImpl>());
}

StorageRef allocate_storage(size_t nbytes) {
  size_t rounded = round_block(nbytes);
  if (kRecordBytes + rounded <= detail::kSmallMax) {  // Note [Inline bytes]
    StorageRef s(new_record(rounded));
    s->nbytes = nbytes;
    return s;
  }
  StorageRef s = new_storage_record();
  s->nbytes = nbytes;
  if (rounded <= detail::kSmallMax) {  // Note [Small blocks] (bypassed under sanitizers there)
    s->data = detail::small_alloc(rounded);
    s->small = rounded;
    return s;
  }
  if (kUseCache && rounded <= kMaxBlock) {
    BlockCache& c = block_cache();
    {
      std::lock_guard<std::mutex> lock(c.mu);
      auto it = c.free.find(rounded);
      if (it != c.free.end() && !it->second.empty()) {
        s->data = it->second.back();
        it->second.pop_back();
        c.cached -= rounded;
      }
    }
    if (!s->data) s->data = alloc_block(rounded);
    NABLA_CHECK(s->data != nullptr, "out of memory allocating ", nbytes, " bytes");
    s->pooled = rounded;
    return s;
  }
  s->data = alloc_block(rounded);
  NABLA_CHECK(s->data != nullptr, "out of memory allocating ", nbytes, " bytes");
  s->deleter = [](void* p) { std::free(p); };
  return s;
}

bool TensorImpl::contiguous() const { return is_contiguous(shape, strides); }

Tensor make_tensor(const Shape& shape, DType dtype) {
  const size_t nbytes = checked_nbytes(shape, itemsize(dtype), "tensor");  // Note [Checked sizes]
  auto impl = new_tensor_impl();
  impl->storage = allocate_storage(nbytes);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor make_view(const Tensor& base, const Shape& shape, const Dims& strides, int64_t offset) {
  auto impl = new_tensor_impl();
  impl->storage = base.impl()->storage;
  impl->offset = offset;
  impl->shape = shape;
  impl->strides = strides;
  impl->dtype = base.impl()->dtype;
  return Tensor(std::move(impl));
}

// ---- metadata ---------------------------------------------------------------

#define NABLA_DEFINED(op) NABLA_CHECK(impl_ != nullptr, op, ": the tensor is undefined")

const Shape& Tensor::shape() const { NABLA_DEFINED("shape"); return impl_->shape; }
const Dims& Tensor::strides() const { NABLA_DEFINED("strides"); return impl_->strides; }
int64_t Tensor::dim() const { NABLA_DEFINED("dim"); return impl_->shape.size(); }
int64_t Tensor::numel() const { NABLA_DEFINED("numel"); return nabla::numel(impl_->shape); }
DType Tensor::dtype() const { NABLA_DEFINED("dtype"); return impl_->dtype; }
int64_t Tensor::storage_offset() const { NABLA_DEFINED("storage_offset"); return impl_->offset; }
bool Tensor::is_contiguous() const { NABLA_DEFINED("is_contiguous"); return impl_->contiguous(); }
std::string Tensor::shape_str() const { return defined() ? to_string(impl_->shape) : "undefined"; }
int64_t Tensor::size(int64_t d) const {
  NABLA_DEFINED("size");
  return impl_->shape[normalize_dim(d, impl_->shape.size(), "size")];
}

void* Tensor::raw_data() const { NABLA_DEFINED("data_ptr"); return impl_->bytes(); }
void* Tensor::raw_data(DType expected) const {
  NABLA_DEFINED("data_ptr");
  NABLA_CHECK_KIND(impl_->dtype == expected, ErrorKind::dtype, "data_ptr: tensor is ", impl_->dtype,
                   ", requested ", expected);
  return impl_->bytes();
}

namespace {
int64_t element_offset(const TensorImpl& t, std::initializer_list<int64_t> index, const char* op) {
  NABLA_CHECK_KIND(static_cast<int>(index.size()) == t.shape.size(), ErrorKind::index, op, ": ",
                   index.size(), " indices for a tensor of shape ", t.shape);
  int64_t off = 0;
  int d = 0;
  for (int64_t i : index) {
    int64_t e = t.shape[d];
    NABLA_CHECK_KIND(i >= -e && i < e, ErrorKind::index, op, ": index ", i, " is out of range for dimension ", d,
                     " of size ", e, " (shape ", t.shape, ")");
    off += (i < 0 ? i + e : i) * t.strides[d];
    ++d;
  }
  return off;
}
}  // namespace

double Tensor::item() const {
  NABLA_DEFINED("item");
  NABLA_CHECK(numel() == 1, "item: a tensor of shape ", impl_->shape, " has ", numel(),
              " elements, not one");
  return dispatch(impl_->dtype, [&]<class T>() { return static_cast<double>(*impl_->data<T>()); });
}

double Tensor::at(std::initializer_list<int64_t> index) const {
  NABLA_DEFINED("at");
  int64_t off = element_offset(*impl_, index, "at");
  return dispatch(impl_->dtype, [&]<class T>() { return static_cast<double>(impl_->data<T>()[off]); });
}

void Tensor::mark_written() const {
  NABLA_DEFINED("mark_written");
  ++impl_->storage->version;
}

void Tensor::set(std::initializer_list<int64_t> index, double value) {
  NABLA_DEFINED("set");
  int64_t off = element_offset(*impl_, index, "set");
  dispatch(impl_->dtype, [&]<class T>() { impl_->data<T>()[off] = static_cast<T>(value); });
  ++impl_->storage->version;
}

template <class U>
std::vector<U> Tensor::to_vector() const {
  NABLA_DEFINED("to_vector");
  std::vector<U> out(static_cast<size_t>(numel()));
  Tensor c = contiguous();
  dispatch(impl_->dtype, [&]<class T>() {
    const T* p = c.impl()->data<T>();
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<U>(p[i]);
  });
  return out;
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;
template std::vector<int> Tensor::to_vector<int>() const;

bool Tensor::requires_grad() const { NABLA_DEFINED("requires_grad"); return impl_->requires_grad; }
// requires_grad_, is_leaf, grad, mutable_grad, set_grad and zero_grad read the
// autograd state, which this layer does not interpret: src/graph/graph.cpp.

Tensor Tensor::detach() const {
  NABLA_DEFINED("detach");
  return make_view(*this, impl_->shape, impl_->strides, impl_->offset);
}

// ---- factories ------------------------------------------------------------

namespace {
Tensor finish(Tensor t, const TensorOptions& o) {
  if (o.requires_grad_) t.impl()->requires_grad = true;
  return t;
}
template <class F>
Tensor generate(const Shape& shape, const TensorOptions& o, F f) {
  Tensor t = make_tensor(shape, o.dtype_);
  int64_t n = nabla::numel(shape);
  dispatch(o.dtype_, [&]<class T>() {
    T* p = t.impl()->data<T>();
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(f(i));
  });
  return finish(std::move(t), o);
}
}  // namespace

Tensor empty(const Shape& shape, TensorOptions o) { return finish(make_tensor(shape, o.dtype_), o); }
Tensor full(const Shape& shape, double v, TensorOptions o) {
  Tensor t = make_tensor(shape, o.dtype_);
  int64_t n = nabla::numel(shape);
  dispatch(o.dtype_, [&]<class T>() { std::fill_n(t.impl()->data<T>(), n, static_cast<T>(v)); });
  return finish(std::move(t), o);
}
Tensor zeros(const Shape& shape, TensorOptions o) {
  Tensor t = make_tensor(shape, o.dtype_);
  std::memset(t.impl()->bytes(), 0, static_cast<size_t>(nabla::numel(shape)) * itemsize(o.dtype_));
  return finish(std::move(t), o);
}
Tensor ones(const Shape& shape, TensorOptions o) { return full(shape, 1.0, o); }
Tensor scalar_tensor(double v, TensorOptions o) { return full({}, v, o); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype()); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), t.dtype()); }
Tensor full_like(const Tensor& t, double v) { return full(t.shape(), v, t.dtype()); }
Tensor empty_like(const Tensor& t) { return empty(t.shape(), t.dtype()); }

Tensor arange(double start, double end, double step, TensorOptions o) {
  NABLA_CHECK(step != 0 && std::isfinite(start) && std::isfinite(end) && std::isfinite(step),
              "arange: invalid range (", start, ", ", end, ", step ", step, ")");
  double span = (end - start) / step;
  // 2^62: beyond any allocation, and well inside int64 for the cast
  NABLA_CHECK_KIND(span < 0x1p62, ErrorKind::shape, "arange: (", start, ", ", end, ", step ", step, ") has ", span,
                   " elements, too many for a tensor");
  int64_t n = span > 0 ? static_cast<int64_t>(std::ceil(span)) : 0;
  return generate({n}, o, [&](int64_t i) { return start + static_cast<double>(i) * step; });
}
Tensor arange(double end, TensorOptions o) { return arange(0, end, 1, o); }
Tensor linspace(double start, double end, int64_t steps, TensorOptions o) {
  NABLA_CHECK(steps >= 0, "linspace: steps must be non-negative, got ", steps);
  double h = steps > 1 ? (end - start) / static_cast<double>(steps - 1) : 0;
  // the last point is exactly `end`; a single point is `start` (as NumPy)
  return generate({steps}, o, [&](int64_t i) {
    return i > 0 && i == steps - 1 ? end : start + h * static_cast<double>(i);
  });
}
Tensor eye(int64_t n, TensorOptions o) { return eye(n, n, o); }
Tensor eye(int64_t n, int64_t m, TensorOptions o) {
  NABLA_CHECK(n >= 0 && m >= 0, "eye: sizes must be non-negative, got ", n, "x", m);
  // zeros and then the diagonal: the element-wise generator's two integer
  // divisions per element cost 15x the fill (jacobian()'s seed, hessian()'s directions)
  Tensor t = make_tensor({n, m}, o.dtype_);
  std::memset(t.impl()->bytes(), 0, static_cast<size_t>(n * m) * itemsize(o.dtype_));
  dispatch(o.dtype_, [&]<class T>() {
    T* p = t.impl()->data<T>();
    for (int64_t i = 0, k = std::min(n, m); i < k; ++i) p[i * (m + 1)] = static_cast<T>(1.0);
  });
  return finish(std::move(t), o);
}

template <class V>
static Tensor from_values(const std::vector<V>& values, const Shape& shape_in, const TensorOptions& o) {
  Shape shape = shape_in.empty() ? Shape{static_cast<int64_t>(values.size())} : shape_in;
  NABLA_CHECK_KIND(nabla::numel(shape) == static_cast<int64_t>(values.size()), ErrorKind::shape,
                   "tensor: ", values.size(), " values do not fill shape ", shape);
  return generate(shape, o, [&](int64_t i) { return values[static_cast<size_t>(i)]; });
}
Tensor tensor(const std::vector<double>& v, const Shape& s, TensorOptions o) { return from_values(v, s, o); }
Tensor tensor(const std::vector<float>& v, const Shape& s, TensorOptions o) { return from_values(v, s, o); }
Tensor tensor(std::initializer_list<std::initializer_list<double>> rows, TensorOptions o) {
  std::vector<double> v;
  int64_t cols = rows.size() ? static_cast<int64_t>(rows.begin()->size()) : 0;
  for (const auto& r : rows) {
    NABLA_CHECK_KIND(static_cast<int64_t>(r.size()) == cols, ErrorKind::shape,
                     "tensor: ragged rows (", r.size(), " vs ", cols, " values)");
    v.insert(v.end(), r.begin(), r.end());
  }
  return from_values(v, {static_cast<int64_t>(rows.size()), cols}, o);
}

Tensor from_blob(void* data, const Shape& shape, TensorOptions o, std::function<void(void*)> deleter) {
  return from_blob(data, shape, contiguous_strides(shape), o, std::move(deleter));
}
Tensor from_blob(void* data, const Shape& shape, const Dims& strides, TensorOptions o,
                 std::function<void(void*)> deleter) {
  NABLA_CHECK(data != nullptr || nabla::numel(shape) == 0, "from_blob: null data for shape ", shape);
  NABLA_CHECK_KIND(strides.size() == shape.size(), ErrorKind::shape, "from_blob: strides ", strides,
                   " do not match shape ", shape);
  for (int64_t st : strides)
    NABLA_CHECK_KIND(st >= 0, ErrorKind::shape, "from_blob: negative stride in ", strides);
  auto impl = new_tensor_impl();
  impl->storage = new_storage_record();
  impl->storage->data = data;
  int64_t span = nabla::numel(shape) == 0 ? 0 : 1;
  for (int i = 0; i < shape.size() && span > 0; ++i) span += (shape[i] - 1) * strides[i];
  impl->storage->nbytes = static_cast<size_t>(span) * itemsize(o.dtype_);
  impl->shape = shape;
  impl->strides = strides;
  impl->dtype = o.dtype_;
  impl->requires_grad = o.requires_grad_;
  impl->storage->deleter = std::move(deleter);
  return Tensor(std::move(impl));
}

Tensor rand(const Shape& shape, Generator& g, TensorOptions o) {
  return generate(shape, o, [&](int64_t) { return g.uniform01(); });
}
Tensor randn(const Shape& shape, Generator& g, TensorOptions o) {
  return generate(shape, o, [&](int64_t) { return g.normal(); });
}
Tensor uniform(const Shape& shape, double lo, double hi, Generator& g, TensorOptions o) {
  NABLA_CHECK(lo <= hi, "uniform: low ", lo, " exceeds high ", hi);
  return generate(shape, o, [&](int64_t) { return lo + (hi - lo) * g.uniform01(); });
}
Tensor normal(const Shape& shape, double mean, double sd, Generator& g, TensorOptions o) {
  NABLA_CHECK(sd >= 0, "normal: negative standard deviation ", sd);
  return generate(shape, o, [&](int64_t) { return mean + sd * g.normal(); });
}

// ---- Generator ----------------------------------------------------------------

namespace {
uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

void Generator::manual_seed(uint64_t seed) {
  uint64_t x = seed;
  for (auto& s : s_) s = splitmix64(x);
  has_spare_ = false;
  spare_ = 0;
}
uint64_t Generator::next_u64() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}
double Generator::uniform01() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
double Generator::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double u1 = 0;
  while (u1 <= 0) u1 = uniform01();
  double u2 = uniform01();
  double r = std::sqrt(-2.0 * std::log(u1));
  spare_ = r * std::sin(2.0 * M_PI * u2);
  has_spare_ = true;
  return r * std::cos(2.0 * M_PI * u2);
}
uint64_t Generator::below(uint64_t n) {
  NABLA_CHECK(n > 0, "Generator::below: empty range");
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do x = next_u64();
  while (x >= limit);
  return x % n;
}
void Generator::set_state(const State& st) {
  for (int i = 0; i < 4; ++i) s_[i] = st.s[i];
  has_spare_ = st.has_spare;
  spare_ = st.spare;
}

}  // namespace nabla
