#pragma once
// The folder of runs `parplan import` writes (one corpus file per run), as `validate --runs` and
// `fit --runs` read it.
#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "parplan/cost/corpus.hpp"
#include "parplan/model/io.hpp"

namespace parplan::cli {

// Every *.json in `dir` (sorted by name), each read as a corpus file.
inline std::vector<cost::CorpusSource> load_runs_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw Error("--runs: '" + brief(dir, 200) + "' is not a directory (give the folder of the "
                "files `parplan import` wrote)");
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".json" && e.is_regular_file()) files.push_back(e.path().string());
  if (ec) throw EnvironmentError("--runs: cannot list '" + brief(dir, 200) + "': " + ec.message());
  std::sort(files.begin(), files.end());
  if (files.empty())
    throw Error("--runs: no *.json in '" + brief(dir, 200) + "'; write runs there with "
                "`parplan import LOG --cluster C --out " + brief(dir, 200) + "/RUN.json`");
  std::vector<cost::CorpusSource> out;
  for (const auto& f : files) {
    auto s = cost::corpus_source_from_json(parse_json_text(read_file(f), "'" + f + "'"), f);
    for (const auto& prev : out)
      if (prev.id == s.id)
        throw Error("--runs: two files have the id '" + brief(s.id) + "' (" + brief(f, 200) +
                    "); give each run its own id (parplan import --id)");
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace parplan::cli
