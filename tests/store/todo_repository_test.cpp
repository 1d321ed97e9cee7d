// The todo repository suite, run on every back-end.

#include <algorithm>
#include <latch>
#include <set>
#include <string_view>
#include <thread>

#include "store/errors.hpp"
#include "store/internal/testing_hooks.hpp"
#include "store/internal/todo_engine.hpp"
#include "tests/store/store_test_fixture.hpp"

namespace bookmcp::store {
namespace {

using namespace std::chrono;

new_todo titled(std::string title) {
  new_todo item;
  item.title = std::move(title);
  return item;
}

todo_due date(int y, unsigned m, unsigned d) {
  return todo_due::on_date(year{y} / month{m} / day{d});
}

todo_due instant(const char* rfc3339) { return *todo_due::parse(rfc3339); }

std::vector<std::string> ids_of(const std::vector<todo>& items) {
  std::vector<std::string> ids;
  for (const auto& item : items) ids.push_back(item.id);
  return ids;
}

class TodoRepositoryTest : public StoreTest {
 protected:
  todo add(const std::string& owner, new_todo item) { return todos().add(owner, item, {}).item; }

  // Every page of `query`, following cursors.
  std::vector<todo> list_all(const std::string& owner, todo_query query) {
    std::vector<todo> all;
    for (int pages = 0; pages < 1000; ++pages) {
      auto page = todos().list(owner, query, {});
      EXPECT_LE(page.items.size(), query.limit);
      all.insert(all.end(), page.items.begin(), page.items.end());
      if (!page.next_cursor) return all;
      query.cursor = page.next_cursor;
    }
    ADD_FAILURE() << "pagination did not end";
    return all;
  }

