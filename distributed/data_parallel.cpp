// DataParallel: rank 0's model everywhere at wrap time, then gradients averaged in buckets whose
// all-reduce starts from the gradient hooks while backward is still running.
#include "data_parallel.hpp"

#include <algorithm>
#include <cstring>
#include <span>
#include <vector>

#include <fmt/format.h>

#include "../autograd/tensor_impl.hpp"
#include "init.hpp"
#include "mpi_call.hpp"

namespace xgrad::dist {

namespace {

constexpr const char* where = "xg::dist::DataParallel";

std::size_t dtype_size(DType d) { return d == f32 ? sizeof(float) : sizeof(double); }

// Raw access to a tensor's contiguous values (xt::xarray is row-major and contiguous).
std::span<std::byte> bytes_of(Tensor& t) {
  return std::visit([](auto& a) { return std::as_writable_bytes(std::span(a.data(), a.size())); }, t.impl()->value);
}

std::string line_of(const std::string& name, const Tensor& t) {
  return fmt::format("'{}' {} {}", name, shape_str(t.shape()), dtype_name(t.dtype()));
}

// FNV-1a over 8-byte words (and the tail byte by byte): cheap, and any changed bit changes it.
struct Hash {
  std::uint64_t h = 14695981039346656037ull;
  void add(std::span<const std::byte> data) {
    std::size_t i = 0;
    for (; i + 8 <= data.size(); i += 8) {
      std::uint64_t w;
      std::memcpy(&w, data.data() + i, 8);
      h = (h ^ w) * 1099511628211ull;
    }
    for (; i < data.size(); ++i) h = (h ^ std::uint64_t(data[i])) * 1099511628211ull;
  }
  void add(std::string_view s) { add(std::as_bytes(std::span(s.data(), s.size()))); }
};

// Rank `root`'s string on every rank.
std::string broadcast_string(std::string text, int root) {
  unsigned long long length = text.size();
  XG_MPI(where, MPI_Bcast(&length, 1, MPI_UNSIGNED_LONG_LONG, root, MPI_COMM_WORLD));
  text.resize(length);
  XG_MPI(where, MPI_Bcast(text.data(), int(length), MPI_CHAR, root, MPI_COMM_WORLD));
  return text;
}

}  // namespace

struct DataParallel::Impl {
  struct Param {
    std::string name;
    Tensor tensor;
    std::size_t bucket = 0, offset = 0, numel = 0;  // offset in elements of the bucket's dtype
    bool ready = false;                             // its slot in the bucket is filled for this step
    HookHandle hook;
  };
  struct Bucket {
    DType dtype = f32;
    std::vector<float> f32_values;
    std::vector<double> f64_values;
    std::vector<std::size_t> params;
    std::size_t pending = 0;  // parameters whose gradient has not arrived this step
    std::size_t bytes = 0;
    MPI_Request request = MPI_REQUEST_NULL;
    bool launched = false;
    void* data() { return dtype == f32 ? static_cast<void*>(f32_values.data()) : f64_values.data(); }
    std::size_t count() const { return dtype == f32 ? f32_values.size() : f64_values.size(); }
  };

  nn::Module& model;
  DataParallelOptions options;
  bool local = false;  // MPI not initialized: a world of one, nothing to reduce
  int world = 1;
  std::vector<Param> params;  // in bucket order: reverse registration order
  std::vector<Bucket> buckets;
  std::vector<unsigned char> used;  // this step: did the parameter get a gradient here (then: anywhere)
  MPI_Request used_request = MPI_REQUEST_NULL;
  std::size_t next_launch = 0;    // buckets launch strictly in order, the same on every rank
  std::size_t first_pending = 0;  // the oldest launched bucket not known to be complete

  Impl(nn::Module& m, DataParallelOptions o) : model(m), options(o) {}

  NamedTensors state() const {
    NamedTensors all = model.named_parameters();
    for (auto& b : model.named_buffers()) all.push_back(b);
    return all;
  }

