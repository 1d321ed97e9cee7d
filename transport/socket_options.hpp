#pragma once
// Socket options the network servers (bookmcp's listener, bookmcp-chat) set on what they accept.

#include <chrono>

namespace bookmcp::transport {

// What is sent on `socket` (a connected TCP socket's descriptor) and the peer does not take
// for `stall` resets the connection: a zero window (a client that stopped reading in the middle
// of an answer too large for the socket buffers, which no write deadline of Asio or Beast
// covers once the bytes are the kernel's), or data never acknowledged. Linux TCP_USER_TIMEOUT;
// 0 or less leaves the kernel's default (about 15 minutes of retransmissions, and no limit at
// all on a zero window). False when the option could not be set.
bool set_send_stall_timeout(int socket, std::chrono::milliseconds stall);

}  // namespace bookmcp::transport
