// IDX reading and writing through zlib (gzread reads gzip and plain files alike), and MNIST directories.
#include "idx.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <limits>
#include <memory>
#include <string>

namespace xgrad::data {

namespace {

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

GzFile open_gz(const std::filesystem::path& path, const char* mode, const char* what) {
  errno = 0;
  gzFile f = gzopen(path.c_str(), mode);
  if (!f) {
    const int err = errno;
    if (err == ENOENT && mode[0] == 'r') throw Error("idx: {}: no such file", path.string());
    throw Error("idx: {}: cannot open for {}: {}", path.string(), what, err ? std::strerror(err) : "out of memory");
  }
  gzbuffer(f, 1 << 18);
  return GzFile(f);
}

// Reads up to `want` bytes and returns how many it got: fewer at the end of the file, or of a gzip
// stream cut short (then *truncated is set). A corrupt stream or an I/O error throws.
std::size_t read_some(gzFile f, const std::filesystem::path& path, std::uint8_t* out, std::size_t want,
                      bool* truncated) {
  std::size_t got = 0;
  while (got < want) {
    const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(want - got, 1u << 30));
    const int r = gzread(f, out + got, chunk);
    if (r > 0) got += static_cast<std::size_t>(r);
    if (r < static_cast<int>(chunk)) {
      int code = Z_OK;
      const char* msg = gzerror(f, &code);
      if (code == Z_BUF_ERROR) {
        if (truncated) *truncated = true;
      } else if (code == Z_DATA_ERROR) {
        std::string_view why = msg;  // zlib prefixes the path
        if (const std::string prefix = path.string() + ": "; why.starts_with(prefix)) why.remove_prefix(prefix.size());
        throw Error("idx: {}: corrupt gzip data ({})", path.string(), why);
      } else if (code == Z_ERRNO) {
        throw Error("idx: {}: read error ({})", path.string(), std::strerror(errno));
      } else if (code != Z_OK && code != Z_STREAM_END) {
        throw Error("idx: {}: zlib error {} ({})", path.string(), code, msg);
      }
      break;
    }
  }
  return got;
}

const char* truncation_note(bool truncated) { return truncated ? " (the gzip stream is cut short)" : ""; }

std::uint32_t big_endian(const std::uint8_t* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | std::uint32_t(p[3]);
}

struct IdxU8 {
  std::vector<std::size_t> dims;
  std::vector<std::uint8_t> data;
};

// An unsigned-byte IDX file with `ndims` dimensions; `kind` and `what` name it in messages.
IdxU8 read_idx_u8(const std::filesystem::path& path, std::uint32_t magic, const char* kind, const char* what) {
  const std::size_t ndims = magic & 0xff;
  GzFile file = open_gz(path, "rb", "reading");
  gzFile f = file.get();

  std::array<std::uint8_t, 4 + 4 * 3> header{};
  const std::size_t header_size = 4 + 4 * ndims;
  bool truncated = false;
  const std::size_t got = read_some(f, path, header.data(), 4, &truncated);
  if (got < 4)
    throw Error("idx: {}: file ends after {} bytes, inside the 4-byte magic number{}", path.string(), got,
                truncation_note(truncated));
  const std::uint32_t found = big_endian(header.data());
  if (found != magic) {
    std::string hint;
    if (found == idx_labels_magic)
      hint = " (this is a label file)";
    else if (found == idx_images_magic)
      hint = " (this is an image file)";
    else if ((found >> 16) != 0)
      hint = " (not an IDX file)";
    else if (((found >> 8) & 0xff) != 0x08)
      hint = fmt::format(" (element type 0x{:02x}, not unsigned bytes)", (found >> 8) & 0xff);
    throw Error("idx: {}: bad magic number 0x{:08x}, expected 0x{:08x} for an IDX {} file{}", path.string(), found,
                magic, kind, hint);
  }
  const std::size_t got_dims = read_some(f, path, header.data() + 4, 4 * ndims, &truncated);
  if (got_dims < 4 * ndims)
    throw Error("idx: {}: file ends after {} bytes, inside the {}-byte header{}", path.string(), 4 + got_dims,
                header_size, truncation_note(truncated));

  IdxU8 out;
  std::size_t total = 1;
  for (std::size_t d = 0; d < ndims; ++d) {
    const std::size_t size = big_endian(header.data() + 4 + 4 * d);
    out.dims.push_back(size);
    if (d > 0 && size == 0)
      throw Error("idx: {}: dimension {} of [{}] is 0", path.string(), d, fmt::join(out.dims, " x "));
    if (size != 0 && total > std::numeric_limits<std::size_t>::max() / size)
      throw Error("idx: {}: dimensions [{}] are too large", path.string(), fmt::join(out.dims, ","));
    total *= size;
  }

  // A corrupt header can claim terabytes. What the file can hold bounds the allocation: a plain file
  // holds its size less the header, and deflate expands at most 1032-fold (zlib's FAQ), so a gzip
  // file at most 1032 times its size. Without the bound, a 20-byte file claiming 4 GB reserved 1 GiB
  // and zero-filled 64 MiB before reading found the end.
  std::error_code size_error;
  const std::uintmax_t file_size = std::filesystem::file_size(path, size_error);
  if (!size_error) {  // not for a pipe or a device: those are read until they end
    const bool plain = gzdirect(f) == 1;
    const std::uintmax_t after_header = file_size > header_size ? file_size - header_size : 0;
    if (plain && total > after_header)
      throw Error("idx: {}: expected {} bytes of {}, file ends after {} (header: [{}])", path.string(), total, what,
                  after_header, fmt::join(out.dims, " x "));
    constexpr std::uintmax_t max_ratio = 1032;
    if (!plain && file_size <= std::numeric_limits<std::uintmax_t>::max() / max_ratio && total > file_size * max_ratio)
      throw Error("idx: {}: expected {} bytes of {}, more than a gzip file of {} bytes can hold (header: [{}])",
                  path.string(), total, what, file_size, fmt::join(out.dims, " x "));
  }
  // Grown while reading, 64 MiB at a time, for the streams the bound above does not cover.
  constexpr std::size_t step = std::size_t(1) << 26;
  out.data.reserve(std::min(total, std::size_t(1) << 30));
  std::size_t have = 0;
  while (have < total) {
    const std::size_t want = std::min(step, total - have);
    out.data.resize(have + want);
    const std::size_t n = read_some(f, path, out.data.data() + have, want, &truncated);
    have += n;
    if (n < want)
      throw Error("idx: {}: expected {} bytes of {}, file ends after {} (header: [{}]{})", path.string(), total, what,
                  have, fmt::join(out.dims, " x "), truncated ? "; the gzip stream is cut short" : "");
  }
  // Nothing may follow; reading on also makes zlib check the gzip trailer (CRC and length).
  std::uint8_t extra = 0;
  if (read_some(f, path, &extra, 1, &truncated) != 0)
    throw Error("idx: {}: more data after the {} bytes of {} ([{}]); the header does not match the file", path.string(),
                total, what, fmt::join(out.dims, " x "));
  if (truncated)
    throw Error("idx: {}: the gzip stream is cut short after all {} bytes of {} (its trailer is missing)",
                path.string(), total, what);
  return out;
}

void put_big_endian(std::uint8_t* p, std::uint32_t v) {
  p[0] = std::uint8_t(v >> 24);
  p[1] = std::uint8_t(v >> 16);
  p[2] = std::uint8_t(v >> 8);
  p[3] = std::uint8_t(v);
}

void write_all(gzFile f, const std::filesystem::path& path, const std::uint8_t* data, std::size_t n) {
  while (n > 0) {
    const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n, 1u << 30));
    if (gzwrite(f, data, chunk) != static_cast<int>(chunk)) {
      int code = Z_OK;
      const char* msg = gzerror(f, &code);
      throw Error("idx: {}: write failed: {}", path.string(), code == Z_ERRNO ? std::strerror(errno) : msg);
    }
    data += chunk;
    n -= chunk;
  }
}

