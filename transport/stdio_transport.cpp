#include "transport/stdio_transport.hpp"

#include <poll.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "mcp/session.hpp"

namespace bookmcp::transport {

namespace {

// Writes queued messages, each followed by '\n', batching whatever has accumulated into one
// writev so that pipelined responses cost one system call per batch, not per message.
class fd_writer final : public mcp::message_sink {
 public:
  fd_writer(int fd, std::size_t max_queued) : fd_(fd), max_queued_(max_queued) {
    thread_ = std::thread([this] { run(); });
  }
  ~fd_writer() override { stop(); }

  bool send(std::string message, const mcp::outbound_route&) override {
    // A thread that must not block (mcp::non_blocking_scope: the store's reactor answering a
    // call) neither waits for room nor writes to the pipe itself: it queues (past the bound,
    // which the tools' concurrency limits keep small) for the writer thread.
    const bool may_block = !mcp::non_blocking_scope::active();
    std::unique_lock lock(mutex_);
    if (may_block) space_.wait(lock, [&] { return closed_ || queue_.size() < max_queued_; });
    if (closed_) return false;
    if (may_block && !writing_ && queue_.empty() && !closing_ && !contended_ &&
        !(corked_ && std::this_thread::get_id() == reader_)) {
      // Nobody is writing and nobody was lately: write from this thread and save the hand-off
      // to the writer (what a client waiting for one answer feels).
      writing_ = true;
      lock.unlock();
      static char newline = '\n';
      std::vector<iovec> vectors = {{message.data(), message.size()}, {&newline, 1}};
      const bool ok = write_all(vectors);
      lock.lock();
      writing_ = false;
      if (!ok) {
        closed_ = true;
        queue_.clear();
        space_.notify_all();
        return false;
      }
      if (!queue_.empty() || closing_) ready_.notify_one();
      return true;
    }
    // Senders are colliding (pipelined requests): let the writer thread batch them into one
    // writev until it finds the queue empty again.
    if (writing_) contended_ = true;
    queue_.push_back(std::move(message));
    if ((queue_.size() == 1 && !corked_) || queue_.size() == max_queued_ / 2 || !may_block)
      ready_.notify_one();
    return true;
  }

  // While the reader works through a buffer of pipelined requests, its own answers are only
  // queued; uncork() then hands them to the writer in one batch (one writev, one wake-up).
  void cork() {
    std::lock_guard lock(mutex_);
    corked_ = true;
    reader_ = std::this_thread::get_id();
  }
  void uncork() {
    std::lock_guard lock(mutex_);
    corked_ = false;
    if (!queue_.empty()) ready_.notify_one();
  }

  void close() override {
    std::lock_guard lock(mutex_);
    closing_ = true;
    ready_.notify_all();
  }

  // Flushes what is queued and joins the writer thread.
  void stop() {
    close();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void run() {
    std::vector<std::string> batch;
    std::vector<iovec> vectors;
    static char newline = '\n';
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        ready_.wait(lock, [&] {
          return !writing_ && (closing_ || (!queue_.empty() && (!corked_ || queue_.size() >= max_queued_ / 2)));
        });
        if (queue_.empty()) {
          closed_ = true;
          space_.notify_all();
          return;
        }
        writing_ = true;
        batch.clear();
        while (!queue_.empty() && batch.size() < 512) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
        space_.notify_all();
      }
      vectors.clear();
      for (auto& message : batch) {
        vectors.push_back({message.data(), message.size()});
        vectors.push_back({&newline, 1});
      }
      const bool ok = write_all(vectors);
      std::lock_guard lock(mutex_);
      writing_ = false;
      if (queue_.empty()) contended_ = false;
      if (!ok) {
        closed_ = true;
        queue_.clear();
        space_.notify_all();
        return;
      }
    }
  }

  bool write_all(std::vector<iovec>& vectors) {
    std::size_t index = 0;
    while (index < vectors.size()) {
      const int count = static_cast<int>(std::min<std::size_t>(vectors.size() - index, IOV_MAX));
      const ssize_t written = ::writev(fd_, vectors.data() + index, count);
      if (written < 0) {
        if (errno == EINTR) continue;
        spdlog::warn("stdio: output closed ({})", std::strerror(errno));
        return false;
      }
      std::size_t left = static_cast<std::size_t>(written);
      while (left > 0 && index < vectors.size()) {
        if (left >= vectors[index].iov_len) {
          left -= vectors[index].iov_len;
          ++index;
        } else {
          vectors[index].iov_base = static_cast<char*>(vectors[index].iov_base) + left;
          vectors[index].iov_len -= left;
          left = 0;
        }
      }
    }
    return true;
  }

