#pragma once
// `parplan` keeps the planning commands (predict, plan, explain, export, validate, ...) free of
// LibTorch, SimGrid and Qt so it starts in milliseconds. The commands that need those libraries
// live in sibling executables that `parplan` replaces itself with (exec), so the user still types
// `parplan run`: run, calibrate, prepare, compare, fit (and the hidden worker) in parplan-run,
// simulate in parplan-sim.
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace parplan::cli {

// The sibling executable that serves argv's subcommand ("" : parplan itself).
std::string delegate_for(int argc, char** argv);
// execv's the sibling next to this executable; returns only on failure, with exit code 3 and a
// message naming the missing file and how to build it.
int exec_sibling(const std::string& name, int argc, char** argv);
// The path of a sibling executable next to this one (/proc/self/exe's directory).
std::string sibling_path(const std::string& name);
// Lists the delegated commands in `parplan --help` (those not registered already).
void add_delegated_commands(CLI::App& app);

}  // namespace parplan::cli