bool ends_with_gz(const std::filesystem::path& path) { return path.extension() == ".gz"; }

}  // namespace

IdxImages read_idx_images(const std::filesystem::path& path) {
  IdxU8 raw = read_idx_u8(path, idx_images_magic, "image", "pixels");
  if (raw.dims[0] == 0) throw Error("idx: {}: the file holds 0 images", path.string());
  return {raw.dims[0], raw.dims[1], raw.dims[2], std::move(raw.data)};
}

std::vector<std::uint8_t> read_idx_labels(const std::filesystem::path& path) {
  IdxU8 raw = read_idx_u8(path, idx_labels_magic, "label", "labels");
  if (raw.dims[0] == 0) throw Error("idx: {}: the file holds 0 labels", path.string());
  return std::move(raw.data);
}

void write_idx(const std::filesystem::path& path, std::span<const std::uint32_t> dims,
               std::span<const std::uint8_t> data) {
  if (dims.empty() || dims.size() > 255)
    throw Error("idx: {}: {} dimensions; IDX holds 1 to 255", path.string(), dims.size());
  std::size_t total = 1;
  for (auto d : dims) total *= d;
  if (total != data.size())
    throw Error("idx: {}: dimensions [{}] need {} bytes, got {}", path.string(), fmt::join(dims, ","), total,
                data.size());
  // "T" writes a plain file through the same interface.
  GzFile file = open_gz(path, ends_with_gz(path) ? "wb6" : "wbT", "writing");
  std::vector<std::uint8_t> header(4 + 4 * dims.size());
  put_big_endian(header.data(), 0x00000800u | static_cast<std::uint32_t>(dims.size()));
  for (std::size_t d = 0; d < dims.size(); ++d) put_big_endian(header.data() + 4 + 4 * d, dims[d]);
  write_all(file.get(), path, header.data(), header.size());
  write_all(file.get(), path, data.data(), data.size());
  const int rc = gzclose(file.release());
  if (rc != Z_OK) throw Error("idx: {}: closing failed (zlib error {})", path.string(), rc);
}

