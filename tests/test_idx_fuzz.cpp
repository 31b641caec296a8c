// A seeded fuzz of the IDX reader (data/idx.cpp) on damaged files, plain and gzip: truncated, bytes
// flipped, huge dimensions, dimension products that overflow size_t, wrong magic numbers, element
// types and dimension counts, bytes appended, gzip members damaged or repeated. Whatever the damage,
// the reader may only return a file that is consistent (as many bytes as its dimensions say) or
// throw xg::Error; any other exception fails the test, and a crash or a sanitizer report fails the
// suite (scripts/test.sh --sanitize runs it under ASan and UBSan).
#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <typeinfo>
#include <vector>

#include <doctest/doctest.h>
#include <xgrad/data.hpp>
#include <xgrad/xgrad.hpp>

#include "temp_dir.hpp"

namespace xg = xgrad;
namespace xd = xgrad::data;
namespace fs = std::filesystem;

namespace {

using Bytes = std::vector<std::uint8_t>;

struct TempDir : test_support::TempDir {
  TempDir() : test_support::TempDir("xgrad-idx-fuzz") {}
};

Bytes read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void write_bytes(const fs::path& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}
void put_u32(Bytes& b, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<std::uint8_t>(v >> (24 - 8 * i));
}

// A gzip member holding `data` in stored (uncompressed) deflate blocks, so the tests can wrap any
// bytes, damaged IDX headers included, in a valid gzip layer without a compressor.
std::uint32_t crc32(const Bytes& data) {
  std::uint32_t crc = 0xffffffffu;
  for (std::uint8_t byte : data) {
    crc ^= byte;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}
Bytes gzip_stored(const Bytes& data) {
  Bytes out = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255};  // magic, deflate, no flags, no time, unknown OS
  std::size_t at = 0;
  do {
    const std::size_t n = std::min<std::size_t>(data.size() - at, 65535);
    const bool last = at + n == data.size();
    out.push_back(last ? 1 : 0);  // BFINAL, BTYPE 00 (stored), then padding to the byte
    out.push_back(static_cast<std::uint8_t>(n));
    out.push_back(static_cast<std::uint8_t>(n >> 8));
    out.push_back(static_cast<std::uint8_t>(~n));
    out.push_back(static_cast<std::uint8_t>(~n >> 8));
    out.insert(out.end(), data.begin() + static_cast<std::ptrdiff_t>(at),
               data.begin() + static_cast<std::ptrdiff_t>(at + n));
    at += n;
  } while (at < data.size());
  const std::uint32_t crc = crc32(data), size = static_cast<std::uint32_t>(data.size());
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(crc >> (8 * i)));
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(size >> (8 * i)));
  return out;
}

// What reading gave: ok (and consistent), or an xg::Error. Anything else fails the check here.
struct Outcome {
  std::size_t ok = 0, errors = 0;
};
void read_both(const fs::path& path, Outcome& outcome, const std::string& what) {
  // The reads stay outside CHECK, which would catch what they throw.
  const std::array<std::function<void()>, 2> readers = {
      [&] {
        const xd::IdxImages im = xd::read_idx_images(path);
        CHECK(im.count > 0);
        CHECK(im.pixels.size() == im.count * im.rows * im.cols);
      },
      [&] {
        const Bytes labels = xd::read_idx_labels(path);
        CHECK(!labels.empty());
      },
  };
  for (const auto& read : readers) {
    try {
      read();
      ++outcome.ok;
    } catch (const xg::Error& e) {
      ++outcome.errors;
      const std::string message = e.what();
      CHECK_MESSAGE(message.starts_with("idx: "), what << ": " << message);
    } catch (const std::exception& e) {
      FAIL_CHECK(what << ": threw " << typeid(e).name() << " (not xg::Error): " << e.what());
    }
  }
}

}  // namespace

