// Sequence classification with a bidirectional GRU: is a string over ( ) [ ] balanced, that is,
// does every closing bracket match the most recent unmatched opening bracket of its type (the
// Dyck language with two bracket types)?
//
// Every string has as many openers as closers, so counting is not enough. Negatives are a third
// each: random unbalanced nestings; balanced ones with one opener and a later closer swapped so
// they close too early once; and correctly nested ones whose types cross, as in "([)]". Lengths
// vary from 2 to 20 between batches (all strings of a batch have one length).
//
//   one-hot [T, N, 4] -> GRU(4, 32, bidirectional) -> [h_n forward, h_n backward] -> Linear(64, 2)
//
// The final hidden states of both directions summarize the sequence for the classifier. Prints
// the accuracy on fixed test sets per length bucket during training, and at the end also on
// strings longer (24 and 30) than any seen in training.
//
//   rnn_classify [--seconds S] [--steps N] [--hidden H] [--seed K]
#include <chrono>
#include <random>
#include <string>
#include <vector>

#include <xgrad/xgrad.hpp>
#include <xgrad/xtensor.hpp>

namespace xg = xgrad;
namespace nn = xgrad::nn;

namespace {

struct Args {
  double seconds = 50;
  long steps = 3000;
  std::size_t hidden = 32, batch = 64;
  std::uint64_t seed = 1;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--seconds")
      a.seconds = std::stod(v);
    else if (k == "--steps")
      a.steps = std::stol(v);
    else if (k == "--hidden")
      a.hidden = std::stoul(v);
    else if (k == "--seed")
      a.seed = std::stoull(v);
    else
      throw xg::Error("rnn_classify: unknown option {}", k);
  }
  return a;
}

// Balanced: every closing bracket matches the most recent unmatched opening one of its type.
bool balanced(const std::string& s) {
  std::string stack;
  for (char c : s) {
    if (c == '(' || c == '[') {
      stack.push_back(c);
    } else {
      if (stack.empty() || stack.back() != (c == ')' ? '(' : '[')) return false;
      stack.pop_back();
    }
  }
  return stack.empty();
}

// A random nesting shape of length 2k: k of '(' and k of ')', balanced or not as asked.
std::string shape(std::size_t length, bool positive, std::mt19937_64& rng) {
  std::string s(length / 2, '(');
  s += std::string(length / 2, ')');
  do std::shuffle(s.begin(), s.end(), rng);
  while (balanced(s) != positive);
  return s;
}

// The position of the bracket that closes the one opened at each position of a balanced shape.
std::vector<std::size_t> partners(const std::string& s) {
  std::vector<std::size_t> match(s.size()), open;
  for (std::size_t i = 0; i < s.size(); ++i)
    if (s[i] == '(') {
      open.push_back(i);
    } else {
      match[open.back()] = i;
      match[i] = open.back();
      open.pop_back();
    }
  return match;
}

// A string over ( ) [ ] of even length with as many openers as closers, balanced or not as asked.
// Negatives come in three kinds, a third each: a random unbalanced nesting; a balanced one with one
// opener and one later closer swapped so that it closes too early once; and a correctly nested one
// in which two pairs of different types exchange their closing brackets, as in "([)]" (same counts of
// every character, right nesting, wrong types).
std::string generate(std::size_t length, bool positive, std::mt19937_64& rng) {
  const int kind = positive ? 0 : 1 + static_cast<int>(rng() % 3);
  std::string s;
  if (kind == 1) {
    s = shape(length, false, rng);
  } else {
    do {
      s = shape(length, true, rng);
      if (kind == 2) {
        std::uniform_int_distribution<std::size_t> pos(0, length - 1);
        std::size_t i = pos(rng), j = pos(rng);
        if (i > j) std::swap(i, j);
        if (s[i] == '(' && s[j] == ')') std::swap(s[i], s[j]);
      }
    } while (kind == 2 && balanced(s));
  }
  // Types: each matched pair (or, for an unbalanced shape, each character) is round or square.
  if (kind == 1 || kind == 2) {
    for (char& c : s)
      if (rng() % 2) c = c == '(' ? '[' : ']';
    return s;
  }
  const auto match = partners(s);
  for (std::size_t i = 0; i < s.size(); ++i)
    if (s[i] == '(' && rng() % 2) s[i] = '[', s[match[i]] = ']';
  if (kind == 3) {  // exchange the closers of two pairs of different types
    std::vector<std::size_t> r, q;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s[i] == ')') r.push_back(i);
      if (s[i] == ']') q.push_back(i);
    }
    if (r.empty() || q.empty()) return generate(length, positive, rng);
    std::swap(s[r[rng() % r.size()]], s[q[rng() % q.size()]]);
    if (balanced(s)) return generate(length, positive, rng);
  }
  return s;
}

