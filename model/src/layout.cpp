#include "parplan/model/layout.hpp"

#include <algorithm>
#include <cstdint>

#include <nlohmann/json.hpp>

#include "json_reader.hpp"
#include "parplan/model/cluster.hpp"
#include "parplan/model/model.hpp"
#include "parplan/model/training.hpp"

namespace parplan {

const char* to_string(Recompute r) {
  switch (r) {
    case Recompute::None: return "none";
    case Recompute::Selective: return "selective";
    case Recompute::Full: return "full";
  }
  return "?";
}
const char* to_string(Schedule s) {
  switch (s) {
    case Schedule::GPipe: return "gpipe";
    case Schedule::OneFOneB: return "1f1b";
    case Schedule::Interleaved: return "interleaved";
    case Schedule::ZbH1: return "zb-h1";
    case Schedule::ZbV: return "zb-v";
    case Schedule::DualPipe: return "dualpipe";
    case Schedule::DualPipeV: return "dualpipev";
  }
  return "?";
}
const char* to_string(Offload o) {
  switch (o) {
    case Offload::None: return "none";
    case Offload::Optimizer: return "optimizer";
    case Offload::OptimizerAndParams: return "optimizer+params";
  }
  return "?";
}
const char* to_string(OffloadDevice o) { return o == OffloadDevice::Nvme ? "nvme" : "cpu"; }
const char* to_string(CpKind k) {
  switch (k) {
    case CpKind::Ring: return "ring";
    case CpKind::Ulysses: return "ulysses";
    case CpKind::Usp: return "usp";
  }
  return "?";
}
bool parse_offload_device(const std::string& s, OffloadDevice& out) {
  if (s == "cpu") out = OffloadDevice::Cpu;
  else if (s == "nvme") out = OffloadDevice::Nvme;
  else return false;
  return true;
}
bool parse_cp_kind(const std::string& s, CpKind& out) {
  if (s == "ring") out = CpKind::Ring;
  else if (s == "ulysses") out = CpKind::Ulysses;
  else if (s == "usp") out = CpKind::Usp;
  else return false;
  return true;
}
bool parse_recompute(const std::string& s, Recompute& out) {
  if (s == "none") out = Recompute::None;
  else if (s == "selective") out = Recompute::Selective;
  else if (s == "full") out = Recompute::Full;
  else return false;
  return true;
}
namespace {
constexpr RecomputeModule kModules[] = {kRecomputeCoreAttn, kRecomputeMoeAct, kRecomputeLayernorm,
                                        kRecomputeMlaUpProj, kRecomputeMlp,   kRecomputeMoe,
                                        kRecomputeSharedExperts};
}  // namespace
const char* to_string(RecomputeModule m) {
  switch (m) {
    case kRecomputeCoreAttn: return "core_attn";
    case kRecomputeMoeAct: return "moe_act";
    case kRecomputeLayernorm: return "layernorm";
    case kRecomputeMlaUpProj: return "mla_up_proj";
    case kRecomputeMlp: return "mlp";
    case kRecomputeMoe: return "moe";
    case kRecomputeSharedExperts: return "shared_experts";
  }
  return "?";
}
bool parse_recompute_module(const std::string& s, RecomputeModule& out) {
  for (RecomputeModule m : kModules)
    if (s == to_string(m)) {
      out = m;
      return true;
    }
  return false;
}
std::string recompute_modules_list(uint8_t modules) {
  std::string s;
  for (RecomputeModule m : kModules)
    if (modules & m) s += (s.empty() ? "" : ",") + std::string(to_string(m));
  return s;
}
uint8_t recomputed_modules(const Layout& l) {
  if (l.recompute != Recompute::Selective) return 0;
  return l.recompute_modules ? l.recompute_modules : uint8_t(kRecomputeCoreAttn);
}
bool parse_schedule(const std::string& s, Schedule& out) {
  if (s == "gpipe") out = Schedule::GPipe;
  else if (s == "1f1b") out = Schedule::OneFOneB;
  else if (s == "interleaved" || s == "interleaved-1f1b") out = Schedule::Interleaved;
  else if (s == "zb-h1" || s == "zbh1") out = Schedule::ZbH1;
  else if (s == "zb-v" || s == "zbv") out = Schedule::ZbV;
  else if (s == "dualpipe") out = Schedule::DualPipe;
  else if (s == "dualpipev" || s == "dualpipe-v") out = Schedule::DualPipeV;
  else return false;
  return true;
}
bool parse_offload(const std::string& s, Offload& out) {
  if (s == "none") out = Offload::None;
  else if (s == "optimizer" || s == "cpu") out = Offload::Optimizer;
  else if (s == "optimizer+params" || s == "params") out = Offload::OptimizerAndParams;
  else return false;
  return true;
}

Layout layout_from_json(const nlohmann::json& j, Diagnostics& d, const std::string& p) {
  Layout l;
  detail::ObjectReader r(j, d, p);
  constexpr int64_t kMaxDeg = 1 << 24;
  r.integer32("dp", l.dp, false, 1, kMaxDeg);
  r.integer32("tp", l.tp, false, 1, kMaxDeg);
  r.integer32("pp", l.pp, false, 1, kMaxDeg);
  r.integer32("cp", l.cp, false, 1, kMaxDeg);
  r.integer32("micro_batch", l.micro_batch, false, 1, kMaxDeg);
  r.integer32("zero", l.zero, false, 0, 3);
  const bool has_recompute = r.has("recompute");
  r.choice("recompute", l.recompute, false, parse_recompute, "none, selective, full");
  // Megatron-Core's --recompute-modules (transformer_config.py@b0cc270: names outside its list
  // are rejected; an empty list under selective recomputes nothing).
  if (const nlohmann::json* mods = r.array("recompute_modules", false)) {
    const std::string f = p + ".recompute_modules";
    uint8_t bits = 0;
    for (const auto& v : *mods) {
      RecomputeModule m{};
      if (!v.is_string() || !parse_recompute_module(v.get<std::string>(), m)) {
        d.error(f, "unknown module " + (v.is_string() ? "\"" + v.get<std::string>().substr(0, 40) + "\""
                                                      : std::string("(not a string)")) +
                       "; use Megatron-Core's names: " + kRecomputeModuleNames);
        bits = 0;
        break;
      }
      bits |= m;
    }
    if (d.ok()) {
      if (has_recompute && l.recompute != Recompute::Selective)
        d.error(f, "applies to recompute \"selective\" only (Megatron-Core --recompute-granularity "
                   "selective); set recompute to selective or drop recompute_modules");
      else if (mods->empty())
        l.recompute = Recompute::None;  // selective with no module: nothing recomputed
      else {
        l.recompute = Recompute::Selective;
        l.recompute_modules = bits == kRecomputeCoreAttn ? uint8_t(0) : bits;
      }
    }
  }
  r.boolean("sequence_parallel", l.sequence_parallel, false);
  bool has_schedule = r.has("schedule");
  r.choice("schedule", l.schedule, false, parse_schedule,
           "gpipe, 1f1b, interleaved, zb-h1, zb-v, dualpipe, dualpipev");
  r.integer32("virtual_stages", l.virtual_stages, false, 1, 1024);
  // Megatron's convention: 1F1B with more than one model chunk per stage is interleaved 1F1B.
  if (l.virtual_stages > 1 && (!has_schedule || l.schedule == Schedule::OneFOneB))
    l.schedule = Schedule::Interleaved;
  r.choice("offload", l.offload, false, parse_offload, "none, optimizer, optimizer+params");
  r.choice("offload_device", l.offload_device, false, parse_offload_device, "cpu, nvme");
  r.choice("cp_kind", l.cp_kind, false, parse_cp_kind, "ring, ulysses, usp");
  r.integer32("ulysses", l.ulysses, false, 0, kMaxDeg);
  r.integer32("ep", l.ep, false, 1, kMaxDeg);
  r.integer32("etp", l.etp, false, 1, kMaxDeg);
  r.integer32("shard_group", l.shard_group, false, 0, kMaxDeg);
  r.integer32("tiles", l.tiles, false, 1, 4096);
  r.integer32("first_stage_layers", l.first_stage_layers, false, 0, 100000);
  r.integer32("last_stage_layers", l.last_stage_layers, false, 0, 100000);
  r.integer32("activation_offload_layers", l.activation_offload_layers, false, 0, 100000);
  r.warn_unknown();
  if (d.ok()) validate(l, d, p);
  return l;
}

void validate(const Layout& l, Diagnostics& d, const std::string& p) {
  auto pos = [&](const char* f, int32_t v) {
    if (v < 1) d.error(p + "." + f, "must be >= 1, got " + std::to_string(v));
  };
  pos("dp", l.dp);
  pos("tp", l.tp);
  pos("pp", l.pp);
  pos("cp", l.cp);
  pos("micro_batch", l.micro_batch);
  pos("virtual_stages", l.virtual_stages);
  if (l.zero < 0 || l.zero > 3) d.error(p + ".zero", "must be 0, 1, 2 or 3");
  if (l.schedule == Schedule::Interleaved && l.virtual_stages < 2)
    d.error(p + ".virtual_stages", "must be >= 2 for the interleaved schedule");
  if (l.schedule != Schedule::Interleaved && l.virtual_stages > 1)
    d.error(p + ".schedule", "virtual_stages > 1 needs the interleaved schedule");
  if (l.virtual_stages > 1 && l.pp < 2)
    d.error(p + ".virtual_stages", "interleaving needs pp >= 2; set virtual_stages to 1");
  if (l.offload == Offload::OptimizerAndParams && l.zero < 3)
    d.error(p + ".offload", "offloading parameters needs ZeRO stage 3; set zero to 3");
  pos("ep", l.ep);
  pos("etp", l.etp);
  pos("tiles", l.tiles);
  if (l.shard_group < 0) d.error(p + ".shard_group", "must be >= 0 (0: the whole DP group)");
  else if (l.shard_group > 0 && (l.shard_group > l.dp || l.dp % l.shard_group != 0))
    d.error(p + ".shard_group", "must divide dp (" + std::to_string(l.dp) + "); got " +
                                    std::to_string(l.shard_group));
  if (l.shard_group > 0 && l.shard_group < l.dp && l.zero < 3)
    d.error(p + ".shard_group", "hybrid sharding needs zero 3 (FSDP); set zero to 3 or drop it");
  if (l.cp_kind != CpKind::Usp && l.ulysses > 0 && l.ulysses != (l.cp_kind == CpKind::Ulysses ? l.cp : 1))
    d.error(p + ".ulysses", "is the Ulysses share of cp for cp_kind usp only; drop it");
  if (l.ulysses > 0 && (l.ulysses > l.cp || l.cp % l.ulysses != 0))
    d.error(p + ".ulysses", "must divide cp (" + std::to_string(l.cp) + ")");
  if (l.first_stage_layers < 0 || l.last_stage_layers < 0)
    d.error(p + ".first_stage_layers", "must be >= 0");
  if (l.activation_offload_layers < 0)
    d.error(p + ".activation_offload_layers", "must be >= 0 (0: no activation offloading)");
  if (l.recompute_modules != 0 && l.recompute != Recompute::Selective)
    d.error(p + ".recompute_modules", "applies to recompute \"selective\" only; set recompute to "
                                      "selective or drop recompute_modules");
  if (l.recompute_modules >= 128)
    d.error(p + ".recompute_modules", std::string("unknown module; use ") + kRecomputeModuleNames);
  // The product in double (each degree is below 2^31): an int64 product of four 2^24 degrees
  // wraps to 0 GPUs. 2^40 is above any cluster (nodes <= 1e7 x 4096 GPUs per node).
  const double gpus = double(l.dp) * double(l.tp) * double(l.pp) * double(l.cp);
  if (gpus > double(int64_t(1) << 40))
    d.error(p, "dp*tp*pp*cp = " + std::to_string(l.dp) + "*" + std::to_string(l.tp) + "*" +
                   std::to_string(l.pp) + "*" + std::to_string(l.cp) +
                   " is more than 2^40 GPUs, more than any cluster; lower the degrees");
}

namespace {
// The zero-bubble and DualPipe schedules' own conditions (their reference implementations).
void validate_schedule(const Layout& l, const Model& m, int64_t micro_batches, Diagnostics& d,
                       const std::string& p) {
  auto s = [](int64_t v) { return std::to_string(v); };
  const Schedule k = l.schedule;
  const bool v_shape = k == Schedule::ZbV || k == Schedule::DualPipeV;
  if (v_shape && 2 * int64_t(l.pp) > m.layers)
    d.error(p + ".schedule", std::string(to_string(k)) + " places two chunks on each stage: 2*pp (" +
                                 s(2 * int64_t(l.pp)) + ") exceeds the model's layers (" +
                                 s(m.layers) + "); lower pp or use 1f1b");
  if (v_shape && (l.first_stage_layers > 0 || l.last_stage_layers > 0))
    d.error(p + ".first_stage_layers", std::string(to_string(k)) +
                                           " splits the layers evenly into 2*pp chunks; set "
                                           "first/last_stage_layers to 0 or use 1f1b / dualpipe");
  // deepseek-ai/DualPipe dualpipe.py: num_ranks % 2 == 0, num_chunks % 2 == 0 and
  // num_chunks >= 2 * num_ranks; dualpipev.py: num_chunks >= 2 * num_ranks.
  if (k == Schedule::DualPipe && l.pp % 2 != 0)
    d.error(p + ".pp", "dualpipe needs an even pp (two directions); got " + s(l.pp));
  if (k == Schedule::DualPipe && micro_batches % 2 != 0)
    d.error(p + ".schedule", "dualpipe needs an even number of micro-batches (half each way); got " +
                                 s(micro_batches));
  if ((k == Schedule::DualPipe || k == Schedule::DualPipeV) && micro_batches < 2 * int64_t(l.pp))
    d.error(p + ".schedule", std::string(to_string(k)) + " needs at least 2*pp (" +
                                 s(2 * int64_t(l.pp)) + ") micro-batches; got " +
                                 s(micro_batches) + " (lower dp or micro_batch, or use 1f1b)");
}
}  // namespace

void validate(const Layout& l, const Model& m, const Cluster& c, const Training& t, Diagnostics& d,
              const std::string& p) {
  validate(l, d, p);
  if (!d.ok()) return;
  auto s = [](int64_t v) { return std::to_string(v); };
  if (m.heads % l.tp != 0)
    d.error(p + ".tp", "must divide the model's heads (" + s(m.heads) + "); tp=" + s(l.tp));
  else if (m.kv_heads % l.tp != 0 && l.tp % m.kv_heads != 0)
    d.error(p + ".tp", "must divide kv_heads (" + s(m.kv_heads) + ") or be a multiple of it");
  const int64_t chunks = int64_t(l.pp) * l.virtual_stages;
  // Uneven first/last stages: their first (last) chunk may hold only the embedding (the output
  // layer and loss), as in Llama 3 (arXiv:2407.21783 sec. 3.3.2) and Megatron's
  // account_for_embedding/loss_in_pipeline_split: one chunk more than layers there.
  const int64_t extra = (l.first_stage_layers > 0) + (l.last_stage_layers > 0);
  if (chunks > m.layers + extra)
    d.error(p + ".pp", "pp*virtual_stages (" + s(chunks) + ") exceeds the model's layers (" +
                           s(m.layers) + "); lower pp or virtual_stages");
  else if (m.layers % chunks != 0)
    d.warn(p + ".pp", "pp*virtual_stages (" + s(chunks) + ") does not divide the model's layers (" +
                          s(m.layers) + "): stages are uneven and the fullest paces the pipeline");
  int64_t per_step = int64_t(l.dp) * l.micro_batch;
  if (t.global_batch % per_step != 0)
    d.error(p + ".micro_batch", "dp*micro_batch (" + s(per_step) +
                                    ") must divide train.global_batch (" + s(t.global_batch) + ")");
  if (t.seq_len % l.cp != 0)
    d.error(p + ".cp", "must divide train.seq_len (" + s(t.seq_len) + ")");
  if (l.cp > 1 && t.seq_len % (2 * int64_t(l.cp)) != 0)
    d.error(p + ".cp", "2*cp must divide train.seq_len (load-balanced ring attention splits the "
                       "sequence into 2*cp chunks)");
  if (l.sequence_parallel && l.tp > 1 && (t.seq_len / l.cp) % l.tp != 0)
    d.error(p + ".sequence_parallel", "tp must divide the per-rank sequence (seq_len/cp)");
  if (l.sequence_parallel && l.tp == 1)
    d.error(p + ".sequence_parallel", "needs tp > 1; set it to false");
  if (l.schedule == Schedule::Interleaved && l.pp > 1) {
    int64_t m_count = t.global_batch / std::max<int64_t>(1, per_step);
    if (m_count % l.pp != 0)
      d.error(p + ".schedule", "interleaved 1F1B needs the number of micro-batches (" + s(m_count) +
                                   ") to be a multiple of pp (" + s(l.pp) + ")");
  }
  if (l.pp > 1) validate_schedule(l, m, t.global_batch / std::max<int64_t>(1, per_step), d, p);
  if (t.seq_len > m.max_seq_len)
    d.warn("train.seq_len", "exceeds the model's max_seq_len (" + s(m.max_seq_len) + ")");
  if (l.ep > 1 || l.etp > 1) {
    if (!m.is_moe())
      d.error(p + ".ep", "expert parallelism needs a MoE model (model.moe); set ep and etp to 1");
    else {
      const int64_t fold = int64_t(l.tp) * l.cp * l.dp;
      if (fold % (int64_t(l.ep) * l.etp) != 0)
        d.error(p + ".ep", "ep*etp (" + s(int64_t(l.ep) * l.etp) + ") must divide tp*cp*dp (" +
                               s(fold) + ") (Megatron-Core MoE parallel folding)");
      if (m.moe.experts % l.ep != 0)
        d.error(p + ".ep", "must divide the model's experts (" + s(m.moe.experts) + ")");
    }
  }
  if (l.cp_kind != CpKind::Ring && l.cp > 1) {
    const int64_t u = l.cp_kind == CpKind::Ulysses ? l.cp : (l.ulysses > 0 ? l.ulysses : 1);
    if ((m.heads / l.tp) % u != 0 || (m.kv_heads >= l.tp && (m.kv_heads / l.tp) % u != 0 &&
                                      u % (m.kv_heads / l.tp) != 0))
      d.error(p + ".cp_kind", "Ulysses splits attention heads: its degree (" + s(u) +
                                  ") must divide the heads per TP rank (" + s(m.heads / l.tp) +
                                  "); use cp_kind ring or a smaller degree");
  }
  if (l.first_stage_layers > 0 || l.last_stage_layers > 0) {
    const int64_t rest = m.layers - l.first_stage_layers - l.last_stage_layers;
    const int64_t middle = l.pp - (l.first_stage_layers > 0) - (l.last_stage_layers > 0);
    if (l.pp < 2)
      d.error(p + ".first_stage_layers", "first/last stage layers need pipeline parallelism "
                                         "(pp >= 2); set them to 0 or raise pp");
    else if (rest < 0 || (middle > 0 && rest % middle != 0) || (middle == 0 && rest != 0))
      d.error(p + ".first_stage_layers", "first/last stage layers must leave the other " +
                                             s(std::max<int64_t>(0, middle)) +
                                             " stages an equal share of the remaining layers");
    const int64_t fewest = std::min(l.first_stage_layers > 0 ? l.first_stage_layers + 1 : INT64_MAX,
                                    l.last_stage_layers > 0 ? l.last_stage_layers + 1 : INT64_MAX);
    if (l.virtual_stages > fewest || (middle > 0 && rest / middle < l.virtual_stages))
      d.error(p + ".virtual_stages", "every chunk of a stage needs a layer (the first and last "
                                     "stages' one may hold only the embedding / output layer)");
  }
  if (l.activation_offload_layers > 0 && l.activation_offload_layers >= (m.layers + l.pp - 1) / l.pp)
    d.error(p + ".activation_offload_layers",
            "must be below the layers of a pipeline stage (" + s((m.layers + l.pp - 1) / l.pp) +
                "): the last layer's activations are used at once; lower it");
  // Megatron-Core's checks of recompute_modules (transformer_config.py@b0cc270 __post_init__).
  const uint8_t rc = recomputed_modules(l);
  const std::string rcf = p + ".recompute_modules";
  if ((rc & kRecomputeMlaUpProj) && !m.mla.enabled())
    d.error(rcf, "mla_up_proj needs multi-latent attention (model.mla); Megatron-Core rejects it "
                 "otherwise; drop it");
  if ((rc & kRecomputeMoeAct) && !m.is_moe())
    d.error(rcf, "moe_act needs a MoE model (Megatron-Core: only with the MoE grouped GEMM); drop it");
  if ((rc & (kRecomputeMoeAct | kRecomputeLayernorm)) && t.fp8() &&
      t.fp8_recipe == Fp8Recipe::Delayed)
    d.error(rcf, "moe_act and layernorm recomputation do not work with FP8 delayed scaling "
                 "(Megatron-Core rejects it); use train.fp8_recipe current, blockwise or mxfp8, or "
                 "drop them");
  if (l.gpus() > c.total_gpus())
    d.error(p, "needs " + s(l.gpus()) + " GPUs (dp*tp*pp*cp) but the cluster has " +
                   s(c.total_gpus()) + "; lower a degree or use a larger cluster");
}

nlohmann::json to_json(const Layout& l) {
  nlohmann::json j = {{"dp", l.dp},
          {"tp", l.tp},
          {"pp", l.pp},
          {"cp", l.cp},
          {"micro_batch", l.micro_batch},
          {"zero", l.zero},
          {"recompute", to_string(l.recompute)},
          {"sequence_parallel", l.sequence_parallel},
          {"schedule", to_string(l.schedule)},
          {"virtual_stages", l.virtual_stages},
          {"offload", to_string(l.offload)},
          {"offload_device", to_string(l.offload_device)},
          {"cp_kind", to_string(l.cp_kind)},
          {"ulysses", l.ulysses},
          {"ep", l.ep},
          {"etp", l.etp},
          {"shard_group", l.shard_group},
          {"tiles", l.tiles},
          {"first_stage_layers", l.first_stage_layers},
          {"last_stage_layers", l.last_stage_layers}};
  if (l.activation_offload_layers > 0) j["activation_offload_layers"] = l.activation_offload_layers;
  if (l.recompute == Recompute::Selective && l.recompute_modules != 0) {
    nlohmann::json mods = nlohmann::json::array();
    for (uint8_t bit = 1; bit != 0 && bit < 128; bit = uint8_t(bit << 1))
      if (l.recompute_modules & bit) mods.push_back(to_string(RecomputeModule(bit)));
    j["recompute_modules"] = mods;
  }
  return j;
}

std::string describe(const Layout& l) {
  std::string s = "dp=" + std::to_string(l.dp) + " tp=" + std::to_string(l.tp) +
                  " pp=" + std::to_string(l.pp) + " cp=" + std::to_string(l.cp) +
                  " mb=" + std::to_string(l.micro_batch) + " zero=" + std::to_string(l.zero) +
                  " rc=" + to_string(l.recompute);
  if (l.recompute == Recompute::Selective && l.recompute_modules != 0)
    s += "(" + recompute_modules_list(l.recompute_modules) + ")";
  if (l.sequence_parallel) s += " sp";
  if (l.pp > 1) s += std::string(" ") + to_string(l.schedule);
  if (l.virtual_stages > 1) s += " v=" + std::to_string(l.virtual_stages);
  if (l.offload != Offload::None) s += std::string(" offload=") + to_string(l.offload);
  if (l.offload != Offload::None && l.offload_device == OffloadDevice::Nvme) s += "@nvme";
  if (l.cp > 1 && l.cp_kind != CpKind::Ring) s += std::string(" cp_kind=") + to_string(l.cp_kind);
  if (l.ep > 1) s += " ep=" + std::to_string(l.ep);
  if (l.etp > 1) s += " etp=" + std::to_string(l.etp);
  if (l.shard_group > 0 && l.shard_group < l.dp) s += " shard=" + std::to_string(l.shard_group);
  if (l.tiles > 1) s += " tiles=" + std::to_string(l.tiles);
  if (l.first_stage_layers > 0 || l.last_stage_layers > 0)
    s += " stages=" + std::to_string(l.first_stage_layers) + "/" +
         std::to_string(l.last_stage_layers);
  if (l.activation_offload_layers > 0) s += " act_offload=" + std::to_string(l.activation_offload_layers);
  return s;
}

}  // namespace parplan