  void check_same_structure();
  void broadcast_state();
  void check_same_values();
  void lay_out_buckets();
  void on_gradient(std::size_t i);
  void fill_slot(std::size_t i, const Tensor& grad);
  void launch_ready();
  void progress();
  void finish();
};

// Every rank compares its list of names, shapes and dtypes with rank 0's; if some rank differs, the
// first such rank's description of the difference is raised on every rank (so none is left waiting).
void DataParallel::Impl::check_same_structure() {
  const NamedTensors mine = state();
  std::string lines;
  for (const auto& [name, t] : mine) lines += line_of(name, t) + "\n";
  const std::string root = broadcast_string(lines, 0);
  std::string problem;
  if (root != lines) {
    std::vector<std::string> theirs;
    for (std::size_t begin = 0, end; (end = root.find('\n', begin)) != std::string::npos; begin = end + 1)
      theirs.push_back(root.substr(begin, end - begin));
    const std::size_t r = rank();
    for (std::size_t i = 0; i < std::min(theirs.size(), mine.size()) && problem.empty(); ++i)
      if (const std::string l = line_of(mine[i].first, mine[i].second); l != theirs[i])
        problem = fmt::format("rank {} has {} where rank 0 has {} (parameter or buffer {})", r, l, theirs[i], i);
    if (problem.empty())
      problem = fmt::format("rank {} has {} parameters and buffers, rank 0 has {}", r, mine.size(), theirs.size());
  }
  int first_bad = problem.empty() ? world : int(rank());
  XG_MPI(where, MPI_Allreduce(MPI_IN_PLACE, &first_bad, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD));
  if (first_bad == world) return;
  problem = broadcast_string(problem, first_bad);
  throw Error("{}: the model differs across ranks: {}; every rank must build the same model (the same layers, "
              "shapes and dtypes) before wrapping it",
              where, problem);
}

void DataParallel::Impl::broadcast_state() {
  for (auto& [name, t] : state()) {
    Tensor handle = t;
    handle.bump_version();  // written in place: nodes recorded before must not read the new values
    const std::span<std::byte> b = bytes_of(handle);
    XG_MPI(where, MPI_Bcast(b.data(), int(t.numel()), detail::mpi_type(t.dtype()), 0, MPI_COMM_WORLD));
  }
}

void DataParallel::Impl::check_same_values() {
  unsigned long long mine = 0;
  {
    Hash h;
    for (auto& [name, t] : state()) {
      Tensor handle = t;
      h.add(name);
      h.add(bytes_of(handle));
    }
    mine = h.h;
  }
  std::vector<unsigned long long> all(std::size_t(world), 0);
  XG_MPI(where, MPI_Allgather(&mine, 1, MPI_UNSIGNED_LONG_LONG, all.data(), 1, MPI_UNSIGNED_LONG_LONG, MPI_COMM_WORLD));
  for (std::size_t r = 1; r < all.size(); ++r)
    if (all[r] != all[0])
      throw Error("{}: after broadcasting rank 0's parameters and buffers, rank {}'s hash {:016x} differs from rank "
                  "0's {:016x}",
                  where, r, all[r], all[0]);
}

// The fixed layout: trainable parameters in reverse registration order, packed into buckets of one
// dtype up to the cap (the first one small); a tensor larger than the cap gets a bucket of its own.
void DataParallel::Impl::lay_out_buckets() {
  NamedTensors named = model.named_parameters();
  std::reverse(named.begin(), named.end());
  for (auto& [name, t] : named) {
    if (!t.requires_grad()) continue;
    const std::size_t bytes = t.numel() * dtype_size(t.dtype());
    const double cap_mb = buckets.size() <= 1 ? options.first_bucket_mb : options.bucket_mb;
    const bool fits = !buckets.empty() && buckets.back().dtype == t.dtype() &&
                      double(buckets.back().bytes + bytes) <= cap_mb * 1024 * 1024;
    if (!fits) {
      buckets.emplace_back();
      buckets.back().dtype = t.dtype();
    }
    Bucket& b = buckets.back();
    params.push_back({.name = name,
                      .tensor = t,
                      .bucket = buckets.size() - 1,
                      .offset = b.bytes / dtype_size(b.dtype),
                      .numel = t.numel(),
                      .ready = false,
                      .hook = {}});
    b.params.push_back(params.size() - 1);
    b.bytes += bytes;
  }
  for (Bucket& b : buckets) {
    (b.dtype == f32 ? b.f32_values.resize(b.bytes / sizeof(float)) : b.f64_values.resize(b.bytes / sizeof(double)));
    b.pending = b.params.size();
  }
  used.assign(params.size(), 0);
}

// The parameter's accumulated gradient (or its zeros) into its slot of the bucket.
void DataParallel::Impl::fill_slot(std::size_t i, const Tensor& grad) {
  Param& p = params[i];
  Bucket& b = buckets[p.bucket];
  std::byte* slot = static_cast<std::byte*>(b.data()) + p.offset * dtype_size(b.dtype);
  const std::size_t bytes = p.numel * dtype_size(b.dtype);
  if (!grad.defined()) {
    std::memset(slot, 0, bytes);
  } else {
    if (grad.dtype() != b.dtype || grad.numel() != p.numel)
      throw Error("{}: the gradient of '{}' is {} {}, the parameter is {} {}", where, p.name, shape_str(grad.shape()),
                  dtype_name(grad.dtype()), shape_str(p.tensor.shape()), dtype_name(p.tensor.dtype()));
    Tensor g = grad;
    std::memcpy(slot, bytes_of(g).data(), bytes);
  }
  p.ready = true;
  --b.pending;
}

void DataParallel::Impl::on_gradient(std::size_t i) {
  if (local) return;
  Param& p = params[i];
  if (p.ready)
    throw Error("{}: '{}' received a second gradient before synchronize(); call synchronize() after every backward()",
                where, p.name);
  fill_slot(i, p.tensor.grad());
  used[i] = 1;
  launch_ready();
  if (options.progress_in_hooks) progress();
}

void DataParallel::Impl::launch_ready() {
  while (next_launch < buckets.size() && buckets[next_launch].pending == 0) {
    Bucket& b = buckets[next_launch++];
    XG_MPI(where, MPI_Iallreduce(MPI_IN_PLACE, b.data(), int(b.count()), detail::mpi_type(b.dtype), MPI_SUM,
                                 MPI_COMM_WORLD, &b.request));
    b.launched = true;
  }
}

// Without an asynchronous progress thread a launched reduction moves only inside MPI calls: testing
// the oldest unfinished one lets MPI's progress engine advance all of them.
void DataParallel::Impl::progress() {
  while (first_pending < next_launch) {
    int done = 0;
    XG_MPI(where, MPI_Test(&buckets[first_pending].request, &done, MPI_STATUS_IGNORE));
    if (!done) return;
    ++first_pending;
  }
}

void DataParallel::Impl::finish() {
  // Parameters this rank gave no gradient this step: their current grad (zeros when undefined) goes
  // in, so the sum is right whether or not another rank used them.
  for (std::size_t i = 0; i < params.size(); ++i)
    if (!params[i].ready) fill_slot(i, params[i].tensor.grad());
  launch_ready();
  XG_MPI(where, MPI_Iallreduce(MPI_IN_PLACE, used.data(), int(used.size()), MPI_UNSIGNED_CHAR, MPI_MAX, MPI_COMM_WORLD,
                               &used_request));
  for (Bucket& b : buckets) XG_MPI(where, MPI_Wait(&b.request, MPI_STATUS_IGNORE));
  XG_MPI(where, MPI_Wait(&used_request, MPI_STATUS_IGNORE));
  // Scaled only now that the sums are complete: every rank divides the same sum the same way.
  const double scale = 1.0 / world;
  for (std::size_t i = 0; i < params.size(); ++i) {
    Param& p = params[i];
    Bucket& b = buckets[p.bucket];
    if (used[i]) {
      const Tensor& grad = p.tensor.grad();
      TensorImpl& impl = *p.tensor.impl();
      if (!grad.defined()) {
        impl.grad = b.dtype == f32 ? Tensor(xt::xarray<float>::from_shape(p.tensor.shape()))
                                   : Tensor(xt::xarray<double>::from_shape(p.tensor.shape()));
      }
      Tensor g = impl.grad;  // mutable_value bumps its version
      if (b.dtype == f32) {
        float* out = g.mutable_value<float>().data();
        const float* in = b.f32_values.data() + p.offset;
        for (std::size_t k = 0; k < p.numel; ++k) out[k] = float(in[k] * scale);
      } else {
        double* out = g.mutable_value<double>().data();
        const double* in = b.f64_values.data() + p.offset;
        for (std::size_t k = 0; k < p.numel; ++k) out[k] = in[k] * scale;
      }
    }
    p.ready = false;
  }
  for (Bucket& b : buckets) {
    b.pending = b.params.size();
    b.launched = false;
  }
  std::fill(used.begin(), used.end(), 0);
  next_launch = first_pending = 0;
  if (options.broadcast_buffers) {
    for (auto& [name, t] : model.named_buffers()) {
      Tensor handle = t;
      handle.bump_version();
      XG_MPI(where, MPI_Bcast(bytes_of(handle).data(), int(t.numel()), detail::mpi_type(t.dtype()), 0, MPI_COMM_WORLD));
    }
  }
}

DataParallel::DataParallel(nn::Module& model, DataParallelOptions options)
    : impl_(std::make_unique<Impl>(model, options)) {
  if (!(options.first_bucket_mb > 0) || !(options.bucket_mb > 0))
    throw Error("{}: bucket sizes must be positive (first_bucket_mb {}, bucket_mb {})", where, options.first_bucket_mb,
                options.bucket_mb);
  Impl& m = *impl_;
  m.local = !initialized();
  m.world = int(world_size());
  if (!m.local) {
    m.check_same_structure();
    m.broadcast_state();
    m.check_same_values();
  }
  m.lay_out_buckets();
  for (std::size_t i = 0; i < m.params.size(); ++i)
    m.params[i].hook =
        m.params[i].tensor.register_post_accumulate_grad_hook([impl = &m, i](const Tensor&) { impl->on_gradient(i); });
}

DataParallel::~DataParallel() {
  // Launched reductions are not waited for: this runs during unwinding after an error too, when the
  // other ranks may never complete them (the terminate handler or xg::dist::abort ends the job).
  for (auto& p : impl_->params) p.hook.remove();
}

void DataParallel::synchronize() {
  if (impl_->local) return;
  impl_->finish();
}

std::uint64_t DataParallel::state_hash() const {
  Hash h;
  for (auto& [name, t] : impl_->state()) {
    Tensor handle = t;
    h.add(name);
    h.add(shape_str(t.shape()));
    h.add(bytes_of(handle));
  }
  return h.h;
}

std::size_t DataParallel::bucket_count() const { return impl_->buckets.size(); }

std::string DataParallel::describe_buckets() const {
  std::string out;
  for (std::size_t b = 0; b < impl_->buckets.size(); ++b) {
    const auto& bucket = impl_->buckets[b];
    std::vector<std::string> names;
    for (std::size_t i : bucket.params) names.push_back(impl_->params[i].name);
    out += fmt::format("{}bucket {}: {} tensors, {:.1f} KB {} ({})", b ? "; " : "", b, bucket.params.size(),
                       double(bucket.bytes) / 1024, dtype_name(bucket.dtype), fmt::join(names, ", "));
  }
  return out;
}

}  // namespace xgrad::dist
