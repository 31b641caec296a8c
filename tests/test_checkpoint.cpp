// Checkpoints: safetensors layout, bit-exact round trips, files as Python writes them, every
// bad-file case (each leaves the module unchanged), atomic writes, and optimizer state.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <xgrad/autograd/tensor_impl.hpp>
#include <xgrad/nn/checkpoint.hpp>
#include <xgrad/nn/checkpoint_optim.hpp>
#include <xgrad/xgrad.hpp>
#include <xgrad/xtensor.hpp>

namespace xg = xgrad;
namespace fs = std::filesystem;
using doctest::Contains;

namespace {

// A unique scratch directory under the system temp directory, removed at the end of the test.
struct TempDir {
  fs::path dir;
  TempDir() {
    static std::atomic<unsigned> counter{0};
    std::random_device rd;
    dir = fs::temp_directory_path() /
          ("xgrad-ckpt-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" + std::to_string(rd()));
    fs::create_directories(dir);
  }
  ~TempDir() {
    std::error_code ec;
    fs::permissions(dir, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(dir, ec);
  }
  std::string operator/(const std::string& name) const { return (dir / name).string(); }
  std::vector<std::string> listing() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }
};

struct Inner : xg::nn::Module {
  xg::Tensor scale;
  explicit Inner(xg::DType d) { scale = register_parameter("scale", xg::randn({2}, d)); }
  xg::Tensor forward(const xg::Tensor& x) override { return x * scale; }
};

// Parameters "weight", "bias", "inner.scale"; buffer "running_mean".
struct Net : xg::nn::Module {
  xg::Tensor weight, bias, running_mean;
  std::shared_ptr<Inner> inner;
  explicit Net(xg::DType d = xg::f32, std::size_t in = 3) {
    weight = register_parameter("weight", xg::randn({in, 4}, d));
    bias = register_parameter("bias", xg::randn({4}, d));
    running_mean = register_buffer("running_mean", xg::randn({4}, d));
    inner = register_module("inner", std::make_shared<Inner>(d));
  }
  xg::Tensor forward(const xg::Tensor& x) override { return x; }
};

// An f32 parameter of 3 elements registered before an f64 one: the file puts F64 first.
struct Mixed : xg::nn::Module {
  xg::Tensor a, b;
  Mixed() {
    a = register_parameter("a", xg::randn({3}, xg::f32));
    b = register_parameter("b", xg::randn({2}, xg::f64));
  }
  xg::Tensor forward(const xg::Tensor& x) override { return x; }
};

std::string raw_bytes(const xg::Tensor& t) {
  return std::
      visit([](const auto&
                   a) { return std::string(reinterpret_cast<const char*>(a.data()), a.size() * sizeof(a.data()[0])); },
            t.impl()->value);
}

// Everything load may change, bit for bit: name, dtype, shape and raw bytes of each tensor.
std::vector<std::string> snapshot(const xg::nn::Module& m) {
  std::vector<std::string> out;
  auto add = [&](const xg::nn::NamedTensors& list) {
    for (const auto& [name, t] : list)
      out.push_back(name + "|" + std::string(xg::dtype_name(t.dtype())) + "|" + xg::shape_str(t.shape()) + "|" +
                    raw_bytes(t));
  };
  add(m.named_parameters());
  add(m.named_buffers());
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string u64_le(std::uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return s;
}
// A safetensors file as the reference implementation writes it: header padded with spaces to a
// multiple of 8, then the data.
std::string safetensors_bytes(std::string header, const std::string& data) {
  header.append((8 - header.size() % 8) % 8, ' ');
  return u64_le(header.size()) + header + data;
}
template <class T>
std::string le_bytes(std::initializer_list<T> values) {
  std::string s;
  for (T v : values) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    s.append(b, sizeof(T));
  }
  return s;
}

// A Net-compatible header (f32, in=3) in the order Python's save_file uses (by name), data of 0, 1, 2...
std::string net_header() {
  return R"({"__metadata__":{"format":"pt"},)"
         R"("bias":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
         R"("inner.scale":{"dtype":"F32","shape":[2],"data_offsets":[16,24]},)"
         R"("running_mean":{"dtype":"F32","shape":[4],"data_offsets":[24,40]},)"
         R"("weight":{"dtype":"F32","shape":[3,4],"data_offsets":[40,88]}})";
}
std::string net_data() {
  std::string s;
  for (int i = 0; i < 22; ++i) s += le_bytes<float>({static_cast<float>(i)});
  return s;
}

// Loading `path` into a fresh Net fails with `message` (after "load: <path>: ") and changes nothing.
void check_load_fails(const std::string& path, const std::string& message, xg::LoadOptions options = {}) {
  Net net;
  const auto before = snapshot(net);
  CHECK_THROWS_WITH_AS(xg::load(net, path, options), Contains(message.c_str()), xg::Error);
  CHECK(snapshot(net) == before);
  // And the message starts by naming the operation and the file.
  std::string what;
  try {
    xg::load(net, path, options);
  } catch (const xg::Error& e) {
    what = e.what();
  }
  CHECK(what.rfind("load: " + path + ": ", 0) == 0);
}

// A stand-in for the optimizers (written elsewhere): per-parameter momentum and a step count.
struct FakeOptimizer {
  std::vector<xg::Tensor> params, momentum;
  double step = 0;
  explicit FakeOptimizer(std::vector<xg::Tensor> p) : params(std::move(p)) {
    for (const auto& q : params) momentum.push_back(xg::zeros_like(q));
  }
  void fake_step() {
    step += 1;
    for (auto& m : momentum) m = m + xg::ones_like(m) * step;
  }
  xg::nn::NamedTensors state_dict() const {
    xg::nn::NamedTensors out{{"step", xg::scalar(step, xg::f64)}};
    for (std::size_t i = 0; i < momentum.size(); ++i)
      out.emplace_back("state." + std::to_string(i) + ".momentum", momentum[i]);
    return out;
  }
  void load_state_dict(const xg::nn::NamedTensors& state) {  // validates everything, then changes
    auto find = [&](const std::string& name) -> const xg::Tensor& {
      for (const auto& [n, t] : state)
        if (n == name) return t;
      throw xg::Error("FakeOptimizer: state '{}' is missing", name);
    };
    if (state.size() != momentum.size() + 1) throw xg::Error("FakeOptimizer: expected {} tensors", momentum.size() + 1);
    const double new_step = find("step").item();
    std::vector<xg::Tensor> new_momentum;
    for (std::size_t i = 0; i < momentum.size(); ++i) {
      const auto& t = find("state." + std::to_string(i) + ".momentum");
      if (t.shape() != params[i].shape()) throw xg::Error("FakeOptimizer: state {} has the wrong shape", i);
      new_momentum.push_back(t.detach());
    }
    step = new_step;
    momentum = std::move(new_momentum);
  }
};

std::vector<std::string> snapshot(const FakeOptimizer& opt) {
  std::vector<std::string> out{std::to_string(opt.step)};
  for (const auto& m : opt.momentum) out.push_back(raw_bytes(m));
  return out;
}

}  // namespace

