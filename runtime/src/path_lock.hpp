#pragma once
// An exclusive advisory lock (flock) on `<path>.lock` or `<dir>/.lock`, so two runs never write the
// same --out or --ckpt-dir. Torch-free.
#include <string>

namespace parplan::runtime {

class PathLock {
 public:
  // Takes the lock at `lock_file` or throws parplan::EnvironmentError naming `what` (e.g.
  // "--out run.json") and the pid that holds it. The lock file is removed on release.
  PathLock(const std::string& lock_file, const std::string& what);
  ~PathLock();
  PathLock(const PathLock&) = delete;
  PathLock& operator=(const PathLock&) = delete;

 private:
  std::string file_;
  int fd_ = -1;
};

}  // namespace parplan::runtime
