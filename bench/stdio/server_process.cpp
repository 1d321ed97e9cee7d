#include "bench/stdio/server_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

extern char** environ;

namespace bookmcp::bench {

namespace {

using clock_type = std::chrono::steady_clock;

std::string system_message(std::string_view what, int error) {
  return std::string(what) + ": " + std::strerror(error);
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

int remaining_ms(clock_type::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count()) + 1;
}

// Fails early and clearly for the common mistakes, before posix_spawn's terser error.
void check_executable(const std::string& path) {
  if (path.find('/') == std::string::npos) return;  // looked up in PATH by posix_spawnp
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    throw bench_error(system_message("cannot run the server " + path, errno));
  }
  if (S_ISDIR(info.st_mode) || ::access(path.c_str(), X_OK) != 0) {
    throw bench_error("cannot run the server " + path + ": not an executable file");
  }
}

}  // namespace

std::string exit_report::describe() const {
  if (WIFEXITED(wait_status))
    return "exited with status " + std::to_string(WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) {
    return "was killed by signal " + std::to_string(WTERMSIG(wait_status)) + " (" +
           strsignal(WTERMSIG(wait_status)) + ")";
  }
  return "ended with wait status " + std::to_string(wait_status);
}

server_process::server_process(server_command command, std::chrono::milliseconds timeout)
    : command_(std::move(command)), timeout_(timeout), buffer_(1 << 18) {
  check_executable(command_.path);

  // The server's stderr: the named file, or an unlinked temporary one that vanishes with us
  // but can still be read to explain a failure.
  if (command_.stderr_path.empty()) {
    char name[] = "/tmp/bookmcp_stdio_bench.XXXXXX";
    stderr_fd_ = ::mkostemp(name, O_CLOEXEC);
    if (stderr_fd_ < 0)
      throw bench_error(system_message("cannot create a file for the server's stderr", errno));
    ::unlink(name);
  } else {
    stderr_fd_ = ::open(command_.stderr_path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (stderr_fd_ < 0)
      throw bench_error(system_message("cannot open " + command_.stderr_path, errno));
  }

  // Close-on-exec everywhere: the child keeps only what dup2 gives it as 0, 1 and 2.
  int input[2];
  int output[2];
  if (::pipe2(input, O_CLOEXEC) != 0) throw bench_error(system_message("pipe", errno));
  if (::pipe2(output, O_CLOEXEC) != 0) {
    ::close(input[0]);
    ::close(input[1]);
    throw bench_error(system_message("pipe", errno));
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, input[0], 0);
  posix_spawn_file_actions_adddup2(&actions, output[1], 1);
  posix_spawn_file_actions_adddup2(&actions, stderr_fd_, 2);
  // The child starts with default signal dispositions even though we ignore SIGPIPE.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> argv;
  argv.push_back(command_.path.data());
  for (auto& argument : command_.arguments) argv.push_back(argument.data());
  argv.push_back(nullptr);
  const bool search_path = command_.path.find('/') == std::string::npos;
  const int spawned = search_path ? ::posix_spawnp(&pid_, command_.path.c_str(), &actions,
                                                   &attributes, argv.data(), environ)
                                  : ::posix_spawn(&pid_, command_.path.c_str(), &actions,
                                                  &attributes, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  ::close(input[0]);
  ::close(output[1]);
  to_server_ = input[1];
  from_server_ = output[0];
  if (spawned != 0) {
    pid_ = -1;
    close_fd(to_server_);
    close_fd(from_server_);
    close_fd(stderr_fd_);
    throw bench_error(system_message("cannot run the server " + command_.path, spawned));
  }
  ::fcntl(to_server_, F_SETFL, ::fcntl(to_server_, F_GETFL) | O_NONBLOCK);
  ::fcntl(from_server_, F_SETFL, ::fcntl(from_server_, F_GETFL) | O_NONBLOCK);
}

server_process::~server_process() {
  close_fd(to_server_);
  close_fd(from_server_);
  if (pid_ > 0 && !exited_) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  close_fd(stderr_fd_);
}

void server_process::write_all(std::string_view bytes) {
  const auto deadline = clock_type::now() + timeout_;
  while (!bytes.empty()) {
    const ssize_t written = ::write(to_server_, bytes.data(), bytes.size());
    if (written > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(written));
      continue;
    }
    if (written < 0 && errno == EINTR) continue;
    if (written < 0 && errno == EPIPE) throw bench_error(explain("the server closed its input"));
    if (written < 0 && errno != EAGAIN)
      throw bench_error(explain(system_message("writing to the server", errno)));
    pollfd waiting{to_server_, POLLOUT, 0};
    const int ready = ::poll(&waiting, 1, remaining_ms(deadline));
    if (ready < 0 && errno != EINTR) throw bench_error(system_message("poll", errno));
    if (ready == 0) {
      throw bench_error(explain("the server did not read its input for " +
                                std::to_string(timeout_.count()) + " ms"));
    }
  }
}

std::optional<std::string_view> server_process::next_line() {
  const char* start = buffer_.data() + begin_;
  const auto* newline =
      static_cast<const char*>(std::memchr(start + scanned_, '\n', end_ - begin_ - scanned_));
  if (!newline) {
    scanned_ = end_ - begin_;
    return std::nullopt;
  }
  const std::string_view line(start, static_cast<std::size_t>(newline - start));
  begin_ += line.size() + 1;
  scanned_ = 0;
  return line;
}

void server_process::fill() {
  // Keep room for a large read: move the partial line to the front, grow for long lines.
  if (begin_ == end_) {
    begin_ = end_ = 0;
  } else if (buffer_.size() - end_ < buffer_.size() / 4) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
    if (buffer_.size() - end_ < buffer_.size() / 4) buffer_.resize(buffer_.size() * 2);
  }
  const auto deadline = clock_type::now() + timeout_;
  for (;;) {
    const ssize_t got = ::read(from_server_, buffer_.data() + end_, buffer_.size() - end_);
    if (got > 0) {
      end_ += static_cast<std::size_t>(got);
      return;
    }
    if (got == 0) throw bench_error(explain("the server closed its output before answering"));
    if (errno == EINTR) continue;
    if (errno != EAGAIN)
      throw bench_error(explain(system_message("reading from the server", errno)));
    pollfd waiting{from_server_, POLLIN, 0};
    const int ready = ::poll(&waiting, 1, remaining_ms(deadline));
    if (ready < 0 && errno != EINTR) throw bench_error(system_message("poll", errno));
    if (ready == 0) {
      throw bench_error(
          explain("no answer from the server within " + std::to_string(timeout_.count()) + " ms"));
    }
  }
}

