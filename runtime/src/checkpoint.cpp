// Checkpoints: writing them (serialised in memory, then each file through a temporary and an
// atomic rename) and verifying them on resume (settings, sizes, checksums, rank identity).
#include "checkpoint.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "parplan/model/io.hpp"

namespace parplan::runtime {
namespace fs = std::filesystem;

namespace {

constexpr uint64_t kMaxStateBytes = uint64_t(1) << 40;  // one rank file; the JSON files use the input cap
constexpr int kFormat = 1;

std::string step_dir(const std::string& ckpt, int64_t step) {
  char b[32];
  std::snprintf(b, sizeof b, "step_%08lld", static_cast<long long>(step));
  return (fs::path(ckpt) / b).string();
}
std::string rank_file(int rank) { return "rank_" + std::to_string(rank) + ".pt"; }
std::string rank_meta(int rank) { return "rank_" + std::to_string(rank) + ".json"; }

// Iterative: a tampered file must not overflow the stack when compared or dumped.
bool too_deep(const nlohmann::json& j) {
  std::vector<std::pair<const nlohmann::json*, int>> stack{{&j, 0}};
  while (!stack.empty()) {
    auto [v, d] = stack.back();
    stack.pop_back();
    if (!v->is_structured()) continue;
    if (d > 16) return true;
    for (const auto& c : *v) stack.emplace_back(&c, d + 1);
  }
  return false;
}

nlohmann::json read_json(const std::string& path, const std::string& what) {
  auto j = parse_json_text(read_file(path), what + " '" + path + "'");
  if (too_deep(j)) throw Error(what + " '" + path + "' is corrupt (nested too deep); start a new --ckpt-dir");
  return j;
}

std::string show(const nlohmann::json* v) {
  if (!v) return "(absent)";
  if (v->is_structured()) return std::string("(") + v->type_name() + ")";
  return brief(v->dump(), 60);
}

// "train.seq_len: checkpoint 32, this run 64" for every setting that differs.
std::vector<std::string> differences(const nlohmann::json& saved, const nlohmann::json& now) {
  std::vector<std::string> out;
  auto find = [](const nlohmann::json& j, const std::string& k) -> const nlohmann::json* {
    if (!j.is_object()) return nullptr;
    auto it = j.find(k);
    return it == j.end() ? nullptr : &*it;
  };
  std::vector<std::string> keys;
  for (const auto* j : {&now, &saved})
    if (j->is_object())
      for (auto it = j->begin(); it != j->end(); ++it)
        if (std::find(keys.begin(), keys.end(), it.key()) == keys.end()) keys.push_back(it.key());
  for (const auto& k : keys) {
    const auto *a = find(saved, k), *b = find(now, k);
    if (a && b && a->is_object() && b->is_object()) {
      for (const auto& sub : differences(*a, *b)) out.push_back(brief(k) + "." + sub);
    } else if (!a || !b || *a != *b) {
      out.push_back(brief(k) + ": checkpoint " + show(a) + ", this run " + show(b));
    }
  }
  return out;
}

void check_settings(const nlohmann::json& manifest, const nlohmann::json& settings,
                    const std::string& dir) {
  if (!manifest.is_object() || manifest.value("format", 0) != kFormat || !manifest.contains("settings"))
    throw Error("checkpoint " + dir + " has no valid manifest.json (written by an older parplan, "
                "or incomplete); start a new --ckpt-dir");
  auto diff = differences(manifest["settings"], settings);
  if (diff.empty()) return;
  std::string msg = "checkpoint " + dir + " was written by a run with other settings:";
  for (const auto& d : diff) msg += "\n  " + d;
  throw Error(msg + "\nresume with the same plan, --lr, --seed and --data, or start a new --ckpt-dir");
}

// The manifest entry of `rank`, checked against the file on disk; returns the file's bytes.
std::string verified_bytes(const nlohmann::json& manifest, const std::string& dir, int rank) {
  if (!manifest.contains("files"))
    throw Error("checkpoint " + dir + ": manifest.json lists no files; start a new --ckpt-dir");
  const auto& files = manifest["files"];
  if (!files.is_array() || rank >= int(files.size()) || !files[size_t(rank)].is_object())
    throw Error("checkpoint " + dir + ": manifest.json lists no file for rank " + std::to_string(rank) +
                "; start a new --ckpt-dir");
  const auto& e = files[size_t(rank)];
  auto path = (fs::path(dir) / rank_file(rank)).string();
  std::string bytes = read_file(path, kMaxStateBytes);
  if (!e.contains("bytes") || !e["bytes"].is_number_unsigned() || e["bytes"].get<uint64_t>() != bytes.size())
    throw Error("checkpoint file " + path + " is " + std::to_string(bytes.size()) +
                " bytes, the manifest says " + show(e.contains("bytes") ? &e["bytes"] : nullptr) +
                ": the file was truncated or replaced; restore it or start a new --ckpt-dir");
  if (!e.contains("fnv1a64") || e["fnv1a64"] != fnv1a64_hex(bytes))
    throw Error("checkpoint file " + path + " does not match its checksum in manifest.json "
                "(bytes overwritten, or rank files swapped); restore it or start a new --ckpt-dir");
  return bytes;
}

}  // namespace

std::string fnv1a64_hex(const std::string& bytes) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a 64 offset basis and prime (Fowler/Noll/Vo)
  for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
  char b[17];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(h));
  return b;
}

