#pragma once
// The stdio transport: newline-delimited JSON-RPC on a pair of file descriptors.
//
// One reader (the calling thread) feeds the session line by line; one writer thread drains a
// bounded queue to the output, so any thread may send and nothing else writes to stdout.

#include <chrono>
#include <cstddef>

#include "mcp/server.hpp"

namespace bookmcp::transport {

struct stdio_options {
  int input_fd = 0;
  int output_fd = 1;
  std::size_t max_message_bytes = 10 * 1024 * 1024;  // longer lines are refused, not fatal
  std::size_t max_queued_messages = 8192;            // senders wait when the writer is behind
  std::chrono::milliseconds finish_timeout{10000};   // at EOF: time for running calls to answer
  std::chrono::milliseconds drain_timeout{2000};     // then: time for cancelled calls to end
  // Readable when the server is to stop (a signalfd for SIGTERM/SIGINT): as at end of input,
  // nothing more is read and the calls already read are answered first. -1: none.
  int stop_fd = -1;
};

// Serves one session until end of input (or stop_fd). End of input means "no more requests", not
// "forget the ones sent": calls already read run on and are answered, for up to finish_timeout;
// then what still runs is cancelled, handlers get up to drain_timeout to return, the output is
// flushed, and it returns 0. Returns 1 when the input cannot be read. Blocks the calling thread.
int serve_stdio(mcp::server& server, const stdio_options& options,
                mcp::session_options session_options);

}  // namespace bookmcp::transport
