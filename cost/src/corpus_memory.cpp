#include "parplan/cost/corpus_memory.hpp"

#include <algorithm>
#include <cstdio>

namespace parplan::cost {

namespace {
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

std::vector<MemoryTerm> terms_of(const MemoryBreakdown& b) {
  std::vector<MemoryTerm> t = {{"params", b.params},         {"grads", b.grads},
                               {"optimizer", b.optimizer},   {"activations", b.activations},
                               {"buffers", b.buffers},       {"reserve", b.reserve}};
  std::stable_sort(t.begin(), t.end(), [](const MemoryTerm& a, const MemoryTerm& c) { return a.bytes > c.bytes; });
  return t;
}
}  // namespace

MemoryCheck memory_check(const std::vector<SourceReport>& in_sample) {
  MemoryCheck m;
  for (const auto& src : in_sample)
    for (const auto& row : src.rows) {
      const MemoryBreakdown& b = row.predicted.memory;
      ++m.rows;
      if (row.run->measured_memory_GiB > 0)
        m.published.push_back({row.run->label(), b.total, row.run->measured_memory_GiB * kGiB});
      if (b.fits) {
        ++m.fit;
        continue;
      }
      m.over.push_back({row.run->label(), b.total, b.capacity, b.stage, b.fits_host, terms_of(b)});
    }
  std::stable_sort(m.over.begin(), m.over.end(), [](const MemoryCheckRow& a, const MemoryCheckRow& c) {
    return a.predicted_bytes - a.capacity_bytes > c.predicted_bytes - c.capacity_bytes;
  });
  return m;
}

std::string memory_check_table(const MemoryCheck& m) {
  char buf[512];
  std::string s;
  std::snprintf(buf, sizeof buf,
                "Memory (every measured run ran, so it fit: the predicted peak per GPU, the peak pipeline stage as `predict` computes it, against the GPU's memory): %zu of %zu measured runs predicted to fit\n",
                m.fit, m.rows);
  s += buf;
  if (!m.over.empty()) {
    std::snprintf(buf, sizeof buf, "  %-44s %9s %9s %5s  %s\n", "run (ran, predicted not to fit)",
                  "predicted", "capacity", "stage", "largest terms (GiB)");
    s += buf;
    for (const auto& r : m.over) {
      std::string terms;
      for (size_t k = 0; k < r.terms.size() && k < 4; ++k) {
        std::snprintf(buf, sizeof buf, "%s%s %.1f", k ? ", " : "", r.terms[k].name, r.terms[k].bytes / kGiB);
        terms += buf;
      }
      if (!r.fits_host) terms += "; host memory exceeded";
      std::snprintf(buf, sizeof buf, "  %-44s %5.1f GiB %5.1f GiB %5d  %s\n", r.run.c_str(),
                    r.predicted_bytes / kGiB, r.capacity_bytes / kGiB, r.stage, terms.c_str());
      s += buf;
    }
  }
  if (!m.published.empty()) {
    s += "  Published peak per GPU (the source's own figure; a framework's allocator figure, so a lower bound of what it reserved):\n";
    for (const auto& p : m.published) {
      std::snprintf(buf, sizeof buf, "  %-44s predicted %5.1f GiB, measured %5.1f GiB (%+.0f%%)\n",
                    p.run.c_str(), p.predicted_bytes / kGiB, p.measured_bytes / kGiB,
                    100 * (p.predicted_bytes / p.measured_bytes - 1));
      s += buf;
    }
  }
  return s;
}

nlohmann::json to_json(const MemoryCheck& m) {
  nlohmann::json j = {{"runs", m.rows}, {"predicted_to_fit", m.fit},
                      {"predicted_not_to_fit", nlohmann::json::array()},
                      {"published_peak", nlohmann::json::array()}};
  for (const auto& r : m.over) {
    nlohmann::json terms = nlohmann::json::array();  // largest first
    for (const auto& t : r.terms) terms.push_back({{"term", t.name}, {"bytes", t.bytes}});
    j["predicted_not_to_fit"].push_back({{"run", r.run}, {"predicted_bytes", r.predicted_bytes},
                                         {"capacity_bytes", r.capacity_bytes}, {"stage", r.stage},
                                         {"fits_host", r.fits_host}, {"terms_bytes", terms}});
  }
  for (const auto& p : m.published)
    j["published_peak"].push_back({{"run", p.run}, {"predicted_bytes", p.predicted_bytes},
                                   {"measured_bytes", p.measured_bytes}});
  return j;
}

}  // namespace parplan::cost