// --- round trips and layout -------------------------------------------------------------------------

TEST_CASE("checkpoint: round trip is bit-exact in f32 and f64") {
  TempDir tmp;
  for (xg::DType d : {xg::f32, xg::f64}) {
    CAPTURE(xg::dtype_name(d));
    Net a(d);
    // Values that a decimal round trip would lose: NaN payloads, -0, infinities, subnormals.
    std::visit(
        [](auto& w) {
          using T = typename std::decay_t<decltype(w)>::value_type;
          w.data()[0] = std::numeric_limits<T>::quiet_NaN();
          w.data()[1] = -0.0;
          w.data()[2] = std::numeric_limits<T>::infinity();
          w.data()[3] = std::numeric_limits<T>::denorm_min();
          w.data()[4] = std::nextafter(T(1), T(2));
        },
        a.weight.impl()->value);
    const std::string path = tmp / "net.safetensors";
    xg::save(a, path);
    Net b(d);
    const xg::Tensor handle = b.weight;
    REQUIRE(snapshot(b) != snapshot(a));
    xg::load(b, path);
    CHECK(snapshot(b) == snapshot(a));
    CHECK(handle.impl() == b.weight.impl());  // loaded in place: handles held elsewhere stay valid
    CHECK(raw_bytes(handle) == raw_bytes(a.weight));
    CHECK(tmp.listing() == std::vector<std::string>{"net.safetensors"});
  }
}

