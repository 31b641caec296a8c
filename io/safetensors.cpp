// The safetensors format: the header parser and validator, the decoders for the dtypes xgrad reads,
// and the atomic writer. Module and optimizer checkpoints are built on it in nn/checkpoint.cpp.
#include "safetensors.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <set>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "../autograd/tensor_impl.hpp"

namespace xgrad::safetensors {
namespace {

using json = nlohmann::ordered_json;  // keeps "__metadata__" first and tensors in data order

static_assert(xt::xarray<float>::static_layout == xt::layout_type::row_major,
              "checkpoints write xarray buffers as row-major data");

constexpr std::uint64_t max_header_bytes = 100'000'000;  // the reference implementation's limit

// Every dtype of the safetensors specification with its width, so any file's offsets can be
// validated even when a tensor has a dtype xgrad cannot decode.
struct FileDType {
  std::string_view name;
  unsigned bits;
};
constexpr FileDType file_dtypes[] = {{"BOOL", 8},    {"U8", 8},   {"I8", 8},   {"F8_E5M2", 8}, {"F8_E4M3", 8},
                                     {"F8_E8M0", 8}, {"I16", 16}, {"U16", 16}, {"F16", 16},    {"BF16", 16},
                                     {"I32", 32},    {"U32", 32}, {"F32", 32}, {"C64", 64},    {"F64", 64},
                                     {"I64", 64},    {"U64", 64}, {"F4", 4},   {"F6_E2M3", 6}, {"F6_E3M2", 6}};

// --- byte order ----------------------------------------------------------------------------------
template <class U>
U byteswap(U v) {
  U out = 0;
  for (std::size_t i = 0; i < sizeof(U); ++i) out = static_cast<U>((out << 8) | ((v >> (8 * i)) & 0xff));
  return out;
}
template <class U>
U load_le(const unsigned char* p) {
  U v;
  std::memcpy(&v, p, sizeof(U));
  if constexpr (std::endian::native == std::endian::big) v = byteswap(v);
  return v;
}
template <class T>
void to_native_from_le(T* data, std::size_t n) {
  if constexpr (std::endian::native == std::endian::big) {
    using U = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
    for (std::size_t i = 0; i < n; ++i) data[i] = std::bit_cast<T>(byteswap(std::bit_cast<U>(data[i])));
  } else {
    (void)data;
    (void)n;
  }
}

float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exponent = (h >> 10) & 0x1fu;
  const std::uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24
    const float v = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -v : v;
  }
  if (exponent == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));  // inf, nan
  return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

// --- POSIX file helpers --------------------------------------------------------------------------
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

std::string errno_str(int err) { return std::strerror(err); }

// --- writing -------------------------------------------------------------------------------------
template <class... Args>
[[noreturn]] void fail_path(std::string_view op, const std::string& path, fmt::format_string<Args...> format,
                            Args&&... args) {
  throw Error("{}: {}: {}", op, path, fmt::format(format, std::forward<Args>(args)...));
}

void write_all(int fd, const void* data, std::size_t n, std::string_view op, const std::string& path,
               const std::string& tmp) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t put = ::write(fd, p, std::min<std::size_t>(n, 1u << 30));
    if (put < 0 && errno == EINTR) continue;
    if (put < 0) fail_path(op, path, "writing the temporary file '{}' failed: {}", tmp, errno_str(errno));
    p += put;
    n -= static_cast<std::size_t>(put);
  }
}

template <class T>
void write_le(int fd, const T* data, std::size_t n, std::string_view op, const std::string& path,
              const std::string& tmp) {
  if constexpr (std::endian::native == std::endian::little) {
    write_all(fd, data, n * sizeof(T), op, path, tmp);
  } else {
    using U = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
    std::vector<U> chunk;
    for (std::size_t start = 0; start < n; start += 65536) {
      const std::size_t m = std::min<std::size_t>(65536, n - start);
      chunk.resize(m);
      for (std::size_t i = 0; i < m; ++i) chunk[i] = byteswap(std::bit_cast<U>(data[start + i]));
      write_all(fd, chunk.data(), m * sizeof(U), op, path, tmp);
    }
  }
}

}  // namespace

