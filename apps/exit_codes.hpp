#pragma once
// The exit codes of every parplan command (docs/errors.md).
namespace parplan::cli {

constexpr int kExitOk = 0;
constexpr int kExitInternal = 1;     // a bug in parplan: an unexpected exception
constexpr int kExitBadInput = 2;     // parplan::Error: bad input; the message names the field and fix
constexpr int kExitEnvironment = 3;  // parplan::EnvironmentError: disk full, peer died, port/lock held
// parplan::Interrupted (SIGINT/SIGTERM reached `parplan run`): 128 + the signal, 130 or 143.

}  // namespace parplan::cli
