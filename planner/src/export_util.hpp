#pragma once
// Shared pieces of the export targets (export_*.cpp): number formatting, the job's shape, the
// pipeline split as priced, and the refusal message.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "parplan/model/error.hpp"
#include "parplan/model/plan.hpp"

namespace parplan::planner::detail {

inline std::string s(int64_t v) { return std::to_string(v); }
inline std::string num(double v) {
  std::ostringstream o;
  o.precision(10);
  o << v;
  return o.str();
}

// Throws the export's refusal: what the target cannot run, why, and the fix.
[[noreturn]] inline void refuse(const std::string& target, const std::string& what,
                                const std::string& fix) {
  throw Error("cannot export to " + target + ": " + what + ". To fix: " + fix + ".");
}

struct Shape {
  int64_t gpus = 1, per_node = 1, nodes = 1;
};
inline Shape shape(const Plan& p) {
  Shape sh;
  sh.gpus = p.layout.gpus();
  sh.per_node = std::max<int64_t>(1, std::min<int64_t>(p.cluster.gpus_per_node, sh.gpus));
  sh.nodes = (sh.gpus + sh.per_node - 1) / sh.per_node;
  return sh;
}

// The vocabulary rounded up to a multiple of tp (a vocabulary-parallel embedding splits it
// evenly); equal to the priced vocabulary whenever tp divides it.
inline int64_t tp_padded_vocab(int64_t vocab, int64_t tp) {
  tp = std::max<int64_t>(1, tp);
  return (vocab + tp - 1) / tp * tp;
}

// Placeholders in generated scripts: ${NAME:?message} stops the shell with the message if unset.
// The message must not hold a quote: the expansion sits inside double quotes, where an apostrophe
// is literal for bash but opens a string for `bash -n` inside a `bash -c '...'` wrapper, and a
// double quote would end the word. Both are dropped here.
inline std::string placeholder(const std::string& name, const std::string& what) {
  std::string w;
  for (char c : what)
    if (c != '\'' && c != '"' && c != '`' && c != '$' && c != '\\' && c != '}') w += c;
  return "\"${" + name + ":?set " + name + " to " + w + "}\"";
}

// The run length, data, tokenizer and checkpoint arguments Megatron-LM and Megatron-DeepSpeed
// share (their tokenizer type is named differently): --train-samples from train.tokens, else a
// placeholder for --train-iters; placeholders for the dataset, tokenizer and checkpoint folder.
inline void append_data_args(std::vector<std::string>& a, const Training& t,
                             const std::string& tokenizer_type) {
  if (t.tokens > 0)
    a.push_back("--train-samples " + s(int64_t(std::ceil(t.tokens / double(t.seq_len)))));
  else
    a.push_back("--train-iters " + placeholder("TRAIN_ITERS", "the number of optimizer steps"));
  a.push_back("--data-path " + placeholder("DATA_PATH", "the Megatron dataset prefix (tools/preprocess_data.py output, without .bin/.idx)"));
  a.push_back("--split 99,1,0");
  a.push_back("--tokenizer-type " + tokenizer_type);
  a.push_back("--tokenizer-model " + placeholder("TOKENIZER", "a Hugging Face tokenizer name or directory"));
  a.push_back("--save " + placeholder("CHECKPOINT_DIR", "the checkpoint directory"));
  // Megatron's validate_args asserts a --save-interval whenever --save is given (d98e8a64).
  a.push_back("--save-interval 1000");
  a.push_back("--load " + placeholder("CHECKPOINT_DIR", "the checkpoint directory"));
}

}  // namespace parplan::planner::detail
