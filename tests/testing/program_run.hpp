// A test double's program run by its tests: spawned with a pipe on its standard input and one on
// its standard output, every wait bounded (10 s), so that a broken program fails a test instead
// of hanging it.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

extern char** environ;

namespace bookmcp::testing {

class program_run {
 public:
  // Spawns `program` with `arguments`; `pid()` is -1 when it could not.
  program_run(std::string program, std::vector<std::string> arguments) {
    int input[2];
    int output[2];
    if (pipe2(input, O_CLOEXEC) != 0 || pipe2(output, O_CLOEXEC) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, input[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, output[1], STDOUT_FILENO);
    arguments.insert(arguments.begin(), std::move(program));
    std::vector<char*> argv;
    for (auto& argument : arguments) argv.push_back(argument.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    ::close(input[0]);
    ::close(output[1]);
    stdin_ = input[1];
    stdout_ = output[0];
  }
  // Kills (SIGKILL) and reaps the program unless `wait_exit` reaped it.
  ~program_run() {
    close_stdin();
    if (stdout_ >= 0) ::close(stdout_);
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  program_run(const program_run&) = delete;
  program_run& operator=(const program_run&) = delete;

  pid_t pid() const { return pid_; }
  void close_stdin() {
    if (stdin_ >= 0) ::close(stdin_);
    stdin_ = -1;
  }

  // What the program printed up to the first newline (or the deadline).
  std::string first_line() {
    std::string line;
    char c;
    while (line.find('\n') == std::string::npos && wait_readable() && ::read(stdout_, &c, 1) == 1)
      line.push_back(c);
    return line;
  }

  // Waits (bounded) for the program to close its stdout, then reaps it; its exit status (128 +
  // the signal when a signal ended it), or -1.
  int wait_exit() {
    char scratch[256];
    while (wait_readable() && ::read(stdout_, scratch, sizeof scratch) > 0) {
    }
    if (!exited_) return -1;
    int status = 0;
    if (waitpid(pid_, &status, 0) != pid_) return -1;
    reaped_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  bool wait_readable() {
    pollfd watched{stdout_, POLLIN, 0};
    if (poll(&watched, 1, 10'000) <= 0) return false;
    if ((watched.revents & POLLIN) == 0) exited_ = true;  // POLLHUP alone: closed
    return true;
  }

  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
  bool exited_ = false;
  bool reaped_ = false;
};

// The port in a double's first line, "listening on http://127.0.0.1:<port>..."; 0 when the line
// is not that.
inline std::uint16_t listening_port(const std::string& line) {
  const std::string prefix = "listening on http://127.0.0.1:";
  if (line.rfind(prefix, 0) != 0) return 0;
  return static_cast<std::uint16_t>(std::stoi(line.substr(prefix.size())));
}

}  // namespace bookmcp::testing