TEST_CASE("checkpoint: the file has the safetensors layout") {
  TempDir tmp;
  Net net;
  const std::string path = tmp / "net.safetensors";
  xg::save(net, path, {{"epoch", "7"}});
  const std::string bytes = read_file(path);
  REQUIRE(bytes.size() >= 8);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  CHECK(n % 8 == 0);
  REQUIRE(8 + n <= bytes.size());
  const std::string header_text = bytes.substr(8, n);
  CHECK(header_text.front() == '{');
  CHECK(header_text.find_last_not_of(' ') + 1 >= header_text.size() - 7);  // only space padding
  const auto header = nlohmann::ordered_json::parse(header_text);
  CHECK(header["__metadata__"] == nlohmann::json({{"epoch", "7"}, {"format", "pt"}}));

  // Parameters then buffers, under their dotted names, back to back in that order.
  const std::vector<std::string> order{"weight", "bias", "inner.scale", "running_mean"};
  const auto named = [&] {
    auto all = net.named_parameters();
    for (auto& b : net.named_buffers()) all.push_back(b);
    return all;
  }();
  REQUIRE(named.size() == order.size());
  std::vector<std::string> keys;
  for (const auto& [k, v] : header.items()) keys.push_back(k);
  CHECK(keys == std::vector<std::string>{"__metadata__", "weight", "bias", "inner.scale", "running_mean"});
  std::uint64_t offset = 0;
  for (std::size_t i = 0; i < order.size(); ++i) {
    CAPTURE(order[i]);
    CHECK(named[i].first == order[i]);
    const auto& entry = header[order[i]];
    CHECK(entry["dtype"] == "F32");
    CHECK(entry["shape"].get<std::vector<std::size_t>>() == named[i].second.shape());
    const auto offsets = entry["data_offsets"].get<std::vector<std::uint64_t>>();
    REQUIRE(offsets.size() == 2);
    CHECK(offsets[0] == offset);
    CHECK(offsets[1] == offset + 4 * named[i].second.numel());
    CHECK(bytes.substr(8 + n + offsets[0], offsets[1] - offsets[0]) == raw_bytes(named[i].second));
    offset = offsets[1];
  }
  CHECK(bytes.size() == 8 + n + offset);
}

TEST_CASE("checkpoint: bytes equal the reference writer's for one tensor") {
  // What safetensors' save_file({"attn0": arange(6.).reshape(1, 1, 2, 3)}, path, {"format": "pt"})
  // writes: compact JSON with __metadata__ first, space padding to 8, little-endian data.
  TempDir tmp;
  xg::Tensor t = xg::arange(6).reshape({1, 1, 2, 3});
  xg::save_tensors({{"attn0", t}}, tmp / "a.safetensors");
  const std::string expected = safetensors_bytes(
      R"({"__metadata__":{"format":"pt"},"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}})",
      le_bytes<float>({0, 1, 2, 3, 4, 5}));
  CHECK(read_file(tmp / "a.safetensors") == expected);
}

TEST_CASE("checkpoint: mixed dtypes put F64 first so every tensor is aligned") {
  TempDir tmp;
  Mixed a;
  const std::string path = tmp / "mixed.safetensors";
  xg::save(a, path);
  const std::string bytes = read_file(path);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  const auto header = nlohmann::json::parse(bytes.substr(8, n));
  CHECK(header["b"]["dtype"] == "F64");
  CHECK(header["b"]["data_offsets"] == nlohmann::json({0, 16}));
  CHECK(header["a"]["dtype"] == "F32");
  CHECK(header["a"]["data_offsets"] == nlohmann::json({16, 28}));
  Mixed b;
  xg::load(b, path);
  CHECK(snapshot(b) == snapshot(a));
}

TEST_CASE("checkpoint: save_tensors and load_tensors keep scalars and empty tensors and metadata") {
  TempDir tmp;
  const std::string path = tmp / "t.safetensors";
  xg::nn::NamedTensors in{{"s", xg::scalar(2.5, xg::f64)}, {"empty", xg::zeros({0, 3})}, {"v", xg::tensor({1, 2, 3})}};
  xg::save_tensors(in, path, {{"note", "hello"}});
  const auto out = xg::load_tensors(path);
  REQUIRE(out.size() == 3);
  CHECK(out[0].first == "s");  // data order: F64 first, then F32 in the given order
  CHECK(out[0].second.shape() == xg::Shape{});
  CHECK(out[0].second.item() == 2.5);
  CHECK(out[1].first == "empty");
  CHECK(out[1].second.shape() == xg::Shape{0, 3});
  CHECK(out[2].first == "v");
  CHECK(raw_bytes(out[2].second) == raw_bytes(in[2].second));
  CHECK(xg::load_metadata(path) == xg::Metadata{{"format", "pt"}, {"note", "hello"}});
}

