#include "parplan/model/io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "parplan/model/output_policy.hpp"
#include "presets.hpp"

namespace parplan {

namespace {
const char* kind_name(InputKind k) {
  switch (k) {
    case InputKind::Model: return "model";
    case InputKind::Cluster: return "cluster";
    case InputKind::Training: return "train";
    case InputKind::Layout: return "layout";
    case InputKind::Plan: return "plan";
  }
  return "input";
}
const char* kind_folder(InputKind k) {
  switch (k) {
    case InputKind::Model: return "models";
    case InputKind::Cluster: return "clusters";
    case InputKind::Training: return "trainings";
    case InputKind::Layout: return "layouts";
    case InputKind::Plan: return "plans";
  }
  return "";
}
std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}
template <class T, class F>
T load(InputKind kind, const std::string& spec, std::vector<std::string>* warnings, F parse) {
  nlohmann::json j = resolve_input(kind, spec);
  Diagnostics d;
  T v = parse(j, d);
  if (warnings)
    for (auto& w : d.warnings) warnings->push_back("warning: " + w);
  d.throw_if_errors(std::string(kind_name(kind)) + " '" +
                    brief(spec, 60) + "'");
  return v;
}
}  // namespace

std::string read_file(const std::string& path, uint64_t max_bytes) {
  const std::string shown = "'" + brief(path, 200) + "'";
  // O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then decides.
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR)
      throw Error("cannot open " + shown + ": no such file; check the path");
    if (err == EACCES || err == EPERM)
      throw Error("cannot open " + shown + ": permission denied; check its permissions");
    throw EnvironmentError("cannot open " + shown + ": " + std::strerror(err));
  }
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw EnvironmentError("cannot stat " + shown + ": " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) throw Error(shown + " is a directory; pass a file");
  if (!S_ISREG(st.st_mode))
    throw Error(shown + " is not a regular file (a device, FIFO or socket); pass a file");
  if (uint64_t(st.st_size) > max_bytes)
    throw Error(shown + " is " + std::to_string(st.st_size) + " bytes, over the limit of " +
                std::to_string(max_bytes) + " bytes for this input; pass the right file");
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  std::string text;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw EnvironmentError("reading " + shown + " failed: " + std::strerror(errno));
    if (n == 0) break;
    text.append(buf, size_t(n));
    if (text.size() > max_bytes)  // it grew while being read
      throw Error(shown + " is over the limit of " + std::to_string(max_bytes) + " bytes for this input");
  }
  return text;
}

namespace {
[[noreturn]] void throw_write_error(const std::string& path, int err, const std::string& doing) {
  std::string msg = doing + " '" + brief(path, 200) + "' failed: " + std::strerror(err);
  switch (err) {
    case ENOENT: case ENOTDIR:
      throw Error(msg + "; its folder does not exist, create it or fix the path");
    case EACCES: case EPERM: case EROFS:
      throw Error(msg + "; choose a writable location");
    case EISDIR:
      throw Error(msg + "; it is a directory, give a file name");
    case ENOSPC: case EDQUOT:
      throw EnvironmentError(msg + " (the disk is full); free space or write elsewhere");
    case EFBIG:
      throw EnvironmentError(msg + " (over the file-size limit, `ulimit -f`); raise the limit or "
                             "write elsewhere");
    default:
      throw EnvironmentError(msg);
  }
}
mode_t current_umask() {
  mode_t m = ::umask(0);
  ::umask(m);
  return m;
}
}  // namespace