TEST_CASE("IDX fuzz: damaged plain and gzip files give a consistent result or an xg::Error") {
  TempDir dir;
  std::mt19937_64 rng(0x1d8f022);
  auto below = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };

  // The undamaged files: 7 images of 5x4 and their 7 labels, as the library writes them.
  xd::IdxImages images{7, 5, 4, Bytes(7 * 5 * 4)};
  for (auto& p : images.pixels) p = static_cast<std::uint8_t>(rng());
  Bytes labels(7);
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::uint8_t>(i % 10);
  xd::write_idx_images(dir / "images", images);
  xd::write_idx_labels(dir / "labels", labels);
  xd::write_idx_images(dir / "images.gz", images);
  xd::write_idx_labels(dir / "labels.gz", labels);
  const std::vector<Bytes> plain = {read_bytes(dir / "images"), read_bytes(dir / "labels")};
  const std::vector<Bytes> deflated = {read_bytes(dir / "images.gz"), read_bytes(dir / "labels.gz")};

  // Damage to the IDX bytes themselves (written plain, and wrapped in a valid gzip member).
  const std::uint32_t huge[] = {0xffffffffu, 0x80000000u, 0x7fffffffu, 0x10000u, 0x01000001u};
  const std::vector<std::pair<const char*, std::function<Bytes(Bytes)>>> damage = {
      {"truncated",
       [&](Bytes b) {
         b.resize(below(b.size()));
         return b;
       }},
      {"bytes flipped",
       [&](Bytes b) {
         for (std::size_t k = 1 + below(4); k-- > 0;) b[below(b.size())] ^= static_cast<std::uint8_t>(1 + below(255));
         return b;
       }},
      {"a header byte flipped",
       [&](Bytes b) {
         b[below(std::min<std::size_t>(b.size(), 16))] ^= static_cast<std::uint8_t>(1 + below(255));
         return b;
       }},
      {"a huge dimension",
       [&](Bytes b) {
         const std::size_t dims = b[3] == 3 ? 3 : 1;
         put_u32(b, 4 + 4 * below(dims), huge[below(std::size(huge))]);
         return b;
       }},
      {"every dimension huge (the product overflows size_t for images)",
       [&](Bytes b) {
         const std::size_t dims = b[3] == 3 ? 3 : 1;
         for (std::size_t d = 0; d < dims; ++d) put_u32(b, 4 + 4 * d, huge[below(std::size(huge))]);
         return b;
       }},
      {"a dimension of 0",
       [&](Bytes b) {
         put_u32(b, 4 + 4 * below(b[3] == 3 ? 3 : 1), 0);
         return b;
       }},
      {"wrong magic",
       [&](Bytes b) {
         put_u32(b, 0, static_cast<std::uint32_t>(rng()));
         return b;
       }},
      {"wrong element type",
       [&](Bytes b) {
         const std::uint8_t types[] = {0x09, 0x0b, 0x0c, 0x0d, 0x0e, 0x00, 0xff};
         b[2] = types[below(std::size(types))];
         return b;
       }},
      {"wrong dimension count",
       [&](Bytes b) {
         const std::uint8_t counts[] = {0, 2, 4, 255, 1, 3};
         b[3] = counts[below(std::size(counts))];
         return b;
       }},
      {"bytes appended",
       [&](Bytes b) {
         for (std::size_t k = 1 + below(64); k-- > 0;) b.push_back(static_cast<std::uint8_t>(rng()));
         return b;
       }},
      {"random bytes",
       [&](Bytes b) {
         b.resize(below(64));
         for (auto& v : b) v = static_cast<std::uint8_t>(rng());
         return b;
       }},
  };
  // Damage to the gzip layer (the library's deflated files).
  const std::vector<std::pair<const char*, std::function<Bytes(Bytes)>>> gzip_damage = {
      {"gzip truncated",
       [&](Bytes b) {
         b.resize(below(b.size()));
         return b;
       }},
      {"gzip bytes flipped",
       [&](Bytes b) {
         for (std::size_t k = 1 + below(3); k-- > 0;) b[below(b.size())] ^= static_cast<std::uint8_t>(1 + below(255));
         return b;
       }},
      {"gzip trailer (CRC or length) flipped",
       [&](Bytes b) {
         b[b.size() - 1 - below(8)] ^= static_cast<std::uint8_t>(1 + below(255));
         return b;
       }},
      {"gzip member repeated",
       [&](Bytes b) {
         const Bytes member = b;
         b.insert(b.end(), member.begin(), member.end());
         return b;
       }},
      {"gzip garbage appended",
       [&](Bytes b) {
         for (std::size_t k = 1 + below(16); k-- > 0;) b.push_back(static_cast<std::uint8_t>(rng()));
         return b;
       }},
  };

  constexpr int rounds = 60;
  Outcome outcome;
  std::size_t cases = 0;
  for (int round = 0; round < rounds; ++round)
    for (std::size_t f = 0; f < plain.size(); ++f) {
      for (const auto& [what, hurt] : damage) {
        const Bytes bytes = hurt(plain[f]);
        const fs::path p = dir / fmt::format("case{}", cases), g = dir / fmt::format("case{}.gz", cases);
        write_bytes(p, bytes);
        write_bytes(g, gzip_stored(bytes));
        read_both(p, outcome, fmt::format("{} (plain, case {})", what, cases));
        read_both(g, outcome, fmt::format("{} (in gzip, case {})", what, cases));
        fs::remove(p);
        fs::remove(g);
        cases += 2;
      }
      for (const auto& [what, hurt] : gzip_damage) {
        const fs::path g = dir / fmt::format("case{}.gz", cases);
        write_bytes(g, hurt(deflated[f]));
        read_both(g, outcome, fmt::format("{} (case {})", what, cases));
        fs::remove(g);
        cases += 1;
      }
    }
  MESSAGE(cases << " damaged files, each read as images and as labels: " << outcome.ok << " reads ok, "
                << outcome.errors << " xg::Errors");
  CHECK(outcome.errors > outcome.ok);  // damage must mostly be caught
  // The undamaged files still read, through both layers.
  CHECK(xd::read_idx_images(dir / "images.gz").pixels == images.pixels);
  write_bytes(dir / "stored.gz", gzip_stored(plain[1]));
  CHECK(xd::read_idx_labels(dir / "stored.gz") == labels);
}

