#include "path_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "parplan/model/error.hpp"
#include "parplan/model/output_policy.hpp"

namespace parplan::runtime {

PathLock::PathLock(const std::string& lock_file, const std::string& what) : file_(lock_file) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    // O_NOFOLLOW: a link planted under the lock's name is refused, not followed.
    int fd = ::open(file_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
      throw Error("cannot create the lock file '" + brief(file_, 200) + "' for " + what + ": " +
                  std::strerror(errno) + "; choose a writable location");
    struct stat own {};
    if (::fstat(fd, &own) != 0 || !S_ISREG(own.st_mode)) {
      ::close(fd);
      throw Error("'" + brief(file_, 200) + "' (the lock of " + what +
                  ") is not a regular file; parplan leaves it alone: remove or rename it");
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      char pid[32] = {};
      ssize_t n = ::pread(fd, pid, sizeof pid - 1, 0);
      ::close(fd);
      std::string holder = n > 0 ? std::string(pid, size_t(n)) : std::string("?");
      if (holder.starts_with(kLockMarker)) holder = holder.substr(std::strlen(kLockMarker));
      while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
      if (err == EWOULDBLOCK)
        throw EnvironmentError(what + " is in use by another parplan run (pid " + brief(holder) +
                               ", lock '" + brief(file_, 200) +
                               "'); wait for it to finish or choose another path");
      throw EnvironmentError("cannot lock '" + brief(file_, 200) + "' for " + what + ": " +
                             std::strerror(err));
    }
    // The previous holder may have removed the file between our open and flock: then the lock
    // is on an orphaned inode; open the path again.
    struct stat a {}, b {};
    if (::fstat(fd, &a) == 0 && ::stat(file_.c_str(), &b) == 0 && a.st_ino == b.st_ino &&
        a.st_dev == b.st_dev) {
      // Ours only when empty (just created) or marked by parplan: a file someone else put under
      // this name is neither overwritten nor removed.
      char head[32] = {};
      ssize_t got = ::pread(fd, head, std::strlen(kLockMarker), 0);
      if (got > 0 && std::string(head, size_t(got)) != kLockMarker) {
        ::close(fd);
        throw Error("'" + brief(file_, 200) + "' (the lock of " + what +
                    ") exists and was not written by parplan; parplan leaves it alone: remove or "
                    "rename it");
      }
      std::string me = std::string(kLockMarker) + std::to_string(::getpid()) + "\n";
      if (::ftruncate(fd, 0) == 0) {
        [[maybe_unused]] ssize_t w = ::pwrite(fd, me.data(), me.size(), 0);  // who holds it
      }
      fd_ = fd;
      return;
    }
    ::close(fd);
  }
  throw EnvironmentError("cannot lock '" + brief(file_, 200) + "' for " + what +
                         ": it keeps being replaced by another process");
}

PathLock::~PathLock() {
  if (fd_ < 0) return;
  ::unlink(file_.c_str());  // while still holding the lock: a waiter re-checks the inode
  ::close(fd_);
}

}  // namespace parplan::runtime
