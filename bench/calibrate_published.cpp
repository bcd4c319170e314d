// bench/calibrate_published: grid search of the cluster's physical efficiencies (matmul_max,
// matmul_half_dim, memory_bound, intra_node_link) that minimise the mean absolute error of the
// iteration times in a published file. Prints the best few; docs/calibration.md records the run.
// Usage: calibrate_published [published.json] [cluster]
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <vector>

#include "parplan/cost/validation.hpp"
#include "parplan/model/io.hpp"

int main(int argc, char** argv) {
  try {
    const std::string file = argc > 1 ? argv[1] : PARPLAN_DEFAULT_PUBLISHED;
    const std::string cname = argc > 2 ? argv[2] : "dgx-a100-80g";
    const auto pub = parplan::parse_json_text(parplan::read_file(file), file);
    parplan::Cluster c = parplan::load_cluster(cname);
    struct Row {
      double mape, worst, mm, half, mem, link;
    };
    std::vector<Row> rows;
    for (double mm = 0.60; mm <= 0.901; mm += 0.01)
      for (double half : {0.0, 32.0, 64.0, 96.0, 128.0, 192.0, 256.0})
        for (double mem = 0.5; mem <= 0.951; mem += 0.05)
          for (double link = 0.5; link <= 0.951; link += 0.05) {
            c.efficiency.matmul_max = mm;
            c.efficiency.matmul_half_dim = half;
            c.efficiency.memory_bound = mem;
            c.efficiency.intra_node_link = link;
            const auto rep = parplan::cost::validate_published(pub, c);
            rows.push_back({rep.iteration_mape, rep.iteration_max_abs_error, mm, half, mem, link});
          }
    std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.mape < b.mape; });
    std::printf("%8s %8s %10s %10s %12s %15s\n", "MAPE", "worst", "matmul_max", "half_dim",
                "memory_bound", "intra_node_link");
    for (size_t i = 0; i < std::min<size_t>(15, rows.size()); ++i)
      std::printf("%7.2f%% %7.2f%% %10.2f %10.0f %12.2f %15.2f\n", 100 * rows[i].mape,
                  100 * rows[i].worst, rows[i].mm, rows[i].half, rows[i].mem, rows[i].link);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