  std::vector<std::string> titles(const std::string& owner, const todo_query& query) {
    std::vector<std::string> out;
    for (const auto& item : list_all(owner, query)) out.push_back(item.title);
    std::sort(out.begin(), out.end());
    return out;
  }
};

TEST_P(TodoRepositoryTest, AddThenGetReturnsEveryField) {
  new_todo item;
  item.title = "Read chapter 3";
  item.notes = "focus on section 3.2";
  item.due = instant("2025-03-14T09:30:00.125+01:00");
  item.priority = todo_priority::high;
  item.tags = {"reading", "ch3"};
  item.client_request_id = "req-1";
  const auto added = todos().add("alice", item, {});
  EXPECT_TRUE(added.created);
  const auto& created = added.item;
  EXPECT_EQ(created.owner, "alice");
  EXPECT_EQ(created.title, item.title);
  EXPECT_EQ(created.notes, item.notes);
  EXPECT_EQ(created.due, item.due);
  EXPECT_EQ(created.due->to_string(), "2025-03-14T09:30:00.125+01:00");
  EXPECT_EQ(created.priority, todo_priority::high);
  EXPECT_EQ(created.tags, item.tags);
  EXPECT_EQ(created.status, todo_status::open);
  EXPECT_EQ(created.created_at, created.updated_at);
  EXPECT_FALSE(created.completed_at);
  EXPECT_EQ(created.client_request_id, "req-1");

  const auto fetched = todos().get("alice", created.id, {});
  ASSERT_TRUE(fetched);
  EXPECT_EQ(*fetched, created);
  EXPECT_FALSE(todos().get("alice", "no-such-id", {}));
}

TEST_P(TodoRepositoryTest, DateOnlyDueStaysADate) {
  auto item = titled("exam");
  item.due = date(2025, 3, 14);
  const auto created = add("alice", item);
  const auto fetched = todos().get("alice", created.id, {});
  ASSERT_TRUE(fetched && fetched->due);
  EXPECT_TRUE(fetched->due->is_date());
  EXPECT_EQ(fetched->due->to_string(), "2025-03-14");
  for (auto offset : {hours{-12}, hours{0}, hours{14}}) {
    todo_query query;
    query.utc_offset = offset;
    auto page = todos().list("alice", query, {});
    ASSERT_EQ(page.items.size(), 1u);
    EXPECT_EQ(page.items[0].due->to_string(), "2025-03-14");
  }
}

TEST_P(TodoRepositoryTest, IdsAreOpaqueAndDistinct) {
  const auto a = add("alice", titled("a"));
  const auto b = add("alice", titled("b"));
  EXPECT_NE(a.id, b.id);
  EXPECT_EQ(a.id.size(), 36u);
}

TEST_P(TodoRepositoryTest, TitleLengthIsEnforced) {
  std::string longest;
  for (int i = 0; i < 500; ++i) longest += "é";  // 500 characters, 1000 bytes
  EXPECT_EQ(add("alice", titled(longest)).title, longest);
  EXPECT_THROW(todos().add("alice", titled(longest + "x"), {}), invalid_request);
  EXPECT_THROW(todos().add("alice", titled(""), {}), invalid_request);
  EXPECT_THROW(todos().add("alice", titled(" \t\n "), {}), invalid_request);  // names nothing
  EXPECT_EQ(add("alice", titled(" x ")).title, " x ");                        // stored as given
  EXPECT_THROW(todos().add("alice", titled("bad \xff utf8"), {}), invalid_request);
  // The database enforces the limit too.
  const std::string too_long_sql =
      backend_->kind() == "sqlite"
          ? "INSERT INTO todos (id, owner, title, priority, status, created_at_ms,"
            " updated_at_ms) VALUES ('x', 'alice', printf('%.*c', 501, 'x'), 2, 'open', 0, 0)"
          : "INSERT INTO todos (id, owner, title, priority, status, created_at, updated_at)"
            " VALUES ('x', 'alice', repeat('x', 501), 2, 'open', now(), now())";
  EXPECT_ANY_THROW(backend_->execute_sql(too_long_sql));
}

TEST_P(TodoRepositoryTest, SqlLikeTextIsStoredAndReturnedLiterally) {
  const std::vector<std::string> nasty = {
      "it's \"quoted\"", "a; b; c", "'; DROP TABLE todos; --", "100% sure", "snake_case",
      "back\\slash\\", "Ünïcödé ✓ 日本語 🙂", "$1 ?1 :name @p", "line\nbreak\ttab"};
  std::vector<std::string> ids;
  for (const auto& text : nasty) {
    new_todo item = titled(text);
    item.notes = text;
    item.tags = {text};
    item.client_request_id = text;
    ids.push_back(add("o'brien; --", item).id);
  }
  for (std::size_t i = 0; i < nasty.size(); ++i) {
    const auto fetched = todos().get("o'brien; --", ids[i], {});
    ASSERT_TRUE(fetched);
    EXPECT_EQ(fetched->title, nasty[i]);
    EXPECT_EQ(fetched->notes, nasty[i]);
    EXPECT_EQ(fetched->tags, std::set<std::string>{nasty[i]});
    EXPECT_EQ(fetched->client_request_id, nasty[i]);
    todo_query by_tag;
    by_tag.tag = nasty[i];
    EXPECT_EQ(ids_of(todos().list("o'brien; --", by_tag, {}).items),
              std::vector<std::string>{ids[i]});
  }
  EXPECT_EQ(todos().export_all("o'brien; --", {}).size(), nasty.size());
}

TEST_P(TodoRepositoryTest, TextSearchIsALiteralCaseInsensitiveSubstring) {
  for (const char* title : {"100% done", "100 done", "a_b", "axb", "back\\slash", "backslash",
                            "Ünïcode ✓", "it's", "plain"}) {
    add("alice", titled(title));
  }
  auto notes_only = titled("untitled");
  notes_only.notes = "see PAGE 12";
  add("alice", notes_only);

  const auto search = [&](std::string text) {
    todo_query query;
    query.text = std::move(text);
    return titles("alice", query);
  };
  EXPECT_EQ(search("%"), std::vector<std::string>{"100% done"});
  EXPECT_EQ(search("_"), std::vector<std::string>{"a_b"});
  EXPECT_EQ(search("\\"), std::vector<std::string>{"back\\slash"});
  EXPECT_EQ(search("DONE"), (std::vector<std::string>{"100 done", "100% done"}));
  EXPECT_EQ(search("'"), std::vector<std::string>{"it's"});
  EXPECT_EQ(search("ïcode ✓"), std::vector<std::string>{"Ünïcode ✓"});
  EXPECT_EQ(search("page 1"), std::vector<std::string>{"untitled"});
  EXPECT_TRUE(search("'; DROP TABLE todos; --").empty());
  EXPECT_EQ(todos().export_all("alice", {}).size(), 10u);
}

TEST_P(TodoRepositoryTest, TextSearchFoldsTheCaseOfEveryScriptOnBothBackEnds) {
  for (const char* title :
       {"Ünïcode Über", "ÉCOLE normale", "Ωμέγα ΣΟΦΙΑ", "Москва ПЛАН", "ǅemal", "plain ascii"}) {
    add("alice", titled(title));
  }
  auto notes_only = titled("untitled");
  notes_only.notes = "Résumé: ÀÉÎÕÜ";
  add("alice", notes_only);
  const auto search = [&](std::string text) {
    todo_query query;
    query.text = std::move(text);
    return titles("alice", query);
  };
  EXPECT_EQ(search("über"), std::vector<std::string>{"Ünïcode Über"});
  EXPECT_EQ(search("ÜNÏCODE"), std::vector<std::string>{"Ünïcode Über"});
  EXPECT_EQ(search("école"), std::vector<std::string>{"ÉCOLE normale"});
  EXPECT_EQ(search("σοφια"), std::vector<std::string>{"Ωμέγα ΣΟΦΙΑ"});
  EXPECT_EQ(search("ΩΜΈΓΑ"), std::vector<std::string>{"Ωμέγα ΣΟΦΙΑ"});
  EXPECT_EQ(search("план"), std::vector<std::string>{"Москва ПЛАН"});
  EXPECT_EQ(search("МОСКВА"), std::vector<std::string>{"Москва ПЛАН"});
  EXPECT_EQ(search("àéîõü"), std::vector<std::string>{"untitled"});
  EXPECT_EQ(search("PLAIN ASCII"), std::vector<std::string>{"plain ascii"});
  EXPECT_TRUE(search("ecole").empty()) << "accents are not removed, only case";
}

TEST_P(TodoRepositoryTest, UpdateChangesOnlyTheGivenFields) {
  new_todo item = titled("original");
  item.notes = "notes";
  item.due = date(2025, 5, 1);
  item.tags = {"a", "b"};
  item.priority = todo_priority::low;
  const auto created = add("alice", item);

  todo_patch rename;
  rename.title = "renamed";
  auto updated = todos().update("alice", created.id, rename, {});
  ASSERT_TRUE(updated);
  EXPECT_EQ(updated->title, "renamed");
  EXPECT_EQ(updated->notes, "notes");
  EXPECT_EQ(updated->due, item.due);
  EXPECT_EQ(updated->tags, item.tags);
  EXPECT_EQ(updated->priority, todo_priority::low);
  EXPECT_GT(updated->updated_at, created.updated_at);
  EXPECT_EQ(updated->created_at, created.created_at);

  todo_patch clear;
  clear.notes = field_change<std::string>::clear();
  clear.due = field_change<todo_due>::clear();
  clear.tags = field_change<std::set<std::string>>::clear();
  clear.priority = todo_priority::high;
  updated = todos().update("alice", created.id, clear, {});
  ASSERT_TRUE(updated);
  EXPECT_EQ(updated->title, "renamed");
  EXPECT_EQ(updated->notes, "");
  EXPECT_FALSE(updated->due);
  EXPECT_TRUE(updated->tags.empty());
  EXPECT_EQ(updated->priority, todo_priority::high);

  todo_patch set;
  set.due = field_change<todo_due>::set(instant("2025-06-01T08:00:00-04:00"));
  set.tags = field_change<std::set<std::string>>::set({"x"});
  set.notes = field_change<std::string>::set("new notes");
  updated = todos().update("alice", created.id, set, {});
  ASSERT_TRUE(updated);
  EXPECT_EQ(updated->due->to_string(), "2025-06-01T08:00:00-04:00");
  EXPECT_EQ(updated->tags, std::set<std::string>{"x"});
  EXPECT_EQ(updated->notes, "new notes");
  EXPECT_EQ(todos().get("alice", created.id, {}), updated);

  EXPECT_FALSE(todos().update("alice", "missing", rename, {}));
  todo_patch invalid;
  invalid.title = "";
  EXPECT_THROW(todos().update("alice", created.id, invalid, {}), invalid_request);
}

TEST_P(TodoRepositoryTest, CompleteAndReopen) {
  const auto created = add("alice", titled("task"));
  const auto done = todos().complete("alice", created.id, {});
  ASSERT_TRUE(done);
  EXPECT_EQ(done->status, todo_status::done);
  ASSERT_TRUE(done->completed_at);
  const auto again = todos().complete("alice", created.id, {});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->completed_at, done->completed_at);  // completing twice changes nothing

