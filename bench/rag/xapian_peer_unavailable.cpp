// xapian_peer when the bench is built without Xapian (xapian-core not found by CMake).

#include <stdexcept>

#include "bench/rag/xapian_peer.hpp"

namespace bookmcp::bench {

struct xapian_peer::state {};

bool xapian_peer::available() noexcept {
  return false;
}

xapian_peer::xapian_peer(const std::vector<store::stored_chunk>&, backend,
                         const std::filesystem::path&) {
  throw std::logic_error("bookmcp_rag_bench was built without Xapian");
}

xapian_peer::~xapian_peer() = default;

std::vector<xapian_peer::hit> xapian_peer::search(const std::string&, unsigned, snippets,
                                                  unsigned) const {
  return {};
}

}  // namespace bookmcp::bench