  int fd_;
  std::size_t max_queued_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::condition_variable space_;
  std::deque<std::string> queue_;
  bool closing_ = false;
  bool closed_ = false;
  bool writing_ = false;  // one writer at a time: the writer thread or a sender writing directly
  bool corked_ = false;
  bool contended_ = false;  // a send found another write in progress: batch through the writer
  std::thread::id reader_;
  std::thread thread_;
};

std::string describe_limit(std::size_t bytes) {
  if (bytes % (1024 * 1024) == 0) return std::to_string(bytes / (1024 * 1024)) + " MiB";
  if (bytes % 1024 == 0) return std::to_string(bytes / 1024) + " KiB";
  return std::to_string(bytes) + " bytes";
}

}  // namespace

int serve_stdio(mcp::server& server, const stdio_options& options,
                mcp::session_options session_options) {
  session_options.transport = "stdio";
  auto writer = std::make_shared<fd_writer>(options.output_fd, options.max_queued_messages);
  auto session = server.open_session(writer, std::move(session_options));

  const std::string oversized_error = mcp::make_error(
      std::nullopt,
      mcp::rpc_error(mcp::error_code::invalid_request,
                     "Invalid Request: the message exceeds the " + describe_limit(options.max_message_bytes) +
                         " limit and was discarded",
                     {{"limitBytes", options.max_message_bytes}}));

  std::string pending;      // bytes of the current, incomplete line
  bool discarding = false;  // inside an oversized line: drop bytes until its newline
  std::vector<char> buffer(1 << 16);
  int status = 0;
  bool recently_busy = false;
  bool stopped = false;  // by stop_fd: a line read in part is not a message
  for (;;) {
    // After a message, poll briefly before blocking: on an idle machine waking a sleeping
    // thread costs tens of microseconds, more than the request itself. Bounded to ~50 µs.
    // With a stop_fd, the wait is for input or the stop, whichever comes first.
    pollfd watch[2] = {{options.input_fd, POLLIN, 0}, {options.stop_fd, POLLIN, 0}};
    const nfds_t watched = options.stop_fd >= 0 ? 2 : 1;
    int ready = 0;
    if (recently_busy) {
      const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(50);
      while ((ready = ::poll(watch, watched, 0)) == 0 && std::chrono::steady_clock::now() < until) {
      }
    }
    if (ready == 0 && watched == 2) ready = ::poll(watch, watched, -1);
    if (ready < 0 && errno != EINTR) {
      spdlog::error("stdio: cannot wait for input: {}", std::strerror(errno));
      status = 1;
      break;
    }
    if (ready > 0 && watched == 2 && watch[1].revents != 0) {
      spdlog::info("stdio: asked to stop; answering the {} call(s) running, for up to {} ms",
                   session->calls_in_flight(), options.finish_timeout.count());
      stopped = true;
      break;
    }
    if (ready < 0) continue;  // interrupted
    const ssize_t got = ::read(options.input_fd, buffer.data(), buffer.size());
    recently_busy = got > 0;
    if (got == 0) break;
    if (got < 0) {
      if (errno == EINTR) continue;
      spdlog::error("stdio: cannot read input: {}", std::strerror(errno));
      status = 1;
      break;
    }
    const char* data = buffer.data();
    std::size_t size = static_cast<std::size_t>(got);
    writer->cork();
    while (size > 0) {
      const char* newline = static_cast<const char*>(std::memchr(data, '\n', size));
      const std::size_t take = newline ? static_cast<std::size_t>(newline - data) : size;
      if (!discarding) {
        if (pending.size() + take > options.max_message_bytes) {
          discarding = true;
          pending.clear();
          pending.shrink_to_fit();
        } else {
          pending.append(data, take);
        }
      }
      if (!newline) break;
      if (discarding) {
        spdlog::warn("stdio: refused a message over {}", describe_limit(options.max_message_bytes));
        writer->send(oversized_error, {mcp::outbound_route::kind::response, std::nullopt});
        discarding = false;
      } else {
        if (!pending.empty() && pending.back() == '\r') pending.pop_back();
        if (!pending.empty()) session->handle_message(pending);
        pending.clear();
      }
      data = newline + 1;
      size -= take + 1;
    }
    writer->uncork();
  }
  if (!stopped && !discarding && !pending.empty())
    session->handle_message(pending);  // last line without '\n'

  // End of input: the client sends nothing more. The calls it already sent are answered (a
  // client that pipes requests and closes its end, as MCP's stdio shutdown has clients do,
  // waits for them; an add must not commit unanswered), for a bounded time; then what still
  // runs is cancelled, handlers get a moment to notice, and whatever is queued is flushed.
  if (!session->wait_idle(options.finish_timeout)) {
    spdlog::warn("stdio: end of input; {} call(s) still running after {} ms are cancelled",
                 session->calls_in_flight(), options.finish_timeout.count());
  }
  session->close();
  if (!session->wait_idle(options.drain_timeout)) {
    spdlog::warn("stdio: {} call(s) still running after end of input; exiting anyway",
                 session->calls_in_flight());
  }
  writer->stop();
  return status;
}

}  // namespace bookmcp::transport