  const auto reopened = todos().reopen("alice", created.id, {});
  ASSERT_TRUE(reopened);
  EXPECT_EQ(reopened->status, todo_status::open);
  EXPECT_FALSE(reopened->completed_at);
  EXPECT_EQ(todos().get("alice", created.id, {}), reopened);
  EXPECT_FALSE(todos().complete("alice", "missing", {}));
  EXPECT_FALSE(todos().reopen("alice", "missing", {}));
}

TEST_P(TodoRepositoryTest, RemoveAndRemoveAll) {
  const auto a = add("alice", titled("a"));
  add("alice", titled("b"));
  add("alice", titled("c"));
  EXPECT_TRUE(todos().remove("alice", a.id, {}));
  EXPECT_FALSE(todos().remove("alice", a.id, {}));
  EXPECT_FALSE(todos().get("alice", a.id, {}));
  EXPECT_EQ(todos().remove_all("alice", {}), 2u);
  EXPECT_EQ(todos().remove_all("alice", {}), 0u);
  EXPECT_TRUE(todos().export_all("alice", {}).empty());
}

TEST_P(TodoRepositoryTest, OwnersCannotSeeOrChangeEachOthersTodos) {
  new_todo item = titled("alice's");
  item.tags = {"shared-tag"};
  item.client_request_id = "same-key";
  const auto alices = add("alice", item);
  item.title = "bob's";
  const auto bobs = todos().add("bob", item, {});
  EXPECT_TRUE(bobs.created);  // request ids are per owner
  EXPECT_NE(bobs.item.id, alices.id);

  todo_patch patch;
  patch.title = "hijacked";
  EXPECT_FALSE(todos().get("bob", alices.id, {}));
  EXPECT_FALSE(todos().update("bob", alices.id, patch, {}));
  EXPECT_FALSE(todos().complete("bob", alices.id, {}));
  EXPECT_FALSE(todos().reopen("bob", alices.id, {}));
  EXPECT_FALSE(todos().remove("bob", alices.id, {}));
  todo_query everything;
  everything.status = status_filter::all;
  everything.tag = "shared-tag";
  EXPECT_EQ(ids_of(todos().list("bob", everything, {}).items),
            std::vector<std::string>{bobs.item.id});
  EXPECT_EQ(ids_of(todos().export_all("bob", {})), std::vector<std::string>{bobs.item.id});
  EXPECT_EQ(todos().remove_all("bob", {}), 1u);

  EXPECT_EQ(todos().get("alice", alices.id, {}), alices);  // untouched
  EXPECT_TRUE(todos().export_all("carol", {}).empty());
}

TEST_P(TodoRepositoryTest, RetriedAddWithSameClientRequestIdReturnsTheFirstTodo) {
  auto item = titled("first");
  item.client_request_id = "abc";
  const auto first = todos().add("alice", item, {});
  item.title = "second";
  const auto second = todos().add("alice", item, {});
  EXPECT_TRUE(first.created);
  EXPECT_FALSE(second.created);
  EXPECT_EQ(second.item, first.item);
  EXPECT_EQ(todos().export_all("alice", {}).size(), 1u);
}

// Runs every body twice, as a back-end does when an attempt committed but its connection broke
// before the answer came back (the retry rules allow it for idempotent writes only).
class replaying_runner : public internal::todo_transaction_runner {
 public:
  explicit replaying_runner(internal::todo_transaction_runner& inner) : inner_(inner) {}
  void run(internal::retry_safety safety, std::stop_token stop,
           const std::function<void(internal::todo_session&)>& body) override {
    EXPECT_EQ(safety, internal::retry_safety::idempotent_write);
    inner_.run(safety, stop, body);
    inner_.run(safety, stop, body);
  }
  void run_autocommit(internal::retry_safety safety, std::stop_token stop,
                      const std::function<void(internal::todo_session&)>& body) override {
    EXPECT_EQ(safety, internal::retry_safety::idempotent_write);
    inner_.run_autocommit(safety, stop, body);
    inner_.run_autocommit(safety, stop, body);
  }