// --- reading -------------------------------------------------------------------------------------
struct File::Impl {
  Impl(std::string op, const std::string& path)
      : op_(std::move(op)), path_(path), fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    if (fd_.fd < 0) fail("cannot open the file: {}", errno_str(errno));
    struct stat st {};
    if (::fstat(fd_.fd, &st) != 0) fail("cannot stat the file: {}", errno_str(errno));
    if (!S_ISREG(st.st_mode)) fail("not a regular file");
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (size < 8) fail("the file is {} bytes long; a safetensors file starts with an 8-byte header length", size);
    unsigned char len_bytes[8];
    read_at(len_bytes, 8, 0);
    const auto header_len = load_le<std::uint64_t>(len_bytes);
    if (header_len > size - 8)
      fail("the header length is {} bytes but only {} bytes follow it (the file is truncated or not safetensors)",
           header_len, size - 8);
    if (header_len > max_header_bytes)
      fail("the header length {} exceeds the limit of {} bytes", header_len, max_header_bytes);
    data_start_ = 8 + header_len;
    data_len_ = size - data_start_;
    std::string text(header_len, '\0');
    read_at(text.data(), header_len, 8);
    parse_header(text);
  }

  template <class... Args>
  [[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) const {
    throw Error("{}: {}: {}", op_, path_, fmt::format(format, std::forward<Args>(args)...));
  }

  const std::vector<Entry>& entries() const { return entries_; }  // sorted by data offset
  const Metadata& metadata() const { return metadata_; }

  // The tensor's values: F32 F16 BF16 as float, F64 and the integer dtypes as double.
  Value read(const Entry& e) const {
    const std::uint64_t bytes = e.end - e.begin, offset = data_start_ + e.begin;
    if (e.dtype == "F32") return read_direct<float>(e, bytes, offset);
    if (e.dtype == "F64") return read_direct<double>(e, bytes, offset);
    std::vector<unsigned char> raw(bytes);
    read_at(raw.data(), bytes, offset);
    const unsigned char* p = raw.data();
    auto floats = [&](auto element) {
      auto a = xt::xarray<float>::from_shape(e.shape);
      for (std::size_t i = 0; i < a.size(); ++i) a.data()[i] = element(i);
      return Value(std::move(a));
    };
    auto doubles = [&](auto element) {
      auto a = xt::xarray<double>::from_shape(e.shape);
      for (std::size_t i = 0; i < a.size(); ++i) a.data()[i] = element(i);
      return Value(std::move(a));
    };
    if (e.dtype == "F16")
      return floats([&](std::size_t i) { return half_to_float(load_le<std::uint16_t>(p + 2 * i)); });
    if (e.dtype == "BF16")
      return floats([&](std::size_t i) {
        return std::bit_cast<float>(static_cast<std::uint32_t>(load_le<std::uint16_t>(p + 2 * i)) << 16);
      });
    if (e.dtype == "BOOL") return doubles([&](std::size_t i) { return p[i] ? 1.0 : 0.0; });
    if (e.dtype == "U8") return doubles([&](std::size_t i) { return double(p[i]); });
    if (e.dtype == "I8") return doubles([&](std::size_t i) { return double(static_cast<std::int8_t>(p[i])); });
    if (e.dtype == "U16") return doubles([&](std::size_t i) { return double(load_le<std::uint16_t>(p + 2 * i)); });
    if (e.dtype == "I16")
      return doubles(
          [&](std::size_t i) { return double(static_cast<std::int16_t>(load_le<std::uint16_t>(p + 2 * i))); });
    if (e.dtype == "U32") return doubles([&](std::size_t i) { return double(load_le<std::uint32_t>(p + 4 * i)); });
    if (e.dtype == "I32")
      return doubles(
          [&](std::size_t i) { return double(static_cast<std::int32_t>(load_le<std::uint32_t>(p + 4 * i))); });
    if (e.dtype == "I64" || e.dtype == "U64") {
      constexpr std::uint64_t exact = std::uint64_t(1) << 53;  // larger integers do not all fit a double
      const bool is_signed = e.dtype == "I64";
      return doubles([&](std::size_t i) {
        const auto bits = load_le<std::uint64_t>(p + 8 * i);
        const auto as_signed = static_cast<std::int64_t>(bits);
        const std::uint64_t magnitude =
            is_signed && as_signed < 0 ? std::uint64_t(0) - bits : bits;  // |x| without overflow
        const double v = is_signed ? double(as_signed) : double(bits);
        if (magnitude > exact)
          fail("tensor '{}' ({}) holds {} at flat index {}, which a double cannot hold exactly", e.name, e.dtype,
               is_signed ? fmt::format("{}", as_signed) : fmt::format("{}", bits), i);
        return v;
      });
    }
    fail("tensor '{}' has dtype {}, which xgrad cannot read (it reads F64, F32, F16, BF16, BOOL and integer tensors)",
         e.name, e.dtype);
  }

  template <class T>
  Value read_direct(const Entry& e, std::uint64_t bytes, std::uint64_t offset) const {
    auto a = xt::xarray<T>::from_shape(e.shape);
    read_at(a.data(), bytes, offset);
    to_native_from_le(a.data(), a.size());
    return Value(std::move(a));
  }

  void read_at(void* buffer, std::uint64_t n, std::uint64_t offset) const {
    auto* p = static_cast<char*>(buffer);
    while (n > 0) {
      const ssize_t got = ::pread(fd_.fd, p, std::min<std::uint64_t>(n, 1u << 30), static_cast<off_t>(offset));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) fail("read error: {}", errno_str(errno));
      if (got == 0) fail("the file ended early while reading (was it truncated while loading?)");
      p += got;
      n -= static_cast<std::uint64_t>(got);
      offset += static_cast<std::uint64_t>(got);
    }
  }

  void parse_header(const std::string& text) {
    // A callback parser, to catch a tensor name given twice (a plain parse keeps only the last).
    std::set<std::string> seen;
    std::string duplicate;
    json::parser_callback_t watch = [&](int depth, json::parse_event_t event, json& parsed) {
      if (event == json::parse_event_t::key && depth == 1 && duplicate.empty()) {
        const auto& key = parsed.get_ref<const std::string&>();
        if (!seen.insert(key).second) duplicate = key;
      }
      return true;
    };
    json header;
    try {
      header = json::parse(text, watch);
    } catch (const json::exception& e) {
      fail("the header is not valid JSON ({})", e.what());
    }
    if (!header.is_object()) fail("the header is not a JSON object");
    if (!duplicate.empty()) fail("the header names '{}' twice", duplicate);

    for (const auto& [key, value] : header.items()) {
      if (key == "__metadata__") {
        if (!value.is_object()) fail("\"__metadata__\" is not an object");
        for (const auto& [k, v] : value.items()) {
          if (!v.is_string()) fail("\"__metadata__\" entry '{}' is not a string", k);
          metadata_[k] = v.get<std::string>();
        }
        continue;
      }
      entries_.push_back(parse_entry(key, value));
    }

    // The data section must be exactly the tensors' bytes, back to back (as the reference checks).
    std::sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) {
      return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
    });
    std::uint64_t expected = 0;
    const Entry* previous = nullptr;
    for (const auto& e : entries_) {
      if (e.begin < expected)
        fail("tensors '{}' [{}, {}] and '{}' [{}, {}] overlap in the data", previous->name, previous->begin,
             previous->end, e.name, e.begin, e.end);
      if (e.begin > expected)
        fail("{} bytes of the data before tensor '{}' belong to no tensor", e.begin - expected, e.name);
      expected = e.end;
      previous = &e;
    }
    if (expected != data_len_) fail("the file has {} bytes after the last tensor's data", data_len_ - expected);
  }

  Entry parse_entry(const std::string& name, const json& value) const {
    if (!value.is_object()) fail("tensor '{}': its header entry is not an object", name);
    Entry e;
    e.name = name;
    auto field = [&](const char* key) -> const json& {
      auto it = value.find(key);
      if (it == value.end()) fail("tensor '{}' has no \"{}\" in the header", name, key);
      return *it;
    };
    const json& dtype = field("dtype");
    if (!dtype.is_string()) fail("tensor '{}': \"dtype\" is not a string", name);
    e.dtype = dtype.get<std::string>();
    auto known = std::find_if(std::begin(file_dtypes), std::end(file_dtypes),
                              [&](const FileDType& d) { return d.name == e.dtype; });
    if (known == std::end(file_dtypes)) fail("tensor '{}' has the unknown dtype '{}'", name, e.dtype);

    const json& shape = field("shape");
    if (!shape.is_array()) fail("tensor '{}': \"shape\" is not an array", name);
    std::uint64_t bits = known->bits;
    bool overflow = false;
    for (const auto& d : shape) {
      if (!d.is_number_unsigned())
        fail("tensor '{}': \"shape\" {} is not a list of non-negative integers", name, shape.dump());
      const auto n = d.get<std::uint64_t>();
      e.shape.push_back(static_cast<std::size_t>(n));
      if (n != 0 && bits > std::numeric_limits<std::uint64_t>::max() / n) overflow = true;
      bits *= n;
    }
    if (std::find(e.shape.begin(), e.shape.end(), 0) != e.shape.end()) bits = 0, overflow = false;
    if (overflow) fail("tensor '{}': shape {} is too large", name, shape_str(e.shape));

    const json& offsets = field("data_offsets");
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned())
      fail("tensor '{}': \"data_offsets\" {} is not [begin, end] with non-negative integers", name, offsets.dump());
    e.begin = offsets[0].get<std::uint64_t>();
    e.end = offsets[1].get<std::uint64_t>();
    if (e.begin > e.end) fail("tensor '{}': data_offsets [{}, {}] end before they begin", name, e.begin, e.end);
    if (bits % 8 != 0)
      fail("tensor '{}': {} of shape {} is not a whole number of bytes", name, e.dtype, shape_str(e.shape));
    if (e.end - e.begin != bits / 8)
      fail("tensor '{}' is {} of shape {} ({} bytes) but its data_offsets [{}, {}] span {} bytes", name, e.dtype,
           shape_str(e.shape), bits / 8, e.begin, e.end, e.end - e.begin);
    if (e.end > data_len_)
      fail("tensor '{}' needs bytes [{}, {}) of the data but the file holds only {} bytes of data (truncated?)", name,
           e.begin, e.end, data_len_);
    return e;
  }

  std::string op_, path_;
  Fd fd_;
  std::uint64_t data_start_ = 0, data_len_ = 0;
  std::vector<Entry> entries_;
  Metadata metadata_;
};

