#pragma once
// A server child process spoken to over pipes: newline-delimited JSON-RPC on its stdin and
// stdout, stderr to a file. Every wait is bounded by the timeout (poll), so a server that is
// missing, hangs or exits early ends in a bench_error that says so, never in a hang.
//
// Thread-safety: none; one thread owns a server_process.

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace bookmcp::bench {

// A failure that ends the benchmark; what() is meant for the user as is.
class bench_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct server_command {
  std::string path;                    // with a '/', used as is; otherwise looked up in PATH
  std::vector<std::string> arguments;  // after argv[0]
  std::string stderr_path;             // empty: an anonymous temporary file
};

// What the server left behind when it exited.
struct exit_report {
  int wait_status = 0;           // as from waitpid
  double cpu_seconds = 0;        // user + system time of the server process
  std::string describe() const;  // "exited with status 0", "killed by signal 9", ...
};

class server_process {
 public:
  // Spawns the server. Throws bench_error when it cannot be started (missing, not executable).
  server_process(server_command command, std::chrono::milliseconds timeout);
  // Kills the server if finish() was not called.
  ~server_process();
  server_process(const server_process&) = delete;
  server_process& operator=(const server_process&) = delete;

  // Writes all of `bytes` to the server's stdin. Throws bench_error when the server closed its
  // input or did not accept the bytes within the timeout.
  void write_all(std::string_view bytes);

  // Pops the next complete line already received (without its '\n'); nullopt when none is
  // buffered. The view stays valid until the next fill().
  std::optional<std::string_view> next_line();

  // Waits (at most the timeout) until the server wrote something and buffers it. Throws
  // bench_error on end of output (the server exited; the message has its status and the tail
  // of its stderr) or on timeout.
  void fill();

  // Closes the server's input (end of session), waits up to the timeout for it to exit, kills
  // it otherwise, and reports its exit. Call at most once.
  exit_report finish();

  // `what`, followed by the server's exit status when it has exited and the tail of its stderr.
  std::string explain(std::string_view what);

  const server_command& command() const { return command_; }

 private:
  std::optional<exit_report> reap(std::chrono::milliseconds wait);
  std::string stderr_tail() const;

  server_command command_;
  std::chrono::milliseconds timeout_;
  pid_t pid_ = -1;
  int to_server_ = -1;    // the server's stdin (non-blocking)
  int from_server_ = -1;  // the server's stdout (non-blocking)
  int stderr_fd_ = -1;    // the file the server's stderr goes to (read for error messages)
  std::optional<exit_report> exited_;
  std::vector<char> buffer_;
  std::size_t begin_ = 0;    // first unconsumed byte
  std::size_t end_ = 0;      // one past the last received byte
  std::size_t scanned_ = 0;  // bytes after begin_ already known to hold no '\n'
};

}  // namespace bookmcp::bench
