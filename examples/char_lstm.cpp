// A character-level LSTM language model (Karpathy's char-rnn) on real text that every Debian
// system has: the license texts in /usr/share/common-licenses (package base-files: the GPL, LGPL,
// GFDL, Apache, Artistic, BSD, CC0 and MPL texts, ~250 KB of English).
//
//   Embedding(V, 32) -> LSTM(32, 256) -> Linear(256, V),  trained to predict the next character
//   with cross-entropy over windows of 64 characters (backpropagation through time over the
//   unrolled tape), Adam, gradients clipped to norm 5.
//
// The last 10% of every file is held out for validation. Prints the loss per epoch in nats per
// character on the training batches and on the held-out text, next to the unigram entropy of the
// text (the loss of a model that knows only the character frequencies), then samples text at a
// few temperatures.
//
//   char_lstm [--text FILE-OR-DIRECTORY] [--seconds S] [--steps N] [--hidden H] [--layers L]
//             [--seq T] [--batch B] [--lr LR] [--sample CHARS] [--seed K]
//
// --seconds bounds the training time (default 180), --steps the number of updates (default no
// bound); the test suite runs it with --steps 2 --hidden 16 --seq 16 --sample 40.
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <xgrad/xgrad.hpp>
#include <xgrad/xtensor.hpp>

namespace xg = xgrad;
namespace nn = xgrad::nn;

namespace {

struct Args {
  std::string text = "/usr/share/common-licenses";
  double seconds = 180;
  long steps = -1;
  std::size_t hidden = 256, layers = 1, seq = 64, batch = 32, embed = 32, sample = 400;
  double lr = 3e-3;
  std::uint64_t seed = 1;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (i + 1 >= argc) throw xg::Error("char_lstm: {} needs a value", k);
    const std::string v = argv[++i];
    if (k == "--text")
      a.text = v;
    else if (k == "--seconds")
      a.seconds = std::stod(v);
    else if (k == "--steps")
      a.steps = std::stol(v);
    else if (k == "--hidden")
      a.hidden = std::stoul(v);
    else if (k == "--layers")
      a.layers = std::stoul(v);
    else if (k == "--seq")
      a.seq = std::stoul(v);
    else if (k == "--batch")
      a.batch = std::stoul(v);
    else if (k == "--lr")
      a.lr = std::stod(v);
    else if (k == "--sample")
      a.sample = std::stoul(v);
    else if (k == "--seed")
      a.seed = std::stoull(v);
    else
      throw xg::Error("char_lstm: unknown option {}", k);
  }
  return a;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw xg::Error("char_lstm: cannot open {}", path.string());
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The texts of `path`: the file itself, or every regular file of the directory (symbolic links,
// such as GPL -> GPL-3, are skipped so no text counts twice), in name order.
std::vector<std::string> read_texts(const std::string& path) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(path)) return {read_file(path)};
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(path))
    if (e.is_regular_file() && !e.is_symlink()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::vector<std::string> texts;
  for (const auto& f : files) texts.push_back(read_file(f));
  if (texts.empty()) throw xg::Error("char_lstm: no files in {}", path);
  return texts;
}

struct Model : nn::Module {
  std::shared_ptr<nn::Embedding> embed;
  std::shared_ptr<nn::LSTM> lstm;
  std::shared_ptr<nn::Linear> head;
  std::size_t embed_dim, hidden;