File::File(std::string op, const std::string& path) : impl_(std::make_unique<Impl>(std::move(op), path)) {}
File::~File() = default;
const std::vector<Entry>& File::entries() const { return impl_->entries(); }
const Metadata& File::metadata() const { return impl_->metadata(); }
Tensor File::read(const Entry& e) const { return Tensor(std::make_shared<TensorImpl>(impl_->read(e))); }
void File::fail_with(const std::string& message) const { impl_->fail("{}", message); }

std::string_view file_dtype(DType d) { return d == f32 ? "F32" : "F64"; }

namespace {
DType value_dtype(const Value& v) { return v.index() == 0 ? f32 : f64; }

}  // namespace

Tensor convert(const Tensor& t, DType to) {
  const Value& v = t.impl()->value;
  if (value_dtype(v) == to) return t;
  return Tensor(std::make_shared<TensorImpl>(std::visit(
      [to](const auto& a) -> Value {
        auto cast = [&a](auto zero) {
          using T = decltype(zero);
          auto out = xt::xarray<T>::from_shape(a.shape());
          std::transform(a.data(), a.data() + a.size(), out.data(), [](auto x) { return static_cast<T>(x); });
          return Value(std::move(out));
        };
        return to == f32 ? cast(0.0f) : cast(0.0);
      },
      v)));
}

