#pragma once
// The todo repository: each reader's study todo list.
//
// Every method takes the owner (the caller's identity) and only ever reads or changes that
// owner's todos: another owner's todo id behaves exactly like an id that does not exist.
//
// Blocking: every call but add_async and list_async (below) blocks on the database, so call it
// from a worker thread, never from an I/O thread. Thread-safety: every method may be called
// concurrently from any thread.
//
// Cancellation: `stop` may fire from any thread while the call waits for a connection or
// runs; the running query is cancelled on the server, nothing is committed, and the call
// throws store::cancelled promptly. A default-constructed token never fires.
//
// Errors: not-found is an empty optional / false. Invalid input that the tool layer should
// have rejected throws invalid_request. Infrastructure failures throw store_unavailable,
// store_timeout, cancelled or store_internal_error (see store/errors.hpp).

#include <cstddef>
#include <exception>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "store/todo.hpp"

namespace bookmcp::store {

class todo_repository {
 public:
  virtual ~todo_repository() = default;

  // Creates a todo (or returns the existing one when `item.client_request_id` was used
  // before by this owner; safe when retries race each other).
  virtual add_result add(const std::string& owner, const new_todo& item,
                         std::stop_token stop) = 0;

  // Adds up to max_batch_size todos in one transaction. Items failing validation get an error
  // entry and are skipped; all other items are committed together or not at all. More than
  // max_batch_size items throws invalid_request.
  virtual std::vector<batch_item_result> add_batch(const std::string& owner,
                                                   const std::vector<new_todo>& items,
                                                   std::stop_token stop) = 0;

  virtual std::optional<todo> get(const std::string& owner, const std::string& id,
                                  std::stop_token stop) = 0;

  // One page of the owner's todos matching `query`. Throws invalid_request for a limit
  // outside 1..max_page_size or a cursor that does not belong to this query.
  virtual todo_page list(const std::string& owner, const todo_query& query,
                         std::stop_token stop) = 0;

  // Applies `patch`; returns the updated todo, or nullopt when there is no such todo.
  virtual std::optional<todo> update(const std::string& owner, const std::string& id,
                                     const todo_patch& patch, std::stop_token stop) = 0;

  // Marks the todo done (completed_at = now; completing a done todo changes nothing).
  virtual std::optional<todo> complete(const std::string& owner, const std::string& id,
                                       std::stop_token stop) = 0;

  // Marks the todo open again (completed_at cleared; reopening an open todo changes nothing).
  virtual std::optional<todo> reopen(const std::string& owner, const std::string& id,
                                     std::stop_token stop) = 0;

  // Deletes the todo; false when there was none.
  virtual bool remove(const std::string& owner, const std::string& id, std::stop_token stop) = 0;

  // All of the owner's todos, ordered by (created_at, id).
  virtual std::vector<todo> export_all(const std::string& owner, std::stop_token stop) = 0;

  // Deletes all of the owner's todos; returns how many there were.
  virtual std::size_t remove_all(const std::string& owner, std::stop_token stop) = 0;

  // --- Without blocking: add() and list() for callers on an event loop ---
  //
  // When supports_async() is true, add_async and list_async return at once and call `done`
  // exactly once later, on a thread of the store (never blocking there: `done` must not block
  // either), or before they return, on the calling thread, for a failure found before any
  // I/O. Semantics and errors are those of add() and list(); the error arrives as `failure`
  // (the value is then empty). Otherwise (SQLite) these defaults call the blocking methods on
  // the calling thread: use them only where blocking is allowed.
  template <typename T>
  using completion = std::function<void(std::optional<T> value, std::exception_ptr failure)>;
  virtual bool supports_async() const noexcept { return false; }
  virtual void add_async(const std::string& owner, const new_todo& item, std::stop_token stop,
                         completion<add_result> done);
  virtual void list_async(const std::string& owner, const todo_query& query, std::stop_token stop,
                          completion<todo_page> done);

  // Calls `done` with what `make` returns, or with the exception it throws.
  template <typename T, typename Make>
  static void deliver(completion<T>& done, Make&& make) {
    std::optional<T> value;
    std::exception_ptr failure;
    try {
      value.emplace(make());
    } catch (...) {
      failure = std::current_exception();
    }
    done(std::move(value), failure);
  }
};

}  // namespace bookmcp::store