TEST_CASE("checkpoint: save_tensors rejects duplicate and reserved and undefined names") {
  TempDir tmp;
  const std::string path = tmp / "t.safetensors";
  CHECK_THROWS_WITH_AS(xg::save_tensors({{"a", xg::zeros({1})}, {"a", xg::zeros({1})}}, path),
                       Contains("the name 'a' is given twice"), xg::Error);
  CHECK_THROWS_WITH_AS(xg::save_tensors({{"__metadata__", xg::zeros({1})}}, path),
                       Contains("'__metadata__' cannot name"), xg::Error);
  CHECK_THROWS_WITH_AS(xg::save_tensors({{"u", xg::Tensor()}}, path), Contains("tensor 'u' is undefined"), xg::Error);
  CHECK(tmp.listing().empty());
}

// --- files written elsewhere ----------------------------------------------------------------------

TEST_CASE("checkpoint: a file as Python's safetensors writes it loads") {
  TempDir tmp;
  const std::string path = tmp / "py.safetensors";
  write_file(path, safetensors_bytes(net_header(), net_data()));
  Net net;
  xg::load(net, path);
  CHECK(net.bias.value<float>() == xt::xarray<float>{0, 1, 2, 3});
  CHECK(net.inner->scale.value<float>() == xt::xarray<float>{4, 5});
  CHECK(net.running_mean.value<float>() == xt::xarray<float>{6, 7, 8, 9});
  CHECK(net.weight.value<float>() == xt::xarray<float>{{10, 11, 12, 13}, {14, 15, 16, 17}, {18, 19, 20, 21}});

  // No __metadata__ at all, and no padding, is fine too.
  std::string bare = net_header();
  bare.erase(1, std::string(R"("__metadata__":{"format":"pt"},)").size());
  write_file(path, u64_le(bare.size()) + bare + net_data());
  Net other;
  xg::load(other, path);
  CHECK(snapshot(other) == snapshot(net));
  CHECK(xg::load_metadata(path).empty());
}

TEST_CASE("checkpoint: F16 BF16 integer and bool tensors are read") {
  TempDir tmp;
  const std::string path = tmp / "types.safetensors";
  std::string data;
  data += le_bytes<std::int64_t>({-5, std::int64_t(1) << 53});                // I64 [0, 16)
  data += le_bytes<std::int32_t>({-7, 123456});                               // I32 [16, 24)
  data += le_bytes<std::uint16_t>({0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00});  // F16 [24, 34)
  data += le_bytes<std::uint16_t>({0x3f80, 0xc060});                          // BF16 [34, 38)
  data += le_bytes<std::uint8_t>({0, 255});                                   // U8 [38, 40)
  data += le_bytes<std::uint8_t>({0, 1});                                     // BOOL [40, 42)
  const std::string header = R"({"i64":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},)"
                             R"("i32":{"dtype":"I32","shape":[2],"data_offsets":[16,24]},)"
                             R"("f16":{"dtype":"F16","shape":[5],"data_offsets":[24,34]},)"
                             R"("bf16":{"dtype":"BF16","shape":[2],"data_offsets":[34,38]},)"
                             R"("u8":{"dtype":"U8","shape":[2],"data_offsets":[38,40]},)"
                             R"("flag":{"dtype":"BOOL","shape":[2],"data_offsets":[40,42]}})";
  write_file(path, safetensors_bytes(header, data));
  const auto t = xg::load_tensors(path);
  REQUIRE(t.size() == 6);
  CHECK(t[0].first == "i64");
  CHECK(t[0].second.value<double>() == xt::xarray<double>{-5, 9007199254740992.0});
  CHECK(t[1].second.value<double>() == xt::xarray<double>{-7, 123456});
  CHECK(t[2].first == "f16");
  CHECK(t[2].second.value<float>() == xt::xarray<float>{1, -2, 65504, std::ldexp(1.0f, -24), INFINITY});
  CHECK(t[3].second.value<float>() == xt::xarray<float>{1, -3.5});
  CHECK(t[4].second.value<double>() == xt::xarray<double>{0, 255});
  CHECK(t[5].second.value<double>() == xt::xarray<double>{0, 1});

  // An I64 beyond 2^53 would be rounded: an error rather than a silent change.
  write_file(path, safetensors_bytes(R"({"big":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})",
                                     le_bytes<std::int64_t>({(std::int64_t(1) << 53) + 1})));
  CHECK_THROWS_WITH_AS(xg::load_tensors(path), Contains("which a double cannot hold exactly"), xg::Error);
}