 private:
  internal::todo_transaction_runner& inner_;
};

TEST_P(TodoRepositoryTest, AnAddRunAgainAfterItCommittedMakesOneTodo) {
  replaying_runner replay(
      dynamic_cast<internal::testing_hooks&>(*db_).transaction_runner_for_testing());
  const auto repository = internal::make_todo_repository(replay, clock_.function());
  const auto plain = repository->add("alice", titled("no key"), {});
  EXPECT_TRUE(plain.created);
  auto keyed_item = titled("keyed");
  keyed_item.client_request_id = "key-1";
  const auto keyed = repository->add("alice", keyed_item, {});
  EXPECT_TRUE(keyed.created);
  std::vector<new_todo> batch = {titled("batch one"), titled("batch two")};
  batch[1].client_request_id = "key-2";
  const auto results = repository->add_batch("alice", batch, {});
  for (const auto& result : results) {
    ASSERT_TRUE(result.added);
    EXPECT_TRUE(result.added->created);
  }
  const auto stored = todos().export_all("alice", {});
  ASSERT_EQ(stored.size(), 4u);
  EXPECT_EQ(stored[0], plain.item);
  EXPECT_EQ(stored[1], keyed.item);
}

TEST_P(TodoRepositoryTest, ConcurrentRetriesCreateOneTodo) {
  constexpr int threads = 8;
  std::latch start(threads);
  std::vector<add_result> results(threads);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      auto item = titled("retry");
      item.client_request_id = "concurrent-key";
      start.arrive_and_wait();
      results[t] = todos().add("alice", item, {});
    });
  }
  for (auto& worker : workers) worker.join();
  EXPECT_EQ(std::count_if(results.begin(), results.end(), [](auto& r) { return r.created; }), 1);
  for (const auto& result : results) EXPECT_EQ(result.item.id, results[0].item.id);
  EXPECT_EQ(todos().export_all("alice", {}).size(), 1u);
}

