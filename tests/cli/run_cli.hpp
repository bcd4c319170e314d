#pragma once
// Runs the parplan binary (env PARPLAN_BIN) with arguments; returns exit code and combined output.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <string>

struct CliResult {
  int code = -1;
  std::string out;
};

inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char ch : s) q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return q + "'";
}

// `args` is appended verbatim (already shell-quoted where needed); stderr joins stdout unless
// stdout_only.
inline CliResult run_cli(const std::string& args, bool stdout_only = false) {
  const char* bin = std::getenv("PARPLAN_BIN");
  CliResult r;
  if (!bin) {
    r.out = "PARPLAN_BIN not set";
    return r;
  }
  std::string cmd = shell_quote(bin) + " " + args + (stdout_only ? " 2>/dev/null" : " 2>&1");
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}
