#include "store/postgres/pg_pool.hpp"

#include <poll.h>

#include <algorithm>
#include <pqxx/except>
#include <pqxx/nontransaction>

#include "store/errors.hpp"

namespace bookmcp::store::postgres {

namespace {

using namespace std::chrono;

// True when an idle connection can still be used: open, and the server has sent nothing
// since our last command (when it closes a session, e.g. on shutdown, it sends a FATAL error
// and EOF, which makes the socket readable).
bool looks_alive(pqxx::connection& conn) {
  if (!conn.is_open()) return false;
  const int fd = conn.sock();
  if (fd < 0) return false;
  pollfd p{fd, POLLIN, 0};
  const int ready = ::poll(&p, 1, 0);
  return ready == 0;
}

}  // namespace

failure_kind classify_sqlstate(const std::string& state, bool stop_requested, bool& broken) {
  if (state == "57014") return stop_requested ? failure_kind::cancelled : failure_kind::timeout;
  if (state.rfind("08", 0) == 0 || state.rfind("57P", 0) == 0 || state == "53300") {
    broken = true;
    return failure_kind::unavailable;
  }
  if (state == "40001" || state == "40P01") return failure_kind::transient;
  return failure_kind::internal;
}

void throw_failure(failure_kind kind, const std::string& diagnostic) {
  switch (kind) {
    case failure_kind::cancelled:
      throw cancelled("the operation was cancelled", diagnostic);
    case failure_kind::timeout:
      throw store_timeout("the database took too long; try again", diagnostic);
    case failure_kind::unavailable:
    case failure_kind::transient:
      throw store_unavailable(unavailable_message, diagnostic);
    case failure_kind::internal:
      break;
  }
  throw store_internal_error("the database failed; try again later", diagnostic);
}

std::string make_conninfo(const std::string& url, std::chrono::milliseconds connect_timeout) {
  // libpq takes whole seconds and treats values below 2 as 2.
  const auto seconds = std::max<long long>(2, (connect_timeout.count() + 999) / 1000);
  const bool is_url = url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
  std::string result = url;
  const auto add = [&](const std::string& key, const std::string& value) {
    if (url.find(key + "=") != std::string::npos) return;
    if (is_url) {
      result += (result.find('?') == std::string::npos ? '?' : '&');
      result += key + "=" + value;
    } else {
      result += " " + key + "=" + value;
    }
  };
  add("connect_timeout", std::to_string(seconds));
  add("application_name", "bookmcp");
  return result;
}

pool::lease::~lease() {
  if (conn_) pool_->release(std::move(conn_), discard_);
}

pool::pool(pool_settings settings) : settings_(std::move(settings)) {
  settings_.max_connections = std::max<std::size_t>(1, settings_.max_connections);
  settings_.min_connections = std::min(settings_.min_connections, settings_.max_connections);
  for (std::size_t i = 0; i < settings_.min_connections; ++i) {
    idle_.push_back(connect());
    ++total_;
  }
}

pool::~pool() = default;

std::unique_ptr<pqxx::connection> pool::connect() {
  try {
    auto conn = std::make_unique<pqxx::connection>(settings_.conninfo);
    // A broken connection must stay broken (we replace it); libpqxx 6 would otherwise
    // reconnect silently and lose session state.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    conn->inhibit_reactivation(true);
#pragma GCC diagnostic pop
    // Session settings. plan_cache_mode: every statement of the store is scoped by an indexed
    // key (the owner, a path), so one generic plan per prepared statement serves every call.
    // Left to itself, Postgres plans a statement with a LIMIT parameter again on every call
    // (the generic plan, not knowing the limit, looks costlier): for a todo list page that
    // was ~40% of Postgres's time per call.
    conn->prepare("bookmcp_session_settings", session_settings_sql);
    {
      pqxx::nontransaction session(*conn);
      session.exec_prepared("bookmcp_session_settings",
                            std::to_string(settings_.statement_timeout.count()));
    }
    if (settings_.setup) settings_.setup(*conn);
    return conn;
  } catch (const pqxx::broken_connection& e) {
    // libpq's message names host and port but never the password.
    throw store_unavailable(unavailable_message,
                            std::string("cannot connect to Postgres: ") + e.what());
  } catch (const pqxx::sql_error& e) {
    throw store_unavailable(unavailable_message,
                            std::string("cannot set up a Postgres session: ") + e.what() +
                                " [" + e.sqlstate() + "]");
  }
}

pool::lease pool::acquire(std::stop_token stop, steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  for (;;) {
    const auto available = [&] { return !idle_.empty() || total_ < settings_.max_connections; };
    // Waiting registers a stop callback; most acquisitions find a connection at once.
    const bool ready = available() || changed_.wait_until(lock, stop, deadline, available);
    if (!ready) {
      if (stop.stop_requested())
        throw cancelled("the operation was cancelled", "stop requested while waiting");
      throw store_timeout(busy_message,
                          "no pooled Postgres connection became free within the acquire "
                          "timeout (" +
                              std::to_string(settings_.max_connections) + " in use)");
    }
    if (!idle_.empty()) {
      auto conn = std::move(idle_.back());
      idle_.pop_back();
      if (looks_alive(*conn)) return lease(*this, std::move(conn));
      --total_;  // stale (server restarted or closed it): drop it and look again
      lock.unlock();
      conn.reset();
      lock.lock();
      continue;
    }
    ++total_;  // reserve the slot, then connect without holding the lock
    lock.unlock();
    try {
      return lease(*this, connect());
    } catch (...) {
      lock.lock();
      --total_;
      changed_.notify_one();
      throw;
    }
  }
}

void pool::release(std::unique_ptr<pqxx::connection> conn, bool discard) {
  if (discard || !conn->is_open()) conn.reset();
  {
    std::lock_guard lock(mutex_);
    if (conn) idle_.push_back(std::move(conn));
    else --total_;
  }
  changed_.notify_one();  // outside the lock: the woken waiter does not block on it at once
}

std::size_t pool::open_connections() {
  std::lock_guard lock(mutex_);
  return total_;
}

canceller::canceller() : thread_([this](std::stop_token stop) { loop(stop); }) {}

canceller::~canceller() {
  thread_.request_stop();
  changed_.notify_all();
}

canceller::watch::watch(canceller& owner, pqxx::connection& conn)
    // PQgetCancel + PQcancel: reads only the connection's fixed address and backend key,
    // which stay valid while the watch (and so the lease) lives.
    : watch(owner, [&conn] { conn.cancel_query(); }) {}

canceller::watch::watch(canceller& owner, std::function<void()> send)
    : owner_(owner), entry_(std::make_unique<entry>(entry{std::move(send)})) {}

canceller::watch::~watch() {
  std::unique_lock lock(owner_.mutex_);
  if (entry_->queued) owner_.queue_.remove(entry_.get());
  entry_->queued = false;
  owner_.changed_.wait(lock, [&] { return !entry_->sending; });
}

void canceller::watch::request() noexcept {
  std::lock_guard lock(owner_.mutex_);
  if (entry_->requested) return;
  entry_->requested = true;
  entry_->queued = true;
  entry_->next_send = steady_clock::now();
  owner_.queue_.push_back(entry_.get());
  owner_.changed_.notify_all();
}

bool canceller::watch::requested() const noexcept {
  std::lock_guard lock(owner_.mutex_);
  return entry_->requested;
}

void canceller::loop(std::stop_token stop) {
  std::unique_lock lock(mutex_);
  while (!stop.stop_requested()) {
    if (queue_.empty()) {
      changed_.wait(lock, stop, [&] { return !queue_.empty(); });
      continue;
    }
    auto due = std::min_element(queue_.begin(), queue_.end(), [](entry* a, entry* b) {
      return a->next_send < b->next_send;
    });
    entry* next = *due;
    if (next->next_send > steady_clock::now()) {
      const auto until = next->next_send;
      changed_.wait_until(lock, stop, until, [] { return false; });
      continue;
    }
    next->sending = true;
    next->next_send = steady_clock::now() + milliseconds(100);
    lock.unlock();
    try {
      next->send();
    } catch (const std::exception&) {
      // Server unreachable: the query is gone with it, or the operation ends on its own.
    }
    lock.lock();
    next->sending = false;
    changed_.notify_all();
  }
}

}  // namespace bookmcp::store::postgres