TEST_CASE("checkpoint: an unsupported dtype is an error only for a tensor that is read") {
  TempDir tmp;
  const std::string path = tmp / "f8.safetensors";
  std::string header = net_header();
  header.insert(header.size() - 1, R"(,"fp8":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[88,90]})");
  write_file(path, safetensors_bytes(header, net_data() + std::string(2, '\x38')));
  CHECK_THROWS_WITH_AS(xg::load_tensors(path), Contains("tensor 'fp8' has dtype F8_E4M3, which xgrad cannot read"),
                       xg::Error);
  check_load_fails(path, "the file has 1 tensor the module does not have: 'fp8'");
  Net net;
  xg::load(net, path, {.strict = false});
  CHECK(net.bias.value<float>() == xt::xarray<float>{0, 1, 2, 3});
}

// --- dtype policy ----------------------------------------------------------------------------------

TEST_CASE("checkpoint: a dtype mismatch is an error unless convert_dtype is set") {
  TempDir tmp;
  const std::string path = tmp / "f64.safetensors";
  Net wide(xg::f64);
  xg::save(wide, path);
  check_load_fails(path, "tensor 'weight' is F64 in the file but f32 in the module (LoadOptions{.convert_dtype = true} "
                         "converts it)");

  Net narrow(xg::f32);
  xg::load(narrow, path, {.convert_dtype = true});
  CHECK(narrow.weight.dtype() == xg::f32);  // the module keeps its dtype
  CHECK(narrow.weight.value<float>() == xt::xarray<float>(xt::cast<float>(wide.weight.value<double>())));
  CHECK(narrow.running_mean.value<float>() == xt::xarray<float>(xt::cast<float>(wide.running_mean.value<double>())));

  // And the other way: F32 into an f64 module is exact.
  xg::save(narrow, path);
  Net back(xg::f64);
  xg::load(back, path, {.convert_dtype = true});
  CHECK(back.weight.dtype() == xg::f64);
  CHECK(back.weight.value<double>() == xt::xarray<double>(xt::cast<double>(narrow.weight.value<float>())));
}

// --- bad files ------------------------------------------------------------------------------------

TEST_CASE("checkpoint: a missing or too short file or a bad header length is an error") {
  TempDir tmp;
  const std::string path = tmp / "bad.safetensors";
  check_load_fails(path, "cannot open the file");
  write_file(path, "");
  check_load_fails(path, "the file is 0 bytes long");
  write_file(path, "12345");
  check_load_fails(path, "the file is 5 bytes long; a safetensors file starts with an 8-byte header length");
  write_file(path, u64_le(1000) + "{}");
  check_load_fails(path, "the header length is 1000 bytes but only 2 bytes follow it");
  write_file(path, u64_le(~std::uint64_t(0)) + "{}");
  check_load_fails(path, "the header length is 18446744073709551615 bytes but only 2 bytes follow it");
  check_load_fails(tmp.dir.string(), "not a regular file");
}

TEST_CASE("checkpoint: invalid JSON or a header that is not an object is an error") {
  TempDir tmp;
  const std::string path = tmp / "bad.safetensors";
  write_file(path, safetensors_bytes(R"({"weight": {"dtype": "F32", )", ""));
  check_load_fails(path, "the header is not valid JSON");
  write_file(path, safetensors_bytes("[1, 2]", ""));
  check_load_fails(path, "the header is not a JSON object");
  write_file(path, safetensors_bytes(R"({"__metadata__": {"epoch": 3}})", ""));
  check_load_fails(path, "\"__metadata__\" entry 'epoch' is not a string");
  write_file(path, safetensors_bytes(R"({"__metadata__": [1]})", ""));
  check_load_fails(path, "\"__metadata__\" is not an object");
  write_file(path, safetensors_bytes(R"({"w": 3})", ""));
  check_load_fails(path, "tensor 'w': its header entry is not an object");
}

