// Replay driver for libFuzzer targets, for compilers without -fsanitize=fuzzer.
//
//   <target> [-runs=N] [-seed=S] [-max_len=L] [file-or-dir ...]
//
// Runs LLVMFuzzerTestOneInput on every file given (directories: every regular
// file in them, in name order), then on N inputs derived from them by seeded
// mutations (byte flips, inserts, erases, truncations, splices), so a run is
// the same every time. Other -flags are accepted and ignored, as libFuzzer
// accepts them. Exits 0 when no input crashed the target.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

namespace {

using Bytes = std::vector<uint8_t>;

struct Rng {  // splitmix64
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  size_t below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(next() % n); }
};

Bytes read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void run_one(const Bytes& b) { LLVMFuzzerTestOneInput(b.empty() ? nullptr : b.data(), b.size()); }

Bytes mutate(Bytes b, const std::vector<Bytes>& pool, Rng& rng, size_t max_len) {
  int edits = 1 + static_cast<int>(rng.below(4));
  for (int e = 0; e < edits; ++e) {
    switch (rng.below(6)) {
      case 0:  // flip a bit
        if (!b.empty()) b[rng.below(b.size())] ^= static_cast<uint8_t>(1u << rng.below(8));
        break;
      case 1:  // set a byte (often a printable or structural one)
        if (!b.empty()) b[rng.below(b.size())] = static_cast<uint8_t>(rng.next());
        break;
      case 2:  // insert a byte
        b.insert(b.begin() + static_cast<std::ptrdiff_t>(rng.below(b.size() + 1)),
                 static_cast<uint8_t>(rng.next()));
        break;
      case 3:  // erase a range
        if (!b.empty()) {
          size_t at = rng.below(b.size());
          size_t n = 1 + rng.below(std::min<size_t>(8, b.size() - at));
          b.erase(b.begin() + static_cast<std::ptrdiff_t>(at),
                  b.begin() + static_cast<std::ptrdiff_t>(at + n));
        }
        break;
      case 4:  // truncate
        b.resize(rng.below(b.size() + 1));
        break;
      default:  // splice in a piece of another input
        if (!pool.empty()) {
          const Bytes& o = pool[rng.below(pool.size())];
          if (!o.empty()) {
            size_t from = rng.below(o.size());
            size_t n = 1 + rng.below(o.size() - from);
            b.insert(b.begin() + static_cast<std::ptrdiff_t>(rng.below(b.size() + 1)),
                     o.begin() + static_cast<std::ptrdiff_t>(from),
                     o.begin() + static_cast<std::ptrdiff_t>(from + n));
          }
        }
    }
  }
  if (b.size() > max_len) b.resize(max_len);
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  long runs = 0;
  uint64_t seed = 1;
  size_t max_len = 4096;
  std::vector<std::filesystem::path> files;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("-runs=", 0) == 0) runs = std::atol(a.c_str() + 6);
    else if (a.rfind("-seed=", 0) == 0) seed = std::strtoull(a.c_str() + 6, nullptr, 10);
    else if (a.rfind("-max_len=", 0) == 0) max_len = std::strtoull(a.c_str() + 9, nullptr, 10);
    else if (!a.empty() && a[0] == '-') continue;
    else if (std::filesystem::is_directory(a)) {
      std::vector<std::filesystem::path> in_dir;
      for (const auto& e : std::filesystem::directory_iterator(a))
        if (e.is_regular_file()) in_dir.push_back(e.path());
      std::sort(in_dir.begin(), in_dir.end());
      files.insert(files.end(), in_dir.begin(), in_dir.end());
    } else {
      files.emplace_back(a);
    }
  }
  std::vector<Bytes> pool;
  for (const auto& f : files) pool.push_back(read_file(f));
  for (const auto& b : pool) run_one(b);
  if (pool.empty()) pool.emplace_back();
  Rng rng{seed};
  for (long r = 0; r < runs; ++r) run_one(mutate(pool[rng.below(pool.size())], pool, rng, max_len));
  std::printf("fuzz replay: %zu corpus file(s), %ld mutated input(s), seed %llu: no crash\n",
              files.size(), runs, static_cast<unsigned long long>(seed));
  return 0;
}
