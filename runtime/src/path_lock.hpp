#pragma once
// An exclusive advisory lock (flock) on lock_path_for(out) = `<resolved folder>/.<name>.parplan-lock`
// or `<resolved ckpt-dir>/.parplan-lock` (parplan/model/output_policy.hpp), so two runs never write
// the same --out or --ckpt-dir, whatever spelling or symbolic link names it. The file holds
// "parplan-lock pid N"; a file under that name without the marker is refused and left alone.
// Torch-free.
#include <string>

namespace parplan::runtime {

class PathLock {
 public:
  // Takes the lock at `lock_file` or throws parplan::EnvironmentError naming `what` (e.g.
  // "--out run.json") and the pid that holds it. The lock file (ours) is removed on release.
  PathLock(const std::string& lock_file, const std::string& what);
  ~PathLock();
  PathLock(const PathLock&) = delete;
  PathLock& operator=(const PathLock&) = delete;

 private:
  std::string file_;
  int fd_ = -1;
};

}  // namespace parplan::runtime