// --- writing -------------------------------------------------------------------------------------
void write_file(std::string_view op, const NamedTensors& tensors, const std::string& path, const Metadata& metadata) {
  std::unordered_set<std::string_view> names;
  for (const auto& [name, t] : tensors) {
    if (name.empty()) fail_path(op, path, "a tensor has an empty name");
    if (name == "__metadata__") fail_path(op, path, "'__metadata__' cannot name a tensor");
    if (!names.insert(name).second) fail_path(op, path, "the name '{}' is given twice", name);
    if (!t.defined()) fail_path(op, path, "tensor '{}' is undefined", name);
  }

  // F64 before F32, each group in the given order: every tensor starts at a multiple of its size.
  std::vector<std::size_t> order(tensors.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return tensors[a].second.dtype() == f64 && tensors[b].second.dtype() == f32;
  });

  json header = json::object();
  Metadata md = metadata;
  md.try_emplace("format", "pt");
  header["__metadata__"] = json::object();
  for (const auto& [k, v] : md) header["__metadata__"][k] = v;
  std::uint64_t offset = 0;
  for (std::size_t i : order) {
    const auto& [name, t] = tensors[i];
    const std::uint64_t bytes = t.numel() * (t.dtype() == f32 ? 4 : 8);
    header[name] = json{{"dtype", file_dtype(t.dtype())},
                        {"shape", t.shape()},
                        {"data_offsets", json::array({offset, offset + bytes})}};
    offset += bytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const json::exception& e) {
    fail_path(op, path, "a tensor name or metadata string is not valid UTF-8 ({})", e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // as the reference: the data starts 8-byte aligned
  unsigned char len_bytes[8];
  for (int i = 0; i < 8; ++i)
    len_bytes[i] = static_cast<unsigned char>(static_cast<std::uint64_t>(text.size()) >> (8 * i));

  // Atomic: a temporary file next to the target, flushed to disk, renamed over the target.
  static std::atomic<unsigned> counter{0};
  const std::string tmp = fmt::format("{}.tmp-{}-{}", path, static_cast<long>(::getpid()), counter++);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) fail_path(op, path, "cannot create the temporary file '{}': {}", tmp, errno_str(errno));
  try {
    write_all(fd, len_bytes, 8, op, path, tmp);
    write_all(fd, text.data(), text.size(), op, path, tmp);
    for (std::size_t i : order) {
      std::visit([&](const auto& a) { write_le(fd, a.data(), a.size(), op, path, tmp); },
                 tensors[i].second.impl()->value);
    }
    if (::fsync(fd) != 0)
      fail_path(op, path, "flushing the temporary file '{}' to disk failed: {}", tmp, errno_str(errno));
    const int closed = ::close(fd);
    fd = -1;
    if (closed != 0) fail_path(op, path, "closing the temporary file '{}' failed: {}", tmp, errno_str(errno));
    if (::rename(tmp.c_str(), path.c_str()) != 0)
      fail_path(op, path, "renaming the temporary file '{}' to it failed: {}", tmp, errno_str(errno));
  } catch (...) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  // Make the rename itself durable (best effort: the new file is in place either way).
  const auto slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    (void)::fsync(dir_fd);
    ::close(dir_fd);
  }
}

}  // namespace xgrad::safetensors

namespace xgrad {

void save_tensors(const NamedTensors& tensors, const std::string& path, const Metadata& metadata) {
  safetensors::write_file("save_tensors", tensors, path, metadata);
}

NamedTensors load_tensors(const std::string& path) {
  safetensors::File file("load_tensors", path);
  NamedTensors out;
  for (const auto& e : file.entries()) out.emplace_back(e.name, file.read(e));
  return out;
}

Metadata load_metadata(const std::string& path) { return safetensors::File("load_metadata", path).metadata(); }

}  // namespace xgrad