TEST_P(TodoRepositoryTest, BatchAddReportsEachItem) {
  std::vector<new_todo> batch = {titled("one"), titled(""), titled("three"), titled("four")};
  batch[2].client_request_id = "k";
  batch[3].client_request_id = "k";  // same key within the batch: the same todo
  const auto results = todos().add_batch("alice", batch, {});
  ASSERT_EQ(results.size(), 4u);
  ASSERT_TRUE(results[0].added);
  EXPECT_EQ(results[0].added->item.title, "one");
  EXPECT_FALSE(results[1].added);
  EXPECT_FALSE(results[1].error.empty());
  ASSERT_TRUE(results[2].added && results[3].added);
  EXPECT_TRUE(results[2].added->created);
  EXPECT_FALSE(results[3].added->created);
  EXPECT_EQ(results[3].added->item.id, results[2].added->item.id);
  EXPECT_EQ(todos().export_all("alice", {}).size(), 2u);

  std::vector<new_todo> too_many(max_batch_size + 1, titled("x"));
  EXPECT_THROW(todos().add_batch("alice", too_many, {}), invalid_request);
  std::vector<new_todo> full(max_batch_size, titled("x"));
  EXPECT_EQ(todos().add_batch("alice", full, {}).size(), max_batch_size);
  EXPECT_EQ(todos().export_all("alice", {}).size(), 2u + max_batch_size);
}

TEST_P(TodoRepositoryTest, EightThreadsAddingTwoHundredEachMakeExactly1600Todos) {
  constexpr int threads = 8;
  constexpr int per_thread = 200;
  std::vector<std::vector<std::string>> ids(threads);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i)
        ids[t].push_back(add("alice", titled("t" + std::to_string(t) + "-" + std::to_string(i))).id);
    });
  }
  for (auto& worker : workers) worker.join();
  std::set<std::string> unique;
  for (const auto& list : ids) unique.insert(list.begin(), list.end());
  EXPECT_EQ(unique.size(), 1600u);
  EXPECT_EQ(todos().export_all("alice", {}).size(), 1600u);
  for (const auto& id : unique) ASSERT_TRUE(todos().get("alice", id, {})) << id;
}

TEST_P(TodoRepositoryTest, StatusAndTagFilters) {
  auto a = titled("a");
  a.tags = {"x", "y"};
  const auto first = add("alice", a);
  auto b = titled("b");
  b.tags = {"y"};
  add("alice", b);
  add("alice", titled("c"));
  todos().complete("alice", first.id, {});

  todo_query query;
  EXPECT_EQ(titles("alice", query), (std::vector<std::string>{"b", "c"}));  // open by default
  query.status = status_filter::done;
  EXPECT_EQ(titles("alice", query), std::vector<std::string>{"a"});
  query.status = status_filter::all;
  EXPECT_EQ(titles("alice", query), (std::vector<std::string>{"a", "b", "c"}));
  query.tag = "y";
  EXPECT_EQ(titles("alice", query), (std::vector<std::string>{"a", "b"}));
  query.tag = "x";
  EXPECT_EQ(titles("alice", query), std::vector<std::string>{"a"});
  query.tag = "%";
  EXPECT_TRUE(titles("alice", query).empty());
}

TEST_P(TodoRepositoryTest, DueRangeComparesDatesByTheReadersDay) {
  const auto with_due = [&](const char* title, todo_due due) {
    auto item = titled(title);
    item.due = due;
    add("alice", item);
  };
  with_due("d09", date(2025, 3, 9));
  with_due("d10", date(2025, 3, 10));
  with_due("d14", date(2025, 3, 14));
  with_due("d15", date(2025, 3, 15));
  with_due("i14-2359", instant("2025-03-14T23:59:00Z"));
  with_due("i15-0000", instant("2025-03-15T00:00:00Z"));
  add("alice", titled("none"));

  todo_query query;
  query.due_from = date(2025, 3, 10);
  query.due_before = date(2025, 3, 15);
  EXPECT_EQ(titles("alice", query), (std::vector<std::string>{"d10", "d14", "i14-2359"}));

  // At UTC+02:00 the instant 2025-03-14T23:59Z is already on the 15th.
  query.utc_offset = hours{2};
  EXPECT_EQ(titles("alice", query), (std::vector<std::string>{"d10", "d14"}));

  todo_query after;
  after.due_from = instant("2025-03-15T00:00:00Z");
  EXPECT_EQ(titles("alice", after), (std::vector<std::string>{"d15", "i15-0000"}));
}

