#pragma once
// Character-level text data (nanoGPT's shakespeare_char): a vocabulary of the text's distinct
// Unicode code points, a 90/10 train/val split, and the batches each data-parallel rank draws.
// Torch-free so the CLI and tests can use it without LibTorch.
#include <cstdint>
#include <string>
#include <vector>

namespace parplan::runtime {

struct Dataset {
  std::vector<char32_t> vocab;  // sorted code points; token id = index
  std::vector<uint16_t> train;  // first 90% of the text
  std::vector<uint16_t> val;    // last 10%
  std::string source;           // where it came from
};

// Reads a UTF-8 text file and tokenizes it. Throws parplan::Error when unreadable or not UTF-8.
Dataset dataset_from_text(const std::string& text_path);
// Writes train.bin / val.bin (uint16 little endian) and meta.json (vocab) into `dir`, atomically.
void write_prepared(const Dataset& d, const std::string& dir);
// Loads a prepared directory, or tokenizes a text file (whichever `path` is).
Dataset load_dataset(const std::string& path);

std::vector<uint16_t> encode(const Dataset& d, const std::string& utf8);  // unknown chars: 0
std::string decode(const Dataset& d, const std::vector<int64_t>& tokens);

// The sequences of one step. Every rank draws the same global batch from (seed, step) and takes
// its own contiguous slice (dp_rank): disjoint sequences per DP rank, and the same global batch as
// a single process, so DP runs match single-process runs step by step.
std::vector<int64_t> batch_offsets(uint64_t seed, int64_t step, int64_t global_batch,
                                   int64_t seq_len, int64_t tokens);
std::vector<int64_t> rank_offsets(const std::vector<int64_t>& global, int dp, int dp_rank);

}  // namespace parplan::runtime