void write_idx_images(const std::filesystem::path& path, const IdxImages& images) {
  const std::array<std::uint32_t, 3> dims{static_cast<std::uint32_t>(images.count),
                                          static_cast<std::uint32_t>(images.rows),
                                          static_cast<std::uint32_t>(images.cols)};
  write_idx(path, dims, images.pixels);
}

void write_idx_labels(const std::filesystem::path& path, std::span<const std::uint8_t> labels) {
  const std::array<std::uint32_t, 1> dims{static_cast<std::uint32_t>(labels.size())};
  write_idx(path, dims, labels);
}

Dataset load_idx_pair(const std::filesystem::path& images_path, const std::filesystem::path& labels_path) {
  IdxImages im = read_idx_images(images_path);
  std::vector<std::uint8_t> lab = read_idx_labels(labels_path);
  if (im.count != lab.size())
    throw Error("idx: {} has {} images but {} has {} labels", images_path.string(), im.count, labels_path.string(),
                lab.size());
  // Kept as the file's bytes (a quarter of the floats' memory); reads convert to byte / 255.
  xt::xarray<std::uint8_t> pixels = xt::xarray<std::uint8_t>::from_shape({im.count, std::size_t(1), im.rows, im.cols});
  std::memcpy(pixels.data(), im.pixels.data(), im.pixels.size());
  std::vector<std::int64_t> labels(lab.begin(), lab.end());
  return Dataset(std::move(pixels), std::move(labels), 1.f / 255.f);
}

Split parse_split(std::string_view name) {
  if (name == "train") return Split::train;
  if (name == "test") return Split::test;
  throw Error("mnist: unknown split '{}' (expected train or test)", name);
}

namespace {
std::filesystem::path find_file(const std::filesystem::path& dir, const std::string& prefix, const char* kind,
                                const char* idx) {
  // train-images-idx3-ubyte is the usual name; the original site's unpacked files read train-images.idx3-ubyte.
  std::vector<std::string> tried;
  for (const char* sep : {"-", "."})
    for (const char* ext : {"", ".gz"}) {
      const std::string name = fmt::format("{}-{}{}{}-ubyte{}", prefix, kind, sep, idx, ext);
      std::error_code ec;
      if (std::filesystem::is_regular_file(dir / name, ec)) return dir / name;
      tried.push_back(name);
    }
  throw Error("mnist: {}: no {} file for this split (looked for {})", dir.string(), kind, fmt::join(tried, ", "));
}
}  // namespace

Dataset load_mnist_dir(const std::filesystem::path& dir, Split split) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    throw Error("mnist: {} is not a directory (for Fashion-MNIST install Debian's dataset-fashion-mnist, or give "
                "a directory of MNIST-format files)",
                dir.string());
  const std::string prefix = split == Split::train ? "train" : "t10k";
  const auto images = find_file(dir, prefix, "images", "idx3");
  const auto labels = find_file(dir, prefix, "labels", "idx1");
  return load_idx_pair(images, labels);
}

Dataset load_mnist_dir(const std::filesystem::path& dir, std::string_view split) {
  return load_mnist_dir(dir, parse_split(split));
}

}  // namespace xgrad::data
