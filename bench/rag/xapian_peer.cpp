#include "bench/rag/xapian_peer.hpp"

#include <xapian.h>

#include "rag/lexical_index.hpp"
#include "rag/tokenizer.hpp"

namespace bookmcp::bench {

namespace {

// Our English stop list, so that both sides drop the same words.
class stop_words final : public Xapian::Stopper {
 public:
  bool operator()(const std::string& term) const override {
    return rag::tokenizer::is_stop_word(term);
  }
};

}  // namespace

struct xapian_peer::state {
  std::filesystem::path folder;  // glass only
  Xapian::Database database;
  Xapian::Stem stemmer{"en"};
  stop_words stopper;
  Xapian::QueryParser parser;
  std::unique_ptr<Xapian::BM25Weight> weighting;  // neither copyable nor movable
};

bool xapian_peer::available() noexcept {
  return true;
}

xapian_peer::xapian_peer(const std::vector<store::stored_chunk>& chunks, backend kind,
                         const std::filesystem::path& scratch_folder)
    : state_(std::make_unique<state>()) {
  const rag::bm25_parameters ours;
  // k1 and b as ours (Xapian's defaults are 1 and 0.5); k2 = 0, k3 = 1, min_normlen 0.5 are
  // Xapian's defaults.
  state_->weighting = std::make_unique<Xapian::BM25Weight>(ours.k1, 0, 1, ours.b, 0.5);

  Xapian::WritableDatabase writable;
  if (kind == backend::glass) {
    state_->folder = scratch_folder;
    std::filesystem::remove_all(state_->folder);
    writable = Xapian::WritableDatabase(state_->folder.string(),
                                        Xapian::DB_CREATE_OR_OVERWRITE | Xapian::DB_BACKEND_GLASS);
  } else {
    writable = Xapian::WritableDatabase(std::string(), Xapian::DB_BACKEND_INMEMORY);
  }
  Xapian::TermGenerator generator;
  generator.set_stemmer(state_->stemmer);
  generator.set_stemming_strategy(Xapian::TermGenerator::STEM_SOME);
  generator.set_stopper(&state_->stopper);
  const auto title_weight = static_cast<Xapian::termcount>(ours.title_weight);
  const auto heading_weight = static_cast<Xapian::termcount>(ours.heading_weight);
  const auto body_weight = static_cast<Xapian::termcount>(ours.body_weight);
  for (const auto& chunk : chunks) {
    Xapian::Document document;
    generator.set_document(document);
    generator.index_text(chunk.title, title_weight);
    for (std::size_t h = 1; h < chunk.heading_path.size(); ++h) {
      generator.increase_termpos();
      generator.index_text(chunk.heading_path[h], heading_weight);
    }
    generator.increase_termpos();
    generator.index_text(chunk.text, body_weight);
    document.set_data(chunk.document_path + '\n' + chunk.text);
    writable.add_document(document);
  }
  writable.commit();
  if (kind == backend::glass) {
    writable.close();
    state_->database = Xapian::Database(state_->folder.string());
  } else {
    state_->database = writable;
  }

  state_->parser.set_database(state_->database);
  state_->parser.set_stemmer(state_->stemmer);
  state_->parser.set_stemming_strategy(Xapian::QueryParser::STEM_SOME);
  state_->parser.set_stopper(&state_->stopper);
  state_->parser.set_default_op(Xapian::Query::OP_OR);
}

xapian_peer::~xapian_peer() {
  if (!state_->folder.empty()) {
    state_->database.close();
    std::error_code ignored;
    std::filesystem::remove_all(state_->folder, ignored);
  }
}

std::vector<xapian_peer::hit> xapian_peer::search(const std::string& question, unsigned limit,
                                                  snippets style, unsigned snippet_bytes) const {
  Xapian::Enquire enquire(state_->database);
  enquire.set_query(state_->parser.parse_query(question));
  enquire.set_weighting_scheme(*state_->weighting);
  Xapian::MSet matches = enquire.get_mset(0, limit);
  std::vector<hit> hits;
  hits.reserve(matches.size());
  for (auto it = matches.begin(); it != matches.end(); ++it) {
    const std::string data = it.get_document().get_data();
    const std::size_t newline = data.find('\n');
    hit result;
    result.document_path = data.substr(0, newline);
    if (style != snippets::none) {
      const unsigned flags = style == snippets::standard ? Xapian::MSet::SNIPPET_BACKGROUND_MODEL |
                                                               Xapian::MSet::SNIPPET_EXHAUSTIVE
                                                         : 0;
      result.snippet = matches.snippet(data.substr(newline + 1), snippet_bytes, state_->stemmer,
                                       flags, "**", "**", "\u2026");
    }
    hits.push_back(std::move(result));
  }
  return hits;
}

}  // namespace bookmcp::bench