nlohmann::json run_settings(const RunOptions& o, const Plan& plan, int world_size) {
  std::error_code ec;
  auto data = fs::weakly_canonical(o.data, ec);
  return {{"model", to_json(plan.model)},
          {"layout", to_json(plan.layout)},
          {"train", to_json(plan.training)},
          {"learning_rate", o.lr > 0 ? o.lr : plan.training.learning_rate},
          {"seed", o.seed},
          {"data", ec ? o.data : data.string()},
          {"world_size", world_size}};
}

int64_t latest_checkpoint_step(const std::string& ckpt_dir) {
  auto latest = fs::path(ckpt_dir) / "latest";
  std::error_code ec;
  if (!fs::exists(latest, ec)) return -1;
  std::string text = read_file(latest.string(), 64);
  try {
    size_t used = 0;
    long long v = std::stoll(text, &used);
    if (v >= 0 && text.find_first_not_of(" \n", used) == std::string::npos) return v;
  } catch (const std::exception&) {
  }
  throw Error("'" + latest.string() + "' does not hold a step number; restore it or start a new --ckpt-dir");
}

int64_t check_checkpoint_dir(const RunOptions& o, const nlohmann::json& settings, bool verify_files) {
  if (o.ckpt_dir.empty()) {
    if (o.resume) throw Error("--resume needs --ckpt-dir (the directory the checkpoints are in)");
    return 0;
  }
  int64_t step = latest_checkpoint_step(o.ckpt_dir);
  if (!o.resume) {
    if (step >= 0)
      throw Error("--ckpt-dir " + o.ckpt_dir + " already holds a checkpoint (step " +
                  std::to_string(step) + ") that this run would overwrite; pass --resume to "
                  "continue from it, or choose an empty --ckpt-dir");
    return 0;
  }
  if (step < 0) return 0;
  if (step >= o.steps)
    throw Error("--resume: the checkpoint in " + o.ckpt_dir + " is at step " + std::to_string(step) +
                " and --steps is " + std::to_string(o.steps) +
                ": nothing is left to train; raise --steps above " + std::to_string(step) +
                " to continue");
  auto dir = step_dir(o.ckpt_dir, step);
  auto manifest = read_json(dir + "/manifest.json", "checkpoint manifest");
  check_settings(manifest, settings, dir);
  int world = settings.value("world_size", 1);
  if (verify_files)
    for (int r = 0; r < world; ++r) verified_bytes(manifest, dir, r);
  return step;
}