void write_file_atomic(const std::string& path, const std::string& text) {
  // The output policy (output_policy.hpp): no device, FIFO, socket or directory is ever replaced;
  // a symbolic link is written through (its target replaced, the link kept).
  const std::string target = resolve_output_target(path);
  ignore_file_size_signal();  // past `ulimit -f`: EFBIG (exit 3, temporary removed), not a kill
  struct stat old {};
  const bool existed = ::stat(target.c_str(), &old) == 0 && S_ISREG(old.st_mode);
  // The temporary is a unique sibling (same filesystem, so rename is atomic; mkstemp never
  // replaces an existing file) and is removed on every failure.
  std::string tmpl = target + ".tmp.XXXXXX";
  int fd = ::mkstemp(tmpl.data());
  if (fd < 0) throw_write_error(path, errno, "writing");
  const std::string tmp = tmpl;
  auto fail = [&](int err, const char* doing) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw_write_error(path, err, doing);
  };
  // A replaced file keeps its permission bits; a new one gets what open(O_CREAT) would give.
  ::fchmod(fd, existed ? (old.st_mode & 07777) : (0666 & ~current_umask()));
  for (size_t off = 0; off < text.size();) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(errno, "writing");
    off += size_t(n);
  }
  if (::fsync(fd) != 0) fail(errno, "writing");
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw_write_error(path, err, "writing");
  }
  if (std::rename(tmp.c_str(), target.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw_write_error(path, err, "replacing");
  }
}

nlohmann::json parse_json_text(const std::string& text, const std::string& what) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    // The library's message quotes the last token read, which can be megabytes long.
    std::string why = e.what();
    for (const char* cut : {"] ", ": "}) {  // "[json.exception...] parse error at line 1, column 5: "
      auto at = why.find(cut);
      if (at != std::string::npos) why = why.substr(at + std::strlen(cut));
    }
    throw Error("malformed JSON in " + what + " at byte " + std::to_string(e.byte) + ": " +
                brief(why, 160) + "; fix the syntax (quotes, commas, braces)");
  } catch (const nlohmann::json::exception& e) {  // e.g. out_of_range 406: number overflow
    std::string why = e.what();
    auto at = why.find("] ");
    if (at != std::string::npos) why = why.substr(at + 2);
    throw Error("malformed JSON in " + what + ": " + brief(why, 160) +
                "; use numbers a double can hold");
  }
}

nlohmann::json resolve_input(InputKind kind, const std::string& spec) {
  std::string what = std::string("--") + kind_name(kind);
  size_t first = spec.find_first_not_of(" \t\r\n");
  if (first == std::string::npos)
    throw Error(what + " is empty; pass a preset name, a JSON file or inline JSON");
  if (spec[first] == '{') return parse_json_text(spec, what + " (inline JSON)");
  std::error_code ec;
  if (std::filesystem::exists(spec, ec)) return parse_json_text(read_file(spec), "'" + brief(spec, 200) + "'");
  if (const char* text = detail::find_preset(kind_folder(kind), spec))
    return parse_json_text(text, "preset " + spec);
  if (spec.find('/') != std::string::npos || spec.ends_with(".json"))
    throw Error("cannot open '" + brief(spec, 200) + "': no such file; check the path");
  throw Error(what + " '" + brief(spec, 200) + "' is neither a file nor a preset; presets: " +
              join(preset_names(kind)));
}

std::vector<std::string> preset_names(InputKind kind) {
  return detail::preset_names(kind_folder(kind));
}

const char* find_preset_text(const std::string& folder, const std::string& name) {
  return detail::find_preset(folder, name);
}
std::vector<std::string> preset_names_in(const std::string& folder) {
  return detail::preset_names(folder);
}

Model load_model(const std::string& spec, std::vector<std::string>* w) {
  return load<Model>(InputKind::Model, spec, w,
                     [](const nlohmann::json& j, Diagnostics& d) { return model_from_json(j, d); });
}
Cluster load_cluster(const std::string& spec, std::vector<std::string>* w) {
  return load<Cluster>(InputKind::Cluster, spec, w, [](const nlohmann::json& j, Diagnostics& d) {
    return cluster_from_json(j, d);
  });
}
Training load_training(const std::string& spec, std::vector<std::string>* w) {
  return load<Training>(InputKind::Training, spec, w, [](const nlohmann::json& j, Diagnostics& d) {
    return training_from_json(j, d);
  });
}
Layout load_layout(const std::string& spec, std::vector<std::string>* w) {
  return load<Layout>(InputKind::Layout, spec, w, [](const nlohmann::json& j, Diagnostics& d) {
    return layout_from_json(j, d);
  });
}
Plan load_plan(const std::string& spec, std::vector<std::string>* w) {
  return load<Plan>(InputKind::Plan, spec, w,
                    [](const nlohmann::json& j, Diagnostics& d) { return plan_from_json(j, d); });
}

}  // namespace parplan
