#include "parplan/sim/worker.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "parplan/model/error.hpp"

namespace parplan::sim {

namespace {

struct Child {
  pid_t pid = -1;
  int fd = -1;
  std::string out;
  std::chrono::steady_clock::time_point start;
  size_t index = 0;
};

void write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

Child start(const ChildTask& task, size_t index) {
  int fds[2];
  if (::pipe(fds) != 0)
    throw Error(std::string("simulation: pipe() failed: ") + std::strerror(errno));
  std::fflush(nullptr);  // or the child would repeat the parent's buffered output
  const pid_t pid = ::fork();
  if (pid < 0) throw Error(std::string("simulation: fork() failed: ") + std::strerror(errno));
  if (pid == 0) {
    ::close(fds[0]);
    int code = 0;
    std::string text;
    try {
      text = task().dump();
    } catch (const std::exception& e) {
      text = nlohmann::json{{"error", e.what()}}.dump();
      code = 3;
    } catch (...) {
      text = nlohmann::json{{"error", "unknown failure in the simulation process"}}.dump();
      code = 3;
    }
    write_all(fds[1], text);
    ::close(fds[1]);
    ::_exit(code);
  }
  ::close(fds[1]);
  Child c;
  c.pid = pid;
  c.fd = fds[0];
  c.start = std::chrono::steady_clock::now();
  c.index = index;
  return c;
}

// Collects a finished child's output (pipe closed) as JSON.
nlohmann::json finish(Child& c) {
  ::close(c.fd);
  int status = 0;
  ::waitpid(c.pid, &status, 0);
  if (!c.out.empty()) {
    try {
      return nlohmann::json::parse(c.out);
    } catch (const std::exception&) {
    }
  }
  std::string why = WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                                        : "exit code " + std::to_string(WEXITSTATUS(status));
  return nlohmann::json{{"error", "the simulation process ended without a result (" + why + ")"}};
}

nlohmann::json timeout(Child& c, double max_wall_s) {
  ::kill(c.pid, SIGKILL);
  ::close(c.fd);
  ::waitpid(c.pid, nullptr, 0);
  return nlohmann::json{
      {"error", "simulation exceeded the wall-time limit of " + std::to_string(max_wall_s) +
                    " s (--max-sim-s) and was stopped; raise the limit or simulate fewer GPUs"}};
}

}  // namespace

std::vector<nlohmann::json> run_in_children(const std::vector<ChildTask>& tasks, double max_wall_s,
                                            int parallel) {
  std::vector<nlohmann::json> results(tasks.size());
  std::vector<Child> running;
  size_t next = 0;
  parallel = std::max(1, parallel);
  while (next < tasks.size() || !running.empty()) {
    while (next < tasks.size() && static_cast<int>(running.size()) < parallel) {
      running.push_back(start(tasks[next], next));
      ++next;
    }
    std::vector<pollfd> pfd;
    for (auto& c : running) pfd.push_back({c.fd, POLLIN, 0});
    ::poll(pfd.data(), pfd.size(), 100);
    const auto t = std::chrono::steady_clock::now();
    for (size_t i = running.size(); i-- > 0;) {
      Child& c = running[i];
      bool done = false;
      if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) {
        char buf[65536];
        const ssize_t n = ::read(c.fd, buf, sizeof buf);
        if (n > 0)
          c.out.append(buf, static_cast<size_t>(n));
        else if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
          results[c.index] = finish(c);
          done = true;
        }
      }
      if (!done && std::chrono::duration<double>(t - c.start).count() > max_wall_s) {
        results[c.index] = timeout(c, max_wall_s);
        done = true;
      }
      if (done) running.erase(running.begin() + static_cast<std::ptrdiff_t>(i));
    }
  }
  return results;
}

nlohmann::json run_in_child(const ChildTask& task, double max_wall_s) {
  auto r = run_in_children({task}, max_wall_s, 1);
  if (r[0].is_object() && r[0].contains("error") && r[0]["error"].is_string())
    throw Error(r[0]["error"].get<std::string>());
  return r[0];
}

}  // namespace parplan::sim