TEST_CASE("checkpoint: a tensor entry with a missing or malformed field is an error") {
  TempDir tmp;
  const std::string path = tmp / "bad.safetensors";
  const std::string data = le_bytes<float>({1, 2});
  auto check = [&](const std::string& entry, const std::string& message) {
    CAPTURE(entry);
    write_file(path, safetensors_bytes(R"({"w":)" + entry + "}", data));
    check_load_fails(path, message);
  };
  check(R"({"shape":[2],"data_offsets":[0,8]})", "tensor 'w' has no \"dtype\" in the header");
  check(R"({"dtype":"F32","data_offsets":[0,8]})", "tensor 'w' has no \"shape\" in the header");
  check(R"({"dtype":"F32","shape":[2]})", "tensor 'w' has no \"data_offsets\" in the header");
  check(R"({"dtype":"F33","shape":[2],"data_offsets":[0,8]})", "tensor 'w' has the unknown dtype 'F33'");
  check(R"({"dtype":7,"shape":[2],"data_offsets":[0,8]})", "tensor 'w': \"dtype\" is not a string");
  check(R"({"dtype":"F32","shape":[-2],"data_offsets":[0,8]})", "is not a list of non-negative integers");
  check(R"({"dtype":"F32","shape":[2.0],"data_offsets":[0,8]})", "is not a list of non-negative integers");
  check(R"({"dtype":"F32","shape":2,"data_offsets":[0,8]})", "tensor 'w': \"shape\" is not an array");
  check(R"({"dtype":"F32","shape":[2],"data_offsets":[0]})", "\"data_offsets\" [0] is not [begin, end]");
  check(R"({"dtype":"F32","shape":[2],"data_offsets":[8,0]})", "data_offsets [8, 0] end before they begin");
  check(R"({"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]})", "is too large");
}

TEST_CASE("checkpoint: data_offsets that disagree with the shape or overlap or leave gaps are errors") {
  TempDir tmp;
  const std::string path = tmp / "bad.safetensors";
  const std::string data = le_bytes<float>({1, 2, 3, 4});
  auto check = [&](const std::string& header, const std::string& body, const std::string& message) {
    CAPTURE(header);
    write_file(path, safetensors_bytes(header, body));
    check_load_fails(path, message);
  };
  check(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", data,
        "tensor 'a' is F32 of shape [3] (12 bytes) but its data_offsets [0, 16] span 16 bytes");
  check(
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
      data, "tensors 'a' [0, 8] and 'b' [4, 12] overlap in the data");
  check(
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}})",
      data, "4 bytes of the data before tensor 'b' belong to no tensor");
  check(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", data,
        "the file has 8 bytes after the last tensor's data");
  check(R"({"a":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}})", data,
        "tensor 'a' needs bytes [0, 32) of the data but the file holds only 16 bytes of data (truncated?)");
  check(
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
      data, "the header names 'a' twice");
}

TEST_CASE("checkpoint: a truncated file is an error") {
  TempDir tmp;
  const std::string path = tmp / "net.safetensors";
  Net a;
  xg::save(a, path);
  const std::string bytes = read_file(path);
  write_file(path, bytes.substr(0, bytes.size() - 3));
  check_load_fails(path, "tensor 'running_mean' needs bytes [72, 88) of the data but the file holds only 85 bytes of "
                         "data (truncated?)");
  write_file(path, bytes.substr(0, 20));
  check_load_fails(path, "bytes but only 12 bytes follow it (the file is truncated or not safetensors)");

  // Every shorter prefix of a good file, and the file with one more byte, are errors.
  Net net;
  const auto before = snapshot(net);
  for (std::size_t n = 0; n <= bytes.size() + 1; ++n) {
    if (n == bytes.size()) continue;
    CAPTURE(n);
    const std::string cut = tmp / ("cut" + std::to_string(n));  // new files: cheaper than truncating
    write_file(cut, n <= bytes.size() ? bytes.substr(0, n) : bytes + "x");
    CHECK_THROWS_AS(xg::load(net, cut), xg::Error);
  }
  CHECK(snapshot(net) == before);
}

TEST_CASE("checkpoint: corrupting any header byte gives an error or a valid load and never a crash") {
  TempDir tmp;
  const std::string path = tmp / "net.safetensors";
  Net a;
  xg::save(a, path);
  const std::string bytes = read_file(path);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  std::size_t errors = 0;
  auto patch = [&](std::size_t i, char c) {  // in place: the file keeps its size
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(i));
    f.put(c);
  };
  Net net;
  for (std::size_t i = 0; i < 8 + n; ++i) {
    for (char c : {'\0', '"', '9', '{', ']', '\xff'}) {
      if (bytes[i] == c) continue;
      patch(i, c);
      const auto before = snapshot(net);
      try {
        xg::load(net, path);
      } catch (const xg::Error&) {
        ++errors;
        CHECK(snapshot(net) == before);
      }
      patch(i, bytes[i]);
    }
  }
  CHECK(errors > 0);
}