TEST_CASE("IDX fuzz: a header claiming far more bytes than the file holds fails before allocating for them") {
  // [2^32-1, 2^32-1, 2^32-1] overflows size_t; [2^31, 2^31, 2] does not but is 2^63 bytes; a labels
  // file of 2^32-1 bytes. Each is an xg::Error naming the file, reached without touching more than a
  // few pages of memory (the minor page faults of the read are counted).
  TempDir dir;
  struct Header {
    std::vector<std::uint32_t> words;
    std::string plain, gzip;  // a part of the error for the plain file and for it in gzip
  };
  const std::vector<Header> headers = {
      {{0x803, 0xffffffffu, 0xffffffffu, 0xffffffffu},
       "dimensions [4294967295,4294967295,4294967295] are too large",
       "dimensions [4294967295,4294967295,4294967295] are too large"},
      {{0x803, 0x80000000u, 0x80000000u, 2},
       "expected 9223372036854775808 bytes of pixels, file ends after 3",
       "expected 9223372036854775808 bytes of pixels, more than a gzip file of 42 bytes can hold"},
      {{0x801, 0xffffffffu},
       "expected 4294967295 bytes of labels, file ends after 3",
       "expected 4294967295 bytes of labels, more than a gzip file of 34 bytes can hold"},
  };
  auto minor_faults = [] {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    return usage.ru_minflt;
  };
  for (const Header& h : headers) {
    Bytes b(4 * h.words.size());
    for (std::size_t i = 0; i < h.words.size(); ++i) put_u32(b, 4 * i, h.words[i]);
    b.insert(b.end(), {1, 2, 3});
    for (const bool gz : {false, true}) {
      const fs::path p = dir / (gz ? "header.gz" : "header");
      write_bytes(p, gz ? gzip_stored(b) : b);
      CAPTURE(p);
      const long before = minor_faults();
      std::string error = "(no error)";
      try {
        if (h.words[0] == 0x803)
          xd::read_idx_images(p);
        else
          xd::read_idx_labels(p);
      } catch (const xg::Error& e) {
        error = e.what();
      }
      const long faults = minor_faults() - before;
      const std::string& expected = gz ? h.gzip : h.plain;
      CHECK_MESSAGE(error.find(expected) != std::string::npos, "error: " << error << "\nexpected: " << expected);
      CHECK_MESSAGE(faults < 1024, faults << " pages touched");  // 64 MiB would be 16384
    }
  }
}