  Model(std::size_t vocab, const Args& a) : embed_dim(a.embed), hidden(a.hidden) {
    embed = register_module("embed", nn::Embedding(vocab, a.embed));
    lstm = register_module("lstm", nn::LSTM(a.embed, a.hidden, {.num_layers = a.layers}));
    head = register_module("head", nn::Linear(a.hidden, vocab));
  }
  // ids: T*N character indices, time-major (position t * N + n) -> logits [T*N, V] and the final state.
  nn::RNNOutput logits(const std::vector<std::int64_t>& ids, std::size_t T, std::size_t N, const xg::Tensor& h0 = {},
                       const xg::Tensor& c0 = {}) {
    auto x = xg::reshape(embed->lookup(ids), {T, N, embed_dim});
    auto out = lstm->run(x, h0, c0);
    out.output = (*head)(xg::reshape(out.output, {T * N, hidden}));
    return out;
  }
  xg::Tensor forward(const xg::Tensor&) override { throw xg::Error("Model: use logits()"); }
};

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  xg::manual_seed(args.seed);
  // Train on the first 90% of every text, validate on the last 10%.
  std::string text, train_text, valid_text;
  for (const auto& t : read_texts(args.text)) {
    text += t;
    train_text += t.substr(0, t.size() * 9 / 10);
    valid_text += t.substr(t.size() * 9 / 10);
  }

  // The vocabulary: the distinct bytes of the text, and the unigram entropy in nats per character.
  std::array<std::size_t, 256> count{};
  for (unsigned char ch : text) ++count[ch];
  std::vector<char> chars;
  std::array<std::int64_t, 256> index{};
  double unigram = 0;
  for (int b = 0; b < 256; ++b)
    if (count[b]) {
      index[b] = static_cast<std::int64_t>(chars.size());
      chars.push_back(static_cast<char>(b));
      const double p = static_cast<double>(count[b]) / static_cast<double>(text.size());
      unigram -= p * std::log(p);
    }
  auto encode = [&](const std::string& s) {
    std::vector<std::int64_t> ids(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) ids[i] = index[static_cast<unsigned char>(s[i])];
    return ids;
  };
  const std::vector<std::int64_t> train = encode(train_text), valid = encode(valid_text);
  const std::size_t V = chars.size(), T = args.seq, N = args.batch;

  Model model(V, args);
  xg::optim::Adam adam(model.parameters(), {.lr = args.lr});
  fmt::print("text {} ({} characters, {} distinct); train {} / validation {}\n", args.text, text.size(), V,
             train.size(), valid.size());
  fmt::print("model: {} ({} parameters); windows of {} characters, batches of {}\n", model.lstm->describe(),
             model.parameter_count(), T, N);
  fmt::print("unigram entropy of the text: {:.3f} nats/char (uniform over the vocabulary: {:.3f})\n", unigram,
             std::log(static_cast<double>(V)));

  if (train.size() <= T + 1 || valid.size() <= T + 1)
    throw xg::Error("char_lstm: the text is too short for windows of {} characters", T);

  // A batch: N windows of T+1 training characters starting at random positions.
  std::mt19937_64 rng(args.seed);
  auto batch = [&](std::vector<std::int64_t>& in, std::vector<std::int64_t>& target) {
    in.assign(T * N, 0);
    target.assign(T * N, 0);
    std::uniform_int_distribution<std::size_t> start(0, train.size() - T - 1);
    for (std::size_t j = 0; j < N; ++j) {
      const std::size_t s = start(rng);
      for (std::size_t t = 0; t < T; ++t) {
        in[t * N + j] = train[s + t];
        target[t * N + j] = train[s + t + 1];
      }
    }
  };
  // The validation loss over consecutive windows of the held-out text, each read from a zero state.
  auto validation_loss = [&] {
    xg::NoGradGuard no_grad;
    const std::size_t windows = (valid.size() - 1) / T;
    std::vector<std::int64_t> in(T * windows), target(T * windows);
    for (std::size_t j = 0; j < windows; ++j)
      for (std::size_t t = 0; t < T; ++t) {
        in[t * windows + j] = valid[j * T + t];
        target[t * windows + j] = valid[j * T + t + 1];
      }
    return xg::cross_entropy(model.logits(in, T, windows).output, target).item();
  };

  const std::size_t steps_per_epoch = std::max<std::size_t>(1, train.size() / (T * N));  // ~ the text once
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  std::vector<std::int64_t> in, target;
  long step = 0;
  bool done = false;
  for (int epoch = 1; !done; ++epoch) {
    double sum = 0, norm = 0;
    std::size_t n = 0;
    for (std::size_t i = 0; i < steps_per_epoch; ++i) {
      batch(in, target);
      auto loss = xg::cross_entropy(model.logits(in, T, N).output, target);
      adam.zero_grad();
      loss.backward();
      norm += xg::optim::clip_grad_norm_(model.parameters(), 5.0);
      adam.step();
      sum += loss.item();
      ++n;
      ++step;
      if ((args.steps >= 0 && step >= args.steps) || elapsed() > args.seconds) {
        done = true;
        break;
      }
    }
    fmt::print("epoch {:3d}  step {:5d}  {:6.1f} s   train {:.3f}  validation {:.3f} nats/char   (unigram {:.3f})  "
               "grad norm {:.2f}\n",
               epoch, step, elapsed(), sum / double(n), validation_loss(), unigram, norm / double(n));
    std::fflush(stdout);
  }

  // Sampling: feed the prompt, then draw each next character from softmax(logits / temperature).
  xg::NoGradGuard no_grad;
  const std::string prompt = "This License ";
  for (double temperature : {0.5, 0.8, 1.0}) {
    xg::Tensor h, c;
    std::vector<std::int64_t> ids;
    for (char ch : prompt) ids.push_back(index[static_cast<unsigned char>(ch)]);
    std::string out = prompt;
    nn::RNNOutput o = model.logits(ids, ids.size(), 1);  // the prompt in one go, N = 1
    for (std::size_t i = 0; i < args.sample; ++i) {
      const auto last = xg::narrow(o.output, 0, o.output.shape()[0] - 1, 1);
      const auto p = xg::softmax(last / temperature, 1).value<float>();
      std::discrete_distribution<std::size_t> pick(p.begin(), p.end());
      const std::size_t next = pick(xg::generator());
      out += chars[next];
      o = model.logits({static_cast<std::int64_t>(next)}, 1, 1, o.h_n, o.c_n);
    }
    fmt::print("\n--- sample at temperature {} ---\n{}\n", temperature, out);
  }
  return 0;
}