TEST_CASE("checkpoint: a missing tensor or a shape mismatch or an extra tensor is an error") {
  TempDir tmp;
  const std::string path = tmp / "net.safetensors";

  // Missing: a file from a module without the buffer.
  std::string header = net_header();
  header.erase(header.find(R"("running_mean")"),
               std::string(R"("running_mean":{"dtype":"F32","shape":[4],"data_offsets":[24,40]},)").size());
  std::string data = net_data();
  data.erase(24, 16);
  header.replace(header.find("[40,88]"), 7, "[24,72]");
  write_file(path, safetensors_bytes(header, data));
  check_load_fails(path, "tensor 'running_mean' is missing from the file (the module expects it)");

  // Several missing: a file with one tensor only.
  write_file(path, safetensors_bytes(R"({"bias":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})",
                                     net_data().substr(0, 16)));
  check_load_fails(path, "3 tensors are missing from the file (the module expects them): 'weight', 'inner.scale', "
                         "'running_mean'");

  // Shape: a Net with 5 inputs saved, loaded into a Net with 3.
  Net five(xg::f32, 5);
  xg::save(five, path);
  check_load_fails(path, "tensor 'weight' has shape [5,4] in the file but [3,4] in the module");

  // Extra: strict by default, allowed with strict = false.
  header = net_header();
  header.insert(header.size() - 1, R"(,"extra":{"dtype":"F32","shape":[1],"data_offsets":[88,92]})");
  write_file(path, safetensors_bytes(header, net_data() + le_bytes<float>({42})));
  check_load_fails(path, "the file has 1 tensor the module does not have: 'extra' (LoadOptions{.strict = false} "
                         "ignores them)");
  Net lenient;
  xg::load(lenient, path, {.strict = false});
  CHECK(lenient.bias.value<float>() == xt::xarray<float>{0, 1, 2, 3});
}

// --- atomic writes ---------------------------------------------------------------------------------

TEST_CASE("checkpoint: save into a missing directory fails and creates nothing") {
  TempDir tmp;
  Net net;
  const std::string path = tmp / "no/such/dir/net.safetensors";
  const std::string expected = "save: " + path + ": cannot create the temporary file";
  CHECK_THROWS_WITH_AS(xg::save(net, path), Contains(expected.c_str()), xg::Error);
  CHECK(tmp.listing().empty());
}

TEST_CASE("checkpoint: a failed rename removes the temporary file") {
  TempDir tmp;
  Net net;
  const std::string path = tmp / "target";
  fs::create_directories(path + "/keep");  // renaming a file over a non-empty directory fails
  const std::string expected = "save: " + path + ": renaming the temporary file";
  CHECK_THROWS_WITH_AS(xg::save(net, path), Contains(expected.c_str()), xg::Error);
  CHECK(tmp.listing() == std::vector<std::string>{"target"});
  CHECK(fs::is_directory(path + "/keep"));
}

TEST_CASE("checkpoint: a write that fails midway leaves the existing file intact and no temporary") {
  TempDir tmp;
  const std::string path = tmp / "net.safetensors";
  Net small;
  xg::save(small, path);
  const std::string before = read_file(path);

  // A file size limit below the new file's size makes write() fail with EFBIG partway through.
  struct Big : xg::nn::Module {
    Big() { register_parameter("w", xg::randn({64, 1024})); }
    xg::Tensor forward(const xg::Tensor& x) override { return x; }
  } big;
  rlimit old{};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &old) == 0);
  auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  rlimit limited = old;
  limited.rlim_cur = 64 * 1024;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &limited) == 0);
  std::string message;
  try {
    xg::save(big, path);
  } catch (const xg::Error& e) {
    message = e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &old);
  ::signal(SIGXFSZ, old_handler);
  CHECK(message.find("save: " + path + ": writing the temporary file") == 0);
  CHECK(read_file(path) == before);
  CHECK(tmp.listing() == std::vector<std::string>{"net.safetensors"});
  Net reloaded;
  xg::load(reloaded, path);
  CHECK(snapshot(reloaded) == snapshot(small));
}

