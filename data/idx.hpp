#pragma once
// IDX, the MNIST file format: a big-endian header (magic 0x0000TTDD: element type TT, DD dimensions,
// then DD 32-bit sizes) followed by the elements. xgrad reads the unsigned-byte kind MNIST uses:
// images 0x00000803 [count, rows, cols] and labels 0x00000801 [count], plain or gzip-compressed
// (.gz, read through zlib). Every check failure is an xg::Error naming the file and what is wrong.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string_view>
#include <vector>

#include "dataset.hpp"

namespace xgrad::data {

// Debian's dataset-fashion-mnist installs the four Fashion-MNIST files here.
inline constexpr const char* default_mnist_dir = "/usr/share/datasets/fashion-mnist";

inline constexpr std::uint32_t idx_images_magic = 0x00000803;  // unsigned bytes, 3 dimensions
inline constexpr std::uint32_t idx_labels_magic = 0x00000801;  // unsigned bytes, 1 dimension

struct IdxImages {
  std::size_t count = 0, rows = 0, cols = 0;
  std::vector<std::uint8_t> pixels;  // count * rows * cols bytes, image after image, row-major
};

// Reads an IDX image or label file, plain or .gz (zlib detects gzip by content, not by name).
IdxImages read_idx_images(const std::filesystem::path& path);
std::vector<std::uint8_t> read_idx_labels(const std::filesystem::path& path);

// Writes an unsigned-byte IDX file with the given dimensions; gzip-compressed when the name ends in .gz.
void write_idx(const std::filesystem::path& path, std::span<const std::uint32_t> dims,
               std::span<const std::uint8_t> data);
void write_idx_images(const std::filesystem::path& path, const IdxImages& images);
void write_idx_labels(const std::filesystem::path& path, std::span<const std::uint8_t> labels);

// An image file and its label file as a Dataset: images [N, 1, rows, cols] kept as bytes and read as
// byte / 255 (so in [0, 1]; see Dataset), labels as int64. The image and label counts must agree.
Dataset load_idx_pair(const std::filesystem::path& images_path, const std::filesystem::path& labels_path);

enum class Split { train, test };
Split parse_split(std::string_view name);  // "train" or "test"

// Finds {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] (also the "...-images.idx3-ubyte" spelling)
// in an MNIST-format directory (MNIST, Fashion-MNIST, KMNIST, ...) and loads the split.
Dataset load_mnist_dir(const std::filesystem::path& dir, Split split);
Dataset load_mnist_dir(const std::filesystem::path& dir, std::string_view split);

}  // namespace xgrad::data
