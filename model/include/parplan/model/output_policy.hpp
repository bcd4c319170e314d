#pragma once
// The one output policy of every parplan writer (CLI commands, the runtime, the GUI): what a path
// may be before anything is written to it, and where its lock lives. docs/errors.md "Output paths".
//
//   - an empty path, a directory, a device, FIFO or socket, a path in a missing folder: refused
//     (parplan::Error, exit 2, naming the option and the path); nothing is created or replaced;
//   - a symbolic link is written THROUGH: the regular file it points to is replaced and the link
//     stays; a link to a missing file, a device or a directory is refused like the target itself;
//   - the same file as any input of the command (same device and inode, or the same resolved
//     path): refused;
//   - a companion file (written next to the main output, e.g. ds_config.json beside a launch
//     script) that already exists: refused unless the command was given --force;
//   - a lock (`parplan run`) lives at `<resolved folder>/.<name>.parplan-lock`, a name no user file
//     has, holding a marker line, and only a file with that marker is ever removed.
// write_file_atomic() (io.hpp) applies the target checks itself, so every writer gets them even
// without calling check_output() first; commands call check_output() before their work so a bad
// path is refused in milliseconds, not after the work.
#include <string>
#include <vector>

namespace parplan {

// Checks `path` as the output named by `option` ("--out"): see above. `inputs` are the command's
// inputs as given (preset names and inline JSON are skipped: only existing paths are compared).
// Returns the path to write: `path` itself, or the file a symbolic link points to.
std::string check_output(const std::string& option, const std::string& path,
                         const std::vector<std::string>& inputs = {});
// A companion of the main output: check_output() plus, unless `force`, refused when it exists.
std::string check_companion(const std::string& option, const std::string& path,
                            const std::vector<std::string>& inputs, bool force);
// An output folder (`prepare --out DIR`): an existing directory or one whose parent exists; not a
// file, device or FIFO. Returns the path.
std::string check_output_dir(const std::string& option, const std::string& dir);
// Whether `a` and `b` name the same existing file (device + inode after following links).
bool same_file(const std::string& a, const std::string& b);

// The file a write to `path` replaces: links followed (at most 40), relative links resolved
// against their folder. Refuses (Error) a link to a missing file or a non-regular target.
std::string resolve_output_target(const std::string& path);

// The lock file for an output file or folder: `<resolved parent>/.<name>.parplan-lock`; for a
// folder (`dir_lock`), `<resolved dir>/.parplan-lock`. The same for every spelling of the path
// (relative, absolute, through a symbolic link).
std::string lock_path_for(const std::string& path, bool dir_lock = false);
// First bytes of every lock file parplan writes; a file without them is not removed.
inline constexpr const char* kLockMarker = "parplan-lock pid ";

// Ignores SIGXFSZ (when its disposition is the default), so that a write past `ulimit -f` fails with EFBIG (reported
// as an environment failure, exit 3, with the temporary removed) instead of killing the process.
void ignore_file_size_signal();

}  // namespace parplan