TEST_P(TodoRepositoryTest, OverdueUsesNowAndTheReadersOffset) {
  const auto with_due = [&](const char* title, todo_due due) {
    auto item = titled(title);
    item.due = due;
    return add("alice", item);
  };
  with_due("d13", date(2025, 3, 13));
  with_due("d14", date(2025, 3, 14));
  with_due("d15", date(2025, 3, 15));
  with_due("i-2300", instant("2025-03-14T23:00:00Z"));
  with_due("i-2345", instant("2025-03-14T23:45:00Z"));
  const auto done = with_due("done-d01", date(2025, 3, 1));
  todos().complete("alice", done.id, {});
  add("alice", titled("no due"));

  todo_query query;
  query.status = status_filter::all;
  query.overdue_at = sys_days{year{2025} / March / 14} + hours{23} + minutes{30};
  query.utc_offset = hours{2};  // local date is already the 15th
  EXPECT_EQ(titles("alice", query), (std::vector<std::string>{"d13", "d14", "i-2300"}));
  query.utc_offset = hours{-5};  // local date is still the 14th
  EXPECT_EQ(titles("alice", query), (std::vector<std::string>{"d13", "i-2300"}));

  // "Overdue as of local date 2025-03-15" at UTC+02:00.
  query.overdue_at = local_midnight(year{2025} / March / 15, hours{2});
  query.utc_offset = hours{2};
  EXPECT_EQ(titles("alice", query), (std::vector<std::string>{"d13", "d14"}));
}

// "Overdue" is as of the moment of each call, which moves between pages: the cursor of page 1
// must still serve page 2 (it used to be tied to the millisecond of page 1's call).
TEST_P(TodoRepositoryTest, OverdueListsPageAsTimeMovesOn) {
  for (int day = 1; day <= 5; ++day) {
    auto item = titled("d" + std::to_string(day));
    item.due = date(2025, 3, day);
    add("alice", item);
  }
  todo_query query;
  query.sort = todo_sort::due;
  query.limit = 2;
  query.overdue_at = sys_days{year{2025} / March / 10} + hours{9};
  std::vector<std::string> seen;
  for (int page = 0; page < 5; ++page) {
    const auto result = todos().list("alice", query, {});
    for (const auto& item : result.items) seen.push_back(item.title);
    if (!result.next_cursor) break;
    query.cursor = result.next_cursor;
    *query.overdue_at += std::chrono::milliseconds(1500);  // the next call, a moment later
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"d1", "d2", "d3", "d4", "d5"}));
}

// Expected order of `items` for `query` (mirrors the documented ordering).
std::vector<std::string> expected_order(std::vector<todo> items, const todo_query& query) {
  const auto key = [&](const todo& t) -> std::tuple<int, std::int64_t, std::string> {
    switch (query.sort) {
      case todo_sort::due:
        if (!t.due) return {1, 0, ""};
        return {0, t.due->start_for(query.utc_offset).time_since_epoch().count(), ""};
      case todo_sort::created:
        return {0, t.created_at.time_since_epoch().count(), ""};
      case todo_sort::priority:
        return {0, static_cast<int>(t.priority), ""};
      case todo_sort::title: {
        std::string lower = t.title;
        for (auto& c : lower)
          if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        return {0, 0, lower};
      }
    }
    return {0, 0, ""};
  };
  const bool ascending = query.direction == sort_direction::ascending;
  std::sort(items.begin(), items.end(), [&](const todo& a, const todo& b) {
    auto [ga, na, sa] = key(a);
    auto [gb, nb, sb] = key(b);
    if (ga != gb) return ga < gb;  // todos without a due last in both directions
    if (na != nb) return ascending ? na < nb : na > nb;
    if (sa != sb) return ascending ? sa < sb : sa > sb;
    return ascending ? a.id < b.id : a.id > b.id;
  });
  return ids_of(items);
}

TEST_P(TodoRepositoryTest, EverySortAndDirectionPaginatesStablyWithTies) {
  struct spec {
    const char* title;
    todo_priority priority;
    std::optional<todo_due> due;
  };
  const std::vector<spec> specs = {
      {"banana", todo_priority::low, date(2025, 3, 14)},
      {"Apple", todo_priority::high, instant("2025-03-13T22:00:00Z")},  // = 14th 00:00 at +02
      {"apple", todo_priority::high, date(2025, 3, 14)},
      {"cherry", todo_priority::medium, std::nullopt},
      {"Date", todo_priority::medium, instant("2025-03-20T10:00:00+05:00")},
      {"banana", todo_priority::low, std::nullopt},
      {"elder", todo_priority::high, date(2025, 1, 1)},
      {"fig", todo_priority::low, instant("2025-01-01T00:00:00Z")},
      {"apple", todo_priority::medium, date(2026, 1, 1)},
      {"grape", todo_priority::medium, std::nullopt},
      {"_under", todo_priority::low, date(2025, 3, 14)},
  };
  std::vector<todo> created;
  for (const auto& s : specs) {
    auto item = titled(s.title);
    item.priority = s.priority;
    item.due = s.due;
    created.push_back(add("alice", item));
  }
  for (auto sort : {todo_sort::due, todo_sort::created, todo_sort::priority, todo_sort::title}) {
    for (auto direction : {sort_direction::ascending, sort_direction::descending}) {
      for (std::size_t limit : {1u, 3u, 100u}) {
        todo_query query;
        query.sort = sort;
        query.direction = direction;
        query.limit = limit;
        query.utc_offset = hours{2};
        EXPECT_EQ(ids_of(list_all("alice", query)), expected_order(created, query))
            << "sort " << static_cast<int>(sort) << " direction " << static_cast<int>(direction)
            << " limit " << limit;
      }
    }
  }
}

