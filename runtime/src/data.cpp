// Character-level dataset: tokenize, split, write/read train.bin / val.bin, draw batches.
#include "parplan/runtime/data.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "parplan/model/error.hpp"
#include "parplan/model/io.hpp"

namespace parplan::runtime {
namespace fs = std::filesystem;

namespace {

// A text or token file is read whole into memory; beyond 16 GiB use a bigger machine.
constexpr uint64_t kMaxDataBytes = uint64_t(16) << 30;

std::vector<char32_t> utf8_decode(const std::string& s, const std::string& what) {
  std::vector<char32_t> out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + size_t(n) > s.size())
      throw Error(what + ": not UTF-8 text (bad byte at offset " + std::to_string(i) + ")");
    char32_t cp = n == 1 ? c : n == 2 ? (c & 0x1f) : n == 3 ? (c & 0x0f) : (c & 0x07);
    for (int k = 1; k < n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + size_t(k)]);
      if ((cc >> 6) != 2)
        throw Error(what + ": not UTF-8 text (bad byte at offset " + std::to_string(i) + ")");
      cp = (cp << 6) | (cc & 0x3f);
    }
    out.push_back(cp);
    i += size_t(n);
  }
  return out;
}

void utf8_append(std::string& s, char32_t cp) {
  if (cp < 0x80) {
    s += char(cp);
  } else if (cp < 0x800) {
    s += char(0xc0 | (cp >> 6));
    s += char(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    s += char(0xe0 | (cp >> 12));
    s += char(0x80 | ((cp >> 6) & 0x3f));
    s += char(0x80 | (cp & 0x3f));
  } else {
    s += char(0xf0 | (cp >> 18));
    s += char(0x80 | ((cp >> 12) & 0x3f));
    s += char(0x80 | ((cp >> 6) & 0x3f));
    s += char(0x80 | (cp & 0x3f));
  }
}

std::vector<uint16_t> read_bin(const fs::path& p) {
  std::string bytes = read_file(p.string(), kMaxDataBytes);
  if (bytes.size() % 2) throw Error(p.string() + ": odd size; not a uint16 token file");
  std::vector<uint16_t> v(bytes.size() / 2);
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = uint16_t(uint8_t(bytes[2 * i]) | (uint16_t(uint8_t(bytes[2 * i + 1])) << 8));
  return v;
}

std::string to_bytes(const std::vector<uint16_t>& v) {
  std::string s(v.size() * 2, '\0');
  for (size_t i = 0; i < v.size(); ++i) {
    s[2 * i] = char(v[i] & 0xff);
    s[2 * i + 1] = char(v[i] >> 8);
  }
  return s;
}

}  // namespace

Dataset dataset_from_text(const std::string& text_path) {
  std::error_code ec;
  if (!fs::exists(text_path, ec))
    throw Error("data file '" + text_path + "' does not exist (pass --data FILE)");
  if (!fs::is_regular_file(text_path, ec))
    throw Error("--data '" + text_path + "' is not a regular file (a device, FIFO or directory); "
                "pass a UTF-8 text file");
  auto cps = utf8_decode(read_file(text_path, kMaxDataBytes), text_path);
  if (cps.size() < 100) throw Error(text_path + ": too little text to train on");
  Dataset d;
  d.source = text_path;
  d.vocab = cps;
  std::sort(d.vocab.begin(), d.vocab.end());
  d.vocab.erase(std::unique(d.vocab.begin(), d.vocab.end()), d.vocab.end());
  if (d.vocab.size() > 65535) throw Error(text_path + ": more than 65535 distinct characters");
  std::vector<uint16_t> ids(cps.size());
  for (size_t i = 0; i < cps.size(); ++i)
    ids[i] = uint16_t(std::lower_bound(d.vocab.begin(), d.vocab.end(), cps[i]) - d.vocab.begin());
  auto n_train = size_t(double(ids.size()) * 0.9);  // nanoGPT: n = len(data); data[:int(n*0.9)]
  d.train.assign(ids.begin(), ids.begin() + long(n_train));
  d.val.assign(ids.begin() + long(n_train), ids.end());
  return d;
}

void write_prepared(const Dataset& d, const std::string& dir) {
  std::error_code ec;  // never a raw filesystem_error (exit 1): the folder as bad input
  fs::create_directories(dir, ec);
  if (ec)
    throw Error("--out '" + brief(dir, 200) + "': cannot create the folder: " + ec.message() +
                "; choose a writable location");
  write_file_atomic((fs::path(dir) / "train.bin").string(), to_bytes(d.train));
  write_file_atomic((fs::path(dir) / "val.bin").string(), to_bytes(d.val));
  std::string chars;
  for (char32_t c : d.vocab) utf8_append(chars, c);
  nlohmann::json meta = {{"vocab_size", d.vocab.size()}, {"chars", chars},
                         {"train_tokens", d.train.size()}, {"val_tokens", d.val.size()},
                         {"source", d.source}};
  write_file_atomic((fs::path(dir) / "meta.json").string(), meta.dump(1) + "\n");
}

Dataset load_dataset(const std::string& path) {
  if (fs::is_directory(path)) {
    auto meta_path = fs::path(path) / "meta.json";
    if (!fs::is_regular_file(meta_path))
      throw Error("data directory '" + path + "' has no meta.json (run `parplan prepare` first)");
    auto meta = parse_json_text(read_file(meta_path.string()), meta_path.string());
    Dataset d;
    d.source = path;
    d.vocab = utf8_decode(meta.at("chars").get<std::string>(), meta_path.string());
    d.train = read_bin(fs::path(path) / "train.bin");
    d.val = read_bin(fs::path(path) / "val.bin");
    return d;
  }
  return dataset_from_text(path);
}

std::vector<uint16_t> encode(const Dataset& d, const std::string& utf8) {
  std::vector<uint16_t> out;
  for (char32_t c : utf8_decode(utf8, "prompt")) {
    auto it = std::lower_bound(d.vocab.begin(), d.vocab.end(), c);
    out.push_back(it != d.vocab.end() && *it == c ? uint16_t(it - d.vocab.begin()) : 0);
  }
  return out;
}

std::string decode(const Dataset& d, const std::vector<int64_t>& tokens) {
  std::string s;
  for (auto t : tokens)
    if (t >= 0 && size_t(t) < d.vocab.size()) utf8_append(s, d.vocab[size_t(t)]);
  return s;
}

std::vector<int64_t> batch_offsets(uint64_t seed, int64_t step, int64_t global_batch,
                                   int64_t seq_len, int64_t tokens) {
  if (tokens <= seq_len + 1) throw Error("data has fewer tokens than one sequence");
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ULL + uint64_t(step) + 1);
  std::uniform_int_distribution<int64_t> pick(0, tokens - seq_len - 2);
  std::vector<int64_t> off(static_cast<size_t>(global_batch));
  for (auto& o : off) o = pick(rng);
  return off;
}

std::vector<int64_t> rank_offsets(const std::vector<int64_t>& global, int dp, int dp_rank) {
  size_t per = global.size() / size_t(dp);
  return {global.begin() + long(per * size_t(dp_rank)),
          global.begin() + long(per * size_t(dp_rank + 1))};
}

}  // namespace parplan::runtime