struct Batch {
  xg::Tensor x;  // [T, N, 4] one-hot over ( ) [ ]
  std::vector<std::int64_t> y;
};
Batch make_batch(std::size_t length, std::size_t n, std::mt19937_64& rng) {
  xt::xarray<float> x = xt::zeros<float>({length, n, std::size_t{4}});
  Batch b;
  for (std::size_t j = 0; j < n; ++j) {
    const bool positive = rng() % 2;
    const std::string s = generate(length, positive, rng);
    for (std::size_t t = 0; t < length; ++t) x(t, j, std::string("()[]").find(s[t])) = 1;
    b.y.push_back(positive);
  }
  b.x = xg::Tensor(std::move(x));
  return b;
}

struct Classifier : nn::Module {
  std::shared_ptr<nn::GRU> gru;
  std::shared_ptr<nn::Linear> head;
  std::size_t hidden;
  explicit Classifier(std::size_t h) : hidden(h) {
    gru = register_module("gru", nn::GRU(4, h, {.bidirectional = true}));
    head = register_module("head", nn::Linear(2 * h, 2));
  }
  // h_n [2, N, H] (forward final state, backward final state) -> [N, 2H] -> logits [N, 2]
  xg::Tensor forward(const xg::Tensor& x) override {
    const auto h_n = gru->run(x).h_n;
    const std::size_t n = h_n.shape()[1];
    return (*head)(xg::reshape(xg::permute(h_n, {1, 0, 2}), {n, 2 * hidden}));
  }
};

double accuracy(Classifier& model, const std::vector<Batch>& set) {
  xg::NoGradGuard no_grad;
  std::size_t right = 0, total = 0;
  for (const auto& b : set) {
    const xt::xarray<float> logits = model(b.x).value<float>();
    for (std::size_t j = 0; j < b.y.size(); ++j, ++total) right += (logits(j, 1) > logits(j, 0)) == (b.y[j] == 1);
  }
  return static_cast<double>(right) / static_cast<double>(total);
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  xg::manual_seed(args.seed);
  std::mt19937_64 rng(args.seed);
  Classifier model(args.hidden);
  xg::optim::Adam adam(model.parameters(), {.lr = 1e-2});
  fmt::print("{} + {}: {} parameters\n", model.gru->describe(), model.head->describe(), model.parameter_count());

  // Test sets: 512 strings per length bucket, never trained on (fresh draws).
  std::mt19937_64 test_rng(args.seed + 1000);
  auto test_set = [&](std::vector<std::size_t> lengths) {
    std::vector<Batch> set;
    for (std::size_t len : lengths)
      for (int k = 0; k < 2; ++k) set.push_back(make_batch(len, 256, test_rng));
    return set;
  };
  const auto short_set = test_set({4, 6, 8}), mid_set = test_set({12, 14, 16}), long_set = test_set({18, 20});
  const auto unseen_set = test_set({24, 30});

  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  std::uniform_int_distribution<std::size_t> half_length(1, 10);
  double running = 0;
  long step = 0;
  for (; step < args.steps && elapsed() < args.seconds; ++step) {
    const Batch b = make_batch(2 * half_length(rng), args.batch, rng);
    auto loss = xg::cross_entropy(model(b.x), b.y);
    adam.zero_grad();
    loss.backward();
    xg::optim::clip_grad_norm_(model.parameters(), 5.0);
    adam.step();
    running = step == 0 ? loss.item() : 0.98 * running + 0.02 * loss.item();
    if ((step + 1) % 250 == 0)
      fmt::print("step {:5d}  {:5.1f} s  loss {:.4f}   accuracy: lengths 4-8 {:.3f}  12-16 {:.3f}  18-20 {:.3f}\n",
                 step + 1, elapsed(), running, accuracy(model, short_set), accuracy(model, mid_set),
                 accuracy(model, long_set));
  }
  const double a_short = accuracy(model, short_set), a_mid = accuracy(model, mid_set),
               a_long = accuracy(model, long_set);
  fmt::print("after {} steps in {:.1f} s: test accuracy lengths 4-8 {:.3f}  12-16 {:.3f}  18-20 {:.3f}  "
             "(chance 0.5)\n",
             step, elapsed(), a_short, a_mid, a_long);
  fmt::print("longer than any training string, lengths 24 and 30: {:.3f}\n", accuracy(model, unseen_set));
  return 0;
}