// Every list statement (sort, direction, with or without a status filter, every cursor kind)
// against the documented order, with ties on every key, dates and instants that meet at the
// reader's midnight, offsets that put keys on and off midnights, and a filter on top.
TEST_P(TodoRepositoryTest, PagesFollowTheOrderForEveryStatusOffsetAndFilter) {
  std::vector<new_todo> batch;  // one batch: every item has the same created_at
  const auto with = [&](const char* title, todo_priority priority, std::optional<todo_due> due,
                        bool tagged) {
    auto item = titled(title);
    item.priority = priority;
    item.due = due;
    if (tagged) item.tags = {"t"};
    batch.push_back(item);
  };
  with("b", todo_priority::low, date(2025, 3, 14), true);
  with("B", todo_priority::low, date(2025, 3, 14), false);
  with("a", todo_priority::high, instant("2025-03-13T22:00:00Z"), true);   // 14th at +02
  with("c", todo_priority::high, instant("2025-03-14T05:30:00Z"), false);  // 14th at -05:30
  with("c", todo_priority::medium, instant("2025-03-14T05:30:00Z"), true);
  with("d", todo_priority::medium, std::nullopt, false);
  with("D", todo_priority::medium, std::nullopt, true);
  with("e", todo_priority::low, std::nullopt, true);
  with("f", todo_priority::high, date(2025, 3, 13), false);
  with("g", todo_priority::medium, instant("2025-03-14T00:00:00Z"), true);  // 14th at UTC
  with("h", todo_priority::low, date(2025, 3, 15), false);
  auto added = todos().add_batch("alice", batch, {});
  std::vector<todo> items;
  for (const auto& result : added) items.push_back(result.added->item);
  for (int i = 0; i < 4; ++i) items.push_back(add("alice", titled("later " + std::to_string(i))));
  for (std::size_t i : {1u, 4u, 6u, 12u}) items[i] = *todos().complete("alice", items[i].id, {});

  for (auto status : {status_filter::open, status_filter::done, status_filter::all}) {
    for (auto offset : {minutes{0}, minutes{120}, minutes{-330}, minutes{14 * 60 + 15}}) {
      // 0: no other filter; 1: a tag; 2: a due range with a text (overdue has its own test).
      for (int filter : {0, 1, 2}) {
        const auto due_from = todo_due::on_date(year{2025} / March / 14);
        const auto due_before = todo_due::on_date(year{2025} / March / 15);
        std::vector<todo> expected;
        for (const auto& item : items) {
          const bool status_matches =
              status == status_filter::all ||
              (status == status_filter::open) == (item.status == todo_status::open);
          bool filter_matches = filter != 1 || item.tags.contains("t");
          if (filter == 2) {
            filter_matches = item.due && item.title.find_first_of("bB") != std::string::npos &&
                             item.due->start_for(offset) >= due_from.start_for(offset) &&
                             item.due->start_for(offset) < due_before.start_for(offset);
          }
          if (status_matches && filter_matches) expected.push_back(item);
        }
        for (auto sort :
             {todo_sort::due, todo_sort::created, todo_sort::priority, todo_sort::title}) {
          for (auto direction : {sort_direction::ascending, sort_direction::descending}) {
            for (std::size_t limit : {1u, 2u, 5u}) {
              todo_query query;
              query.status = status;
              query.utc_offset = offset;
              if (filter == 1) query.tag = "t";
              if (filter == 2) {
                query.due_from = due_from;
                query.due_before = due_before;
                query.text = "b";
              }
              query.sort = sort;
              query.direction = direction;
              query.limit = limit;
              EXPECT_EQ(ids_of(list_all("alice", query)), expected_order(expected, query))
                  << "status " << static_cast<int>(status) << " offset " << offset.count()
                  << " filter " << filter << " sort " << static_cast<int>(sort) << " direction "
                  << static_cast<int>(direction) << " limit " << limit;
            }
          }
        }
      }
    }
  }
}

// `cursor` (JSON inside base64url) with the value of `field` replaced by `value`.
std::string with_field(const std::string& cursor, const std::string& field,
                       const std::string& value) {
  std::string text = internal::base64url_decode(cursor).value();
  const auto at = text.find("\"" + field + "\":");
  if (at == std::string::npos) return cursor;
  const auto start = at + field.size() + 3;
  text.replace(start, text.find_first_of(",}", start) - start, value);
  return internal::base64url_encode(text);
}