std::optional<exit_report> server_process::reap(std::chrono::milliseconds wait) {
  if (exited_ || pid_ <= 0) return exited_;
  const auto deadline = clock_type::now() + wait;
  for (;;) {
    int status = 0;
    rusage usage{};
    const pid_t done = ::wait4(pid_, &status, WNOHANG, &usage);
    if (done == pid_) {
      exit_report report;
      report.wait_status = status;
      report.cpu_seconds =
          static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
          static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
      exited_ = report;
      return exited_;
    }
    if (done < 0 && errno != EINTR) return std::nullopt;
    if (clock_type::now() >= deadline) return std::nullopt;
    // Only on the way out (end of session or an error), never while measuring.
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

exit_report server_process::finish() {
  close_fd(to_server_);
  if (auto report = reap(timeout_)) return *report;
  ::kill(pid_, SIGKILL);
  if (auto report = reap(timeout_)) return *report;
  throw bench_error("the server (pid " + std::to_string(pid_) +
                    ") did not exit even after SIGKILL");
}

std::string server_process::explain(std::string_view what) {
  std::string message(what);
  // A server that closed its pipes is usually exiting; give it a moment to be reaped.
  if (auto report = reap(std::chrono::milliseconds(500))) {
    message += "; the server " + report->describe();
  }
  message += " (server: " + command_.path;
  for (const auto& argument : command_.arguments) message += " " + argument;
  message += ")";
  const std::string tail = stderr_tail();
  if (!tail.empty()) message += "\nlast lines of the server's stderr:\n" + tail;
  return message;
}

std::string server_process::stderr_tail() const {
  if (stderr_fd_ < 0) return {};
  constexpr off_t kTailBytes = 2048;
  struct stat info {};
  if (::fstat(stderr_fd_, &info) != 0 || info.st_size == 0) return {};
  const off_t start = info.st_size > kTailBytes ? info.st_size - kTailBytes : 0;
  std::string tail(static_cast<std::size_t>(info.st_size - start), '\0');
  const ssize_t got = ::pread(stderr_fd_, tail.data(), tail.size(), start);
  if (got <= 0) return {};
  tail.resize(static_cast<std::size_t>(got));
  if (start > 0) {
    if (const auto first = tail.find('\n'); first != std::string::npos) tail.erase(0, first + 1);
  }
  while (!tail.empty() && tail.back() == '\n') tail.pop_back();
  return tail;
}

}  // namespace bookmcp::bench
