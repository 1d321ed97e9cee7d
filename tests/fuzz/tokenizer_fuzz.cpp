// Any bytes (UTF-8 or not) through the tokenizer that BM25, the snippets and the sparse vectors
// share.
//
// Invariants beyond "no crash, no leak, no undefined behaviour":
//   - every term is non-empty and comes from a byte range of the text, in order;
//   - append_terms gives exactly tokenize's terms;
//   - find_terms gives exactly tokenize's occurrences of the wanted terms (with their ranges),
//     as the snippets rely on.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "rag/tokenizer.hpp"

namespace {

[[noreturn]] void broken(const char* what, const std::string& text) {
  std::fprintf(stderr, "invariant broken: %s\ntext: %.2000s\n", what, text.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace bookmcp::rag;
  static tokenizer words;  // one per thread in the product; the fuzzer runs one thread
  const std::string text(reinterpret_cast<const char*>(data), size);

  const auto occurrences = words.tokenize(text);
  std::uint32_t previous = 0;
  for (const auto& occurrence : occurrences) {
    if (occurrence.term.empty()) broken("an empty term", text);
    if (occurrence.begin >= occurrence.end || occurrence.end > text.size())
      broken("a term from outside the text", text);
    if (occurrence.begin < previous) broken("terms out of order", text);
    previous = occurrence.begin;
  }

  std::vector<std::string> terms;
  words.append_terms(text, terms);
  if (terms.size() != occurrences.size()) broken("append_terms and tokenize disagree", text);
  for (std::size_t i = 0; i < terms.size(); ++i)
    if (terms[i] != occurrences[i].term) broken("append_terms and tokenize disagree", text);

  // Every other distinct term is wanted (a query's worth).
  std::vector<std::string> wanted;
  std::set<std::string> seen;
  for (const auto& occurrence : occurrences) {
    if (seen.insert(occurrence.term).second && seen.size() % 2 == 1 && wanted.size() < 8)
      wanted.push_back(occurrence.term);
  }
  std::vector<term_match> found;
  words.find_terms(text, wanted, found);
  std::size_t next = 0;
  for (const auto& occurrence : occurrences) {
    std::size_t index = 0;
    while (index < wanted.size() && wanted[index] != occurrence.term) ++index;
    if (index == wanted.size()) continue;
    if (next >= found.size() || found[next].term != index ||
        found[next].begin != occurrence.begin || found[next].end != occurrence.end)
      broken("find_terms and tokenize disagree", text);
    ++next;
  }
  if (next != found.size()) broken("find_terms found more than tokenize", text);
  return 0;
}