// A cursor of the right query whose position no stored row can have is refused, not run.
TEST_P(TodoRepositoryTest, CursorsWithImpossiblePositionsAreRejected) {
  for (int i = 0; i < 3; ++i) add("alice", titled("t" + std::to_string(i)));
  auto item = titled("dated");
  item.due = date(2025, 3, 14);
  add("alice", item);
  add("alice", item);
  const std::vector<std::pair<todo_sort, std::vector<std::string>>> cases = {
      {todo_sort::due, {"9223372036854775807", "-9000000000000000"}},
      {todo_sort::created, {"9223372036854775807", "-9000000000000000"}},
      {todo_sort::priority, {"0", "4", "-32769", "9223372036854775807"}},
  };
  for (const auto& [sort, keys] : cases) {
    todo_query query;
    query.sort = sort;
    query.limit = 1;
    const auto cursor = todos().list("alice", query, {}).next_cursor;  // a dated row for due
    ASSERT_TRUE(cursor);
    query.cursor = cursor;
    EXPECT_EQ(todos().list("alice", query, {}).items.size(), 1u);
    for (const auto& key : keys) {
      query.cursor = with_field(*cursor, "k", key);
      ASSERT_NE(query.cursor, cursor);
      EXPECT_THROW(todos().list("alice", query, {}), invalid_request) << key;
    }
    query.cursor = with_field(*cursor, "g", sort == todo_sort::due ? "2" : "1");
    ASSERT_NE(query.cursor, cursor);
    EXPECT_THROW(todos().list("alice", query, {}), invalid_request);
    if (sort == todo_sort::due) {
      // After an undated row the key is 0.
      query.cursor = with_field(with_field(*cursor, "g", "1"), "k", "5");
      EXPECT_THROW(todos().list("alice", query, {}), invalid_request);
      query.cursor = with_field(with_field(*cursor, "g", "1"), "k", "0");
      EXPECT_NO_THROW(todos().list("alice", query, {}));
    }
  }
}

TEST_P(TodoRepositoryTest, CursorsAndLimitsAreValidated) {
  for (int i = 0; i < 3; ++i) add("alice", titled("t" + std::to_string(i)));
  todo_query query;
  query.limit = 1;
  const auto page = todos().list("alice", query, {});
  ASSERT_TRUE(page.next_cursor);

  todo_query other = query;
  other.sort = todo_sort::title;
  other.cursor = page.next_cursor;
  EXPECT_THROW(todos().list("alice", other, {}), invalid_request);
  other = query;
  other.cursor = "not a cursor";
  EXPECT_THROW(todos().list("alice", other, {}), invalid_request);
  other.cursor = "eyJmIjoxfQ";  // valid base64 JSON, wrong content
  EXPECT_THROW(todos().list("alice", other, {}), invalid_request);
  query.limit = 0;
  EXPECT_THROW(todos().list("alice", query, {}), invalid_request);
  query.limit = max_page_size + 1;
  EXPECT_THROW(todos().list("alice", query, {}), invalid_request);
  query.limit = max_page_size;
  EXPECT_EQ(todos().list("alice", query, {}).items.size(), 3u);
}

TEST_P(TodoRepositoryTest, ExportAllIsInCreationOrder) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(add("alice", titled("t" + std::to_string(i))).id);
  EXPECT_EQ(ids_of(todos().export_all("alice", {})), ids);
}

// A batch's items share one created_at: they used to come back in the random order of their
// ids. 20 items, so that a random order passes with odds of 1 in 20!.
TEST_P(TodoRepositoryTest, BatchItemsKeepTheirOrderInListsAndExports) {
  std::vector<new_todo> batch;
  std::vector<std::string> titles;
  for (int i = 0; i < 20; ++i) {
    titles.push_back("item " + std::to_string(i));
    batch.push_back(titled(titles.back()));
  }
  todos().add_batch("alice", batch, {});
  std::vector<std::string> exported;
  for (const auto& item : todos().export_all("alice", {})) exported.push_back(item.title);
  EXPECT_EQ(exported, titles);
  todo_query query;
  query.limit = 100;
  std::vector<std::string> listed;
  for (const auto& item : todos().list("alice", query, {}).items) listed.push_back(item.title);
  EXPECT_EQ(listed, titles);
  query.direction = sort_direction::descending;
  listed.clear();
  for (const auto& item : todos().list("alice", query, {}).items) listed.push_back(item.title);
  EXPECT_EQ(listed, std::vector<std::string>(titles.rbegin(), titles.rend()));
}

TEST_P(TodoRepositoryTest, AStopRequestedBeforeTheCallCancelsIt) {
  std::stop_source stop;
  stop.request_stop();
  EXPECT_THROW(todos().add("alice", titled("never"), stop.get_token()), cancelled);
  EXPECT_THROW(todos().list("alice", {}, stop.get_token()), cancelled);
  EXPECT_TRUE(todos().export_all("alice", {}).empty());
}

BOOKMCP_INSTANTIATE_STORE_SUITE(TodoRepositoryTest);

}  // namespace
}  // namespace bookmcp::store
