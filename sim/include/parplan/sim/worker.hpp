#pragma once
// One SimGrid engine per process: a second engine in the same process does not start afresh.
// Each simulation therefore runs in a forked child that sends its result back as JSON through a
// pipe; the parent kills a child that runs past its wall-time limit.
#include <functional>
#include <nlohmann/json.hpp>
#include <vector>

namespace parplan::sim {

using ChildTask = std::function<nlohmann::json()>;

// Runs `task` in a forked child process and returns the JSON it produced. Throws parplan::Error
// with the child's message when it threw, and when it ran longer than max_wall_s (it is killed).
nlohmann::json run_in_child(const ChildTask& task, double max_wall_s);

// Runs the tasks in child processes, at most `parallel` at a time; results in task order. A task
// that fails or times out gives {"error": message} instead of throwing.
std::vector<nlohmann::json> run_in_children(const std::vector<ChildTask>& tasks, double max_wall_s,
                                            int parallel = 2);

}  // namespace parplan::sim