TEST_CASE("checkpoint: save into a read-only directory fails and keeps the old file") {
  if (::geteuid() == 0) {
    MESSAGE("skipped: root ignores directory permissions");
    return;
  }
  TempDir tmp;
  const std::string path = tmp / "net.safetensors";
  Net a;
  xg::save(a, path);
  const std::string before = read_file(path);
  fs::permissions(tmp.dir, fs::perms::owner_read | fs::perms::owner_exec);
  Net b;
  CHECK_THROWS_WITH_AS(xg::save(b, path), Contains("cannot create the temporary file"), xg::Error);
  fs::permissions(tmp.dir, fs::perms::owner_all);
  CHECK(read_file(path) == before);
  CHECK(tmp.listing() == std::vector<std::string>{"net.safetensors"});
}

// --- optimizer state --------------------------------------------------------------------------------

TEST_CASE("checkpoint: module and optimizer state round trip in one file") {
  TempDir tmp;
  const std::string path = tmp / "ckpt.safetensors";
  Net net;
  FakeOptimizer opt(net.parameters());
  opt.fake_step();
  opt.fake_step();
  xg::save(net, opt, path, {{"epoch", "2"}});

  const auto tensors = xg::load_tensors(path);
  std::vector<std::string> names;
  for (const auto& [n, t] : tensors) names.push_back(n);
  CHECK(std::find(names.begin(), names.end(), "optimizer.step") != names.end());
  CHECK(std::find(names.begin(), names.end(), "optimizer.state.2.momentum") != names.end());
  CHECK(xg::load_metadata(path).at("epoch") == "2");

  Net net2;
  FakeOptimizer opt2(net2.parameters());
  xg::load(net2, opt2, path);
  CHECK(snapshot(net2) == snapshot(net));
  CHECK(snapshot(opt2) == snapshot(opt));
  CHECK(opt2.step == 2);

  // A plain load of the same file takes the module's part and ignores the optimizer's.
  Net net3;
  xg::load(net3, path);
  CHECK(snapshot(net3) == snapshot(net));
}

TEST_CASE("checkpoint: a bad optimizer part or module part changes neither") {
  TempDir tmp;
  const std::string path = tmp / "ckpt.safetensors";

  // The optimizer rejects its state (saved from a module of another shape, loaded with strict off
  // for the module so only the optimizer's check fails)...
  {
    Net other(xg::f32, 5);
    FakeOptimizer other_opt(other.parameters());
    other_opt.fake_step();
    xg::save(other, other_opt, path);
    Net net;
    FakeOptimizer opt(net.parameters());
    const auto net_before = snapshot(net);
    const auto opt_before = snapshot(opt);
    CHECK_THROWS_WITH_AS(xg::load(net, opt, path), Contains("has shape [5,4] in the file but [3,4]"), xg::Error);
    CHECK(snapshot(net) == net_before);
    CHECK(snapshot(opt) == opt_before);
  }
  // ...or the module's part is valid but the optimizer's is not: the module stays unchanged.
  {
    Net saved;
    FakeOptimizer short_opt({saved.weight});  // state for one parameter only
    short_opt.fake_step();
    xg::save(saved, short_opt, path);
    Net net;
    FakeOptimizer opt(net.parameters());
    const auto net_before = snapshot(net);
    const auto opt_before = snapshot(opt);
    CHECK_THROWS_WITH_AS(xg::load(net, opt, path), Contains("FakeOptimizer: expected 4 tensors"), xg::Error);
    CHECK(snapshot(net) == net_before);
    CHECK(snapshot(opt) == opt_before);
  }
  // A file without optimizer state.
  {
    Net saved;
    xg::save(saved, path);
    Net net;
    FakeOptimizer opt(net.parameters());
    const std::string expected = "load: " + path + ": the file holds no optimizer state";
    CHECK_THROWS_WITH_AS(xg::load(net, opt, path), Contains(expected.c_str()), xg::Error);
  }
}

TEST_CASE("checkpoint: the optimizer metadata key is reserved") {
  TempDir tmp;
  Net net;
  CHECK_THROWS_WITH_AS(xg::save(net, tmp / "x.safetensors", {{xg::optimizer_metadata_key, "1"}}),
                       Contains("is reserved"), xg::Error);
  CHECK(tmp.listing().empty());
}
