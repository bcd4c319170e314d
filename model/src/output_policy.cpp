#include "parplan/model/output_policy.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "parplan/model/error.hpp"

namespace parplan {

namespace fs = std::filesystem;

namespace {
std::string q(const std::string& path) { return "'" + brief(path, 200) + "'"; }

std::string folder_of(const std::string& path) {
  fs::path p(path);
  return p.has_parent_path() && !p.parent_path().empty() ? p.parent_path().string() : std::string(".");
}

// The parent folder of a file about to be created must exist, be a folder and be writable.
void check_parent(const std::string& shown_path, const std::string& target) {
  const std::string parent = folder_of(target);
  struct stat st {};
  if (::stat(parent.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR)
      throw Error(q(shown_path) + ": its folder does not exist (" + q(parent) +
                  "); create it or fix the path (parplan creates no folders for a file)");
    throw Error(q(shown_path) + ": cannot reach its folder " + q(parent) + ": " +
                std::strerror(errno));
  }
  if (!S_ISDIR(st.st_mode))
    throw Error(q(shown_path) + ": " + q(parent) + " is not a folder; fix the path");
  if (::access(parent.c_str(), W_OK | X_OK) != 0 && (errno == EACCES || errno == EROFS))
    throw Error(q(shown_path) + ": its folder " + q(parent) + " is not writable (" +
                std::strerror(errno) + "); choose a writable location");
}
}  // namespace

std::string resolve_output_target(const std::string& path) {
  if (path.empty()) throw Error("the output path is empty; name a file");
  std::string target = path;
  for (int hops = 0;; ++hops) {
    struct stat st {};
    if (::lstat(target.c_str(), &st) != 0) {
      if (errno != ENOENT && errno != ENOTDIR)
        throw Error(q(path) + ": " + std::strerror(errno) + "; check the path");
      if (target != path)
        throw Error(q(path) + " is a symbolic link to " + q(target) +
                    ", which does not exist; parplan writes through links only to existing files: "
                    "write to the target directly or remove the link");
      check_parent(path, target);
      return target;
    }
    if (S_ISLNK(st.st_mode)) {
      if (hops >= 40) throw Error(q(path) + ": too many levels of symbolic links; fix the link");
      std::string to(size_t(st.st_size > 0 ? st.st_size : 4096) + 1, '\0');
      ssize_t n = ::readlink(target.c_str(), to.data(), to.size());
      if (n < 0) throw Error(q(path) + ": cannot read the link: " + std::strerror(errno));
      to.resize(size_t(n));
      target = (!to.empty() && to[0] == '/') ? to : (fs::path(folder_of(target)) / to).string();
      continue;
    }
    const std::string via = target == path ? "" : " (a symbolic link to " + q(target) + ")";
    if (S_ISDIR(st.st_mode))
      throw Error(q(path) + via + " is a directory; give a file name inside it");
    if (!S_ISREG(st.st_mode))
      throw Error(q(path) + via +
                  " is not a regular file (a device, FIFO or socket); parplan writes and replaces "
                  "regular files only: choose a file path");
    check_parent(path, target);
    return target;
  }
}

bool same_file(const std::string& a, const std::string& b) {
  if (a.empty() || b.empty()) return false;
  struct stat sa {}, sb {};
  if (::stat(a.c_str(), &sa) != 0 || ::stat(b.c_str(), &sb) != 0) return false;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

std::string check_output(const std::string& option, const std::string& path,
                         const std::vector<std::string>& inputs) {
  if (path.empty()) throw Error(option + " is empty; name the file to write");
  std::string target;
  try {
    target = resolve_output_target(path);
  } catch (const EnvironmentError&) {
    throw;
  } catch (const Error& e) {
    throw Error(option + " " + e.what());
  }
  std::error_code ec;
  const fs::path resolved = fs::weakly_canonical(target, ec);
  for (const auto& in : inputs) {
    if (in.empty() || in.front() == '{') continue;  // inline JSON
    bool same = same_file(in, target);
    if (!same && !ec) {
      std::error_code ec2;
      const fs::path rin = fs::weakly_canonical(in, ec2);
      same = !ec2 && fs::exists(in, ec2) && rin == resolved;
    }
    if (same)
      throw Error(option + " " + q(path) + " is the same file as the input " + q(in) +
                  "; write to another file (parplan never replaces its own inputs)");
  }
  return target;
}

std::string check_companion(const std::string& option, const std::string& path,
                            const std::vector<std::string>& inputs, bool force) {
  std::string target = check_output(option, path, inputs);
  struct stat st {};
  if (!force && ::lstat(path.c_str(), &st) == 0)
    throw Error(option + ": its companion file " + q(path) +
                " already exists and would be replaced; move it away, choose another --out "
                "folder, or pass --force to replace it");
  return target;
}

std::string check_output_dir(const std::string& option, const std::string& dir) {
  if (dir.empty()) throw Error(option + " is empty; name the folder to write into");
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode))
      throw Error(option + " " + q(dir) + " is not a folder (" +
                  (S_ISREG(st.st_mode) ? "a file" : "a device, FIFO or socket") +
                  "); name a folder to write into");
    if (::access(dir.c_str(), W_OK | X_OK) != 0 && (errno == EACCES || errno == EROFS))
      throw Error(option + " " + q(dir) + " is not writable; choose a writable location");
    return dir;
  }
  if (errno != ENOENT)
    throw Error(option + " " + q(dir) + ": " + std::strerror(errno) + "; check the path");
  try {
    check_parent(dir, dir);
  } catch (const Error& e) {
    throw Error(option + " " + e.what());
  }
  return dir;
}

std::string lock_path_for(const std::string& path, bool dir_lock) {
  std::error_code ec;
  if (dir_lock) {
    fs::path d = fs::canonical(path, ec);
    if (ec) d = fs::absolute(path, ec);
    return (d / ".parplan-lock").string();
  }
  const std::string target = resolve_output_target(path);
  fs::path parent = fs::canonical(folder_of(target), ec);
  if (ec) parent = fs::absolute(folder_of(target), ec);
  return (parent / ("." + fs::path(target).filename().string() + ".parplan-lock")).string();
}

void ignore_file_size_signal() {
  // Every time (two cheap system calls): a handler the program installed is kept, a default one
  // (which kills) is replaced, also after something reset it.
  struct sigaction old {};
  if (::sigaction(SIGXFSZ, nullptr, &old) == 0 && !(old.sa_flags & SA_SIGINFO) &&
      old.sa_handler == SIG_DFL)
    ::signal(SIGXFSZ, SIG_IGN);
}

}  // namespace parplan
