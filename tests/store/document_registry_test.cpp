// The document registry suite, run on every back-end.

#include "store/errors.hpp"
#include "tests/store/store_test_fixture.hpp"

namespace bookmcp::store {
namespace {

document_record record(const std::string& path, const std::string& hash) {
  document_record r;
  r.root = "/book/docs";
  r.path = path;
  r.content_hash = hash;
  r.chunker_version = 3;
  r.indexed_at_unix_ms = 1735689600123;
  r.title = "Title of " + path;
  r.url = "/docs/" + path;
  r.sidebar_position = 2.5;
  return r;
}

std::vector<stored_chunk> chunks_for(document_record& r, int count, const std::string& text) {
  std::vector<stored_chunk> chunks;
  r.chunk_ids.clear();
  for (int i = 0; i < count; ++i) {
    stored_chunk c;
    c.id = r.path + "#" + std::to_string(i);
    c.document_path = r.path;
    c.heading_path = {"Chapter", "Section " + std::to_string(i)};
    c.anchor = "section-" + std::to_string(i);
    c.url = r.url + "#" + c.anchor;
    c.title = r.title;
    c.text = text + " " + std::to_string(i) + " 'quoted'; ünïcode";
    c.position = i;
    r.chunk_ids.push_back(c.id);
    chunks.push_back(c);
  }
  return chunks;
}

class DocumentRegistryTest : public StoreTest {
 protected:
  document_registry& registry() { return db_->documents(); }
};

TEST_P(DocumentRegistryTest, ReplaceStoresTheRecordAndItsChunks) {
  EXPECT_EQ(registry().generation(), 0);
  EXPECT_FALSE(registry().find("/book/docs", "intro.md"));
  auto intro = record("intro.md", "h1");
  const auto chunks = chunks_for(intro, 3, "intro");
  EXPECT_EQ(registry().replace(intro, chunks), 1);
  EXPECT_EQ(registry().generation(), 1);

  const auto found = registry().find("/book/docs", "intro.md");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->content_hash, "h1");
  EXPECT_EQ(found->chunker_version, 3);
  EXPECT_EQ(found->chunk_ids, intro.chunk_ids);
  EXPECT_EQ(found->indexed_at_unix_ms, intro.indexed_at_unix_ms);
  EXPECT_EQ(found->title, intro.title);
  EXPECT_EQ(found->url, intro.url);
  EXPECT_DOUBLE_EQ(found->sidebar_position, 2.5);
  EXPECT_EQ(found->last_error, "");

  const auto stored = registry().all_chunks();
  ASSERT_EQ(stored.size(), 3u);
  for (std::size_t i = 0; i < stored.size(); ++i) {
    EXPECT_EQ(stored[i].id, chunks[i].id);
    EXPECT_EQ(stored[i].document_path, "intro.md");
    EXPECT_EQ(stored[i].heading_path, chunks[i].heading_path);
    EXPECT_EQ(stored[i].anchor, chunks[i].anchor);
    EXPECT_EQ(stored[i].url, chunks[i].url);
    EXPECT_EQ(stored[i].title, chunks[i].title);
    EXPECT_EQ(stored[i].text, chunks[i].text);
    EXPECT_EQ(stored[i].position, chunks[i].position);
  }
}

TEST_P(DocumentRegistryTest, ReplaceSwapsAllChunksAndListIsOrdered) {
  auto b = record("b.md", "h1");
  auto a = record("a.md", "h1");
  registry().replace(b, chunks_for(b, 2, "b"));
  registry().replace(a, chunks_for(a, 4, "a"));
  auto a2 = record("a.md", "h2");
  EXPECT_EQ(registry().replace(a2, chunks_for(a2, 1, "a-new")), 3);

  const auto records = registry().list();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].path, "a.md");
  EXPECT_EQ(records[0].content_hash, "h2");
  EXPECT_EQ(records[1].path, "b.md");
  const auto all = registry().all_chunks();
  ASSERT_EQ(all.size(), 3u);  // a.md's four old chunks are gone
  EXPECT_EQ(all[0].document_path, "a.md");
  EXPECT_EQ(all[0].text.rfind("a-new", 0), 0u);
  EXPECT_EQ(all[1].document_path, "b.md");
  EXPECT_EQ(all[2].position, 1);
}

TEST_P(DocumentRegistryTest, AFailedReplaceLeavesTheOldVersionIntact) {
  auto doc = record("doc.md", "old");
  registry().replace(doc, chunks_for(doc, 2, "old"));
  auto broken = record("doc.md", "new");
  auto chunks = chunks_for(broken, 3, "new");
  chunks[2].position = 0;  // duplicate position: the insert fails mid-transaction
  EXPECT_THROW(registry().replace(broken, chunks), store_error);
  EXPECT_EQ(registry().find("/book/docs", "doc.md")->content_hash, "old");
  EXPECT_EQ(registry().all_chunks().size(), 2u);
  EXPECT_EQ(registry().generation(), 1);
}

TEST_P(DocumentRegistryTest, RemoveDeletesRecordAndChunks) {
  auto doc = record("doc.md", "h");
  registry().replace(doc, chunks_for(doc, 2, "x"));
  EXPECT_TRUE(registry().remove("/book/docs", "doc.md"));
  EXPECT_EQ(registry().generation(), 2);
  EXPECT_FALSE(registry().find("/book/docs", "doc.md"));
  EXPECT_TRUE(registry().all_chunks().empty());
  EXPECT_FALSE(registry().remove("/book/docs", "doc.md"));
  EXPECT_EQ(registry().generation(), 2);  // nothing removed, nothing changed
}

TEST_P(DocumentRegistryTest, RecordFailureKeepsChunks) {
  auto doc = record("doc.md", "h");
  registry().replace(doc, chunks_for(doc, 2, "x"));
  registry().record_failure("/book/docs", "doc.md", "parse error: unexpected '<'");
  const auto found = registry().find("/book/docs", "doc.md");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->last_error, "parse error: unexpected '<'");
  EXPECT_EQ(found->content_hash, "h");
  EXPECT_EQ(registry().all_chunks().size(), 2u);

  registry().record_failure("/book/docs", "new.md", "cannot read");
  ASSERT_TRUE(registry().find("/book/docs", "new.md"));
  EXPECT_EQ(registry().find("/book/docs", "new.md")->last_error, "cannot read");
}

BOOKMCP_INSTANTIATE_STORE_SUITE(DocumentRegistryTest);

}  // namespace
}  // namespace bookmcp::store