void save_checkpoint(const std::string& ckpt_dir, int64_t step, const RankIdentity& id,
                     const std::vector<torch::Tensor>& state, const nlohmann::json& settings,
                     const std::function<void()>& barrier) {
  auto dir = step_dir(ckpt_dir, step);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    throw EnvironmentError("cannot create the checkpoint directory " + dir + ": " + ec.message() +
                           (ec == std::errc::no_space_on_device ? " (the disk is full)" : ""));
  std::vector<torch::Tensor> payload{torch::tensor({int64_t(id.rank), step, int64_t(id.world_size)})};
  payload.insert(payload.end(), state.begin(), state.end());
  std::ostringstream buf;
  try {
    torch::save(payload, buf);
  } catch (const std::exception& e) {
    throw EnvironmentError("rank " + std::to_string(id.rank) + ": serialising the checkpoint failed: " +
                           brief(e.what(), 200));
  }
  const std::string bytes = buf.str();
  write_file_atomic((fs::path(dir) / rank_file(id.rank)).string(), bytes);
  nlohmann::json meta = {{"rank", id.rank}, {"step", step}, {"bytes", bytes.size()},
                         {"fnv1a64", fnv1a64_hex(bytes)}};
  write_file_atomic((fs::path(dir) / rank_meta(id.rank)).string(), meta.dump() + "\n");
  barrier();  // every rank's files are in place
  if (id.rank == 0) {
    nlohmann::json files = nlohmann::json::array();
    for (int r = 0; r < id.world_size; ++r) {
      auto m = read_json((fs::path(dir) / rank_meta(r)).string(), "checkpoint file list");
      files.push_back({{"rank", r}, {"file", rank_file(r)}, {"bytes", m.at("bytes")},
                       {"fnv1a64", m.at("fnv1a64")}});
    }
    nlohmann::json manifest = {{"format", kFormat}, {"step", step}, {"world_size", id.world_size},
                               {"settings", settings}, {"files", files}};
    write_file_atomic(dir + "/manifest.json", manifest.dump(1) + "\n");
    write_file_atomic((fs::path(ckpt_dir) / "latest").string(), std::to_string(step) + "\n");
  }
  barrier();
}

std::vector<torch::Tensor> load_checkpoint(const std::string& ckpt_dir, int64_t step,
                                           const RankIdentity& id, const nlohmann::json& settings) {
  auto dir = step_dir(ckpt_dir, step);
  auto manifest = read_json(dir + "/manifest.json", "checkpoint manifest");
  check_settings(manifest, settings, dir);
  std::string bytes = verified_bytes(manifest, dir, id.rank);
  std::vector<torch::Tensor> payload;
  try {
    std::istringstream in(bytes);
    torch::load(payload, in);
  } catch (const std::exception& e) {
    throw Error("checkpoint file " + dir + "/" + rank_file(id.rank) + " cannot be read (" +
                brief(e.what(), 120) + "); start a new --ckpt-dir");
  }
  if (payload.empty() || payload[0].numel() != 3 || payload[0].scalar_type() != torch::kLong)
    throw Error("checkpoint file " + dir + "/" + rank_file(id.rank) + " has no rank identity; "
                "start a new --ckpt-dir");
  auto idt = payload[0].accessor<int64_t, 1>();
  if (idt[0] != id.rank || idt[1] != step || idt[2] != id.world_size)
    throw Error("checkpoint file " + dir + "/" + rank_file(id.rank) + " holds rank " +
                std::to_string(idt[0]) + " of " + std::to_string(idt[2]) + " at step " +
                std::to_string(idt[1]) + ", not rank " + std::to_string(id.rank) + " of " +
                std::to_string(id.world_size) + " at step " + std::to_string(step) +
                " (files swapped or copied); restore it or start a new --ckpt-dir");
  return {payload.begin() + 1, payload.end()};
}

}  // namespace parplan::runtime
