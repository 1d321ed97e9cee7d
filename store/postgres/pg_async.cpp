#include "store/postgres/pg_async.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <list>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "store/errors.hpp"

namespace bookmcp::store::postgres {

namespace {

using namespace std::chrono;

std::string connection_error(PGconn* pg) {
  std::string message = pg ? PQerrorMessage(pg) : "out of memory";
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  return message;
}

// A blocking connect with the session settings of the blocking pool (pg_pool.cpp); runs on
// the connector thread or in the constructor. Nullptr and `error` set on failure.
PGconn* open_connection(const async_settings& settings, std::string& error) {
  PGconn* pg = PQconnectdb(settings.conninfo.c_str());
  if (!pg || PQstatus(pg) != CONNECTION_OK) {
    error = "cannot connect to Postgres: " + connection_error(pg);
    PQfinish(pg);
    return nullptr;
  }
  const std::string timeout = std::to_string(settings.statement_timeout.count());
  const char* values[] = {timeout.c_str()};
  pg_result set(PQexecParams(pg, session_settings_sql, 1, nullptr, values, nullptr, nullptr, 0));
  if (!set || PQresultStatus(set.get()) != PGRES_TUPLES_OK || PQsetnonblocking(pg, 1) != 0) {
    error = "cannot set up a Postgres session: " + connection_error(pg);
    PQfinish(pg);
    return nullptr;
  }
  return pg;
}

}  // namespace

// Everything the threads share. Locking: `mutex` guards the queue, the connections and each
// operation's place; libpq calls on a connection happen under it (sends are short and
// non-blocking; reads only take what already arrived), so no two threads touch one PGconn.
struct async_pool::state {
  struct operation;

  struct connection {
    PGconn* pg = nullptr;
    PGcancel* cancel = nullptr;
    int fd = -1;
    std::unordered_set<std::string> prepared;
    std::shared_ptr<operation> current;
    bool preparing = false;  // the current operation's PREPARE is under way
    ~connection() {
      if (cancel) PQfreeCancel(cancel);
      if (pg) PQfinish(pg);
    }
  };

  struct operation {
    request what;
    done_fn done;
    std::stop_token stop;
    steady_clock::time_point deadline;
    int attempt = 0;
    bool sent = false;  // something of the statement reached the socket
    pg_result result;   // the statement's rows, or its error
    std::unique_ptr<canceller::watch> watch;
    std::unique_ptr<std::stop_callback<std::function<void()>>> on_stop;
  };

  // An operation that ended, with its outcome; its callbacks run outside the lock.
  struct finished {
    std::shared_ptr<operation> op;
    pg_result result;
    std::exception_ptr failure;
  };

  async_settings settings;
  canceller& cancel;
  std::mutex mutex;
  std::condition_variable connector_wake;
  std::list<std::unique_ptr<connection>> connections;
  std::deque<std::shared_ptr<operation>> queue;
  std::vector<finished> ended;   // failed outside the reactor (stop): delivered by it
  std::size_t opening = 0;       // connections the connector still has to open
  bool connect_failing = false;  // the last connect failed and no connection is open
  bool stopping = false;
  bool attached = false;  // an event loop drives the pool (attach())
  bool parked = false;    // the reactor thread has seen `attached` and no longer waits on epoll
  std::condition_variable attach_changed;
  int epoll = -1;
  int wake = -1;  // eventfd
  std::thread reactor;
  std::thread connector;

  state(async_settings s, canceller& c) : settings(std::move(s)), cancel(c) {}
  ~state() {
    connections.clear();
    if (epoll >= 0) ::close(epoll);
    if (wake >= 0) ::close(wake);
  }

  void signal() {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake, &one, sizeof one);
  }

  static std::exception_ptr unavailable(std::string diagnostic) {
    return std::make_exception_ptr(store_unavailable(unavailable_message, std::move(diagnostic)));
  }

  // Under mutex: adds an open connection and gives it the first queued operation.
  void adopt(PGconn* pg, std::vector<finished>& out) {
    auto conn = std::make_unique<connection>();
    conn->pg = pg;
    conn->cancel = PQgetCancel(pg);
    conn->fd = PQsocket(pg);
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.ptr = conn.get();
    ::epoll_ctl(epoll, EPOLL_CTL_ADD, conn->fd, &event);
    connections.push_back(std::move(conn));
    connect_failing = false;
    dispatch(*connections.back(), out);
  }

  // Under mutex: closes `conn` (broken, or a cancel may still be on its way to it) and asks
  // the connector for a replacement.
  void drop(connection& conn) {
    ::epoll_ctl(epoll, EPOLL_CTL_DEL, conn.fd, nullptr);
    connections.remove_if([&](const auto& c) { return c.get() == &conn; });
    ++opening;
    connector_wake.notify_one();
  }

  // Under mutex: starts the next queued operation on the idle `conn`.
  void dispatch(connection& conn, std::vector<finished>& out) {
    while (!conn.current && !queue.empty()) {
      auto op = std::move(queue.front());
      queue.pop_front();
      if (!start(conn, op, out)) return;  // the connection broke
    }
  }

  // Under mutex: gives queued operations to idle connections (a connection that breaks on
  // its send is dropped from the list: the list is not walked while that can happen).
  void dispatch_idle(std::vector<finished>& out) {
    if (queue.empty()) return;  // the common case: nothing waits
    std::vector<connection*> idle;
    for (auto& conn : connections)
      if (!conn->current) idle.push_back(conn.get());
    for (auto* conn : idle) {
      if (queue.empty()) return;
      const bool live = std::any_of(connections.begin(), connections.end(),
                                    [&](const auto& c) { return c.get() == conn; });
      if (live) dispatch(*conn, out);
    }
  }

  // Under mutex: sends `op` on the idle `conn` (its PREPARE first when the connection has not
  // seen the statement). False when the connection broke (it is dropped, `op` retried or
  // failed).
  bool start(connection& conn, const std::shared_ptr<operation>& op, std::vector<finished>& out) {
    conn.current = op;
    op->watch = std::make_unique<canceller::watch>(cancel, [pg_cancel = conn.cancel] {
      char error[256];
      PQcancel(pg_cancel, error, sizeof error);
    });
    if (op->stop.stop_requested()) op->watch->request();
    return send_next(conn, out);
  }

  // Under mutex: sends the current operation's PREPARE or its execution.
  bool send_next(connection& conn, std::vector<finished>& out) {
    auto& op = conn.current;
    const auto& name = *op->what.name;
    int sent;
    if (!conn.prepared.contains(name)) {
      conn.preparing = true;
      sent = PQsendPrepare(conn.pg, name.c_str(), op->what.sql->c_str(), 0, nullptr);
    } else {
      conn.preparing = false;
      std::vector<const char*> values;
      values.reserve(op->what.values.size());
      for (const auto& value : op->what.values) values.push_back(value ? value->c_str() : nullptr);
      sent = PQsendQueryPrepared(conn.pg, name.c_str(), static_cast<int>(values.size()),
                                 values.data(), nullptr, nullptr, 0);
    }
    // A statement is a few hundred bytes (at most tens of KB with long notes): the socket's
    // buffer takes it, so the flush completes at once; were the buffer full, this loop would
    // spin only until Postgres reads (it reads a statement as it arrives).
    while (sent == 1) {
      const int flushed = PQflush(conn.pg);
      if (flushed == 0) break;
      if (flushed < 0) sent = 0;
    }
    if (sent == 1) {
      op->sent = op->sent || !conn.preparing;
      return true;
    }
    broken(conn, "sending a statement failed: " + connection_error(conn.pg), out);
    return false;
  }

  // Under mutex: the connection broke; its operation is retried once when that cannot change
  // its outcome, else failed.
  void broken(connection& conn, std::string diagnostic, std::vector<finished>& out) {
    auto op = std::move(conn.current);
    const bool cancel_requested = op && op->watch && op->watch->requested();
    if (op) release_watch(*op);
    drop(conn);
    if (!op) return;
    if (!cancel_requested && op->attempt == 0 && (op->what.retry || !op->sent)) {
      op->attempt = 1;
      op->sent = false;
      queue.push_front(std::move(op));
      signal();  // the reactor hands it to the next idle connection
      return;
    }
    const auto kind =
        op->stop.stop_requested() ? failure_kind::cancelled : failure_kind::unavailable;
    out.push_back({std::move(op), nullptr, failure_of(kind, "connection broken: " + diagnostic)});
  }

  static std::exception_ptr failure_of(failure_kind kind, const std::string& diagnostic) {
    try {
      throw_failure(kind, diagnostic);
    } catch (...) {
      return std::current_exception();
    }
  }

  // Outside or under mutex: the watch's destructor waits for a cancel being sent right now
  // (a short network round trip, and only after a stop).
  static void release_watch(operation& op) { op.watch.reset(); }

  // Under mutex: reads what arrived on `conn`; completes its operation when every result is
  // in.
  void readable(connection& conn, std::vector<finished>& out) {
    if (!PQconsumeInput(conn.pg)) {
      broken(conn, connection_error(conn.pg), out);
      return;
    }
    if (!conn.current) {
      // An idle connection with input: the server closed it (restart, termination) or sent a
      // notice. Notices are harmless; anything else ends the connection.
      if (PQstatus(conn.pg) != CONNECTION_OK) return broken(conn, connection_error(conn.pg), out);
      while (!PQisBusy(conn.pg)) {
        PGresult* stray = PQgetResult(conn.pg);
        if (!stray) break;
        PQclear(stray);
      }
      return;
    }
    auto& op = conn.current;
    while (!PQisBusy(conn.pg)) {
      PGresult* next = PQgetResult(conn.pg);
      if (!next) {
        complete(conn, out);
        return;
      }
      // Keep the first error, else the last result.
      const auto status = PQresultStatus(next);
      const bool error = status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK;
      const bool have_error = op->result && PQresultStatus(op->result.get()) != PGRES_TUPLES_OK &&
                              PQresultStatus(op->result.get()) != PGRES_COMMAND_OK;
      if (have_error && !error) {
        PQclear(next);
      } else {
        op->result.reset(next);
      }
    }
    if (PQstatus(conn.pg) != CONNECTION_OK) broken(conn, connection_error(conn.pg), out);
  }

  // Under mutex: the current command of `conn` ended (op->result holds its outcome).
  void complete(connection& conn, std::vector<finished>& out) {
    auto& op = conn.current;
    pg_result result = std::move(op->result);
    const auto status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
    const bool ok = status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK;
    if (ok && conn.preparing) {
      conn.prepared.insert(*op->what.name);
      send_next(conn, out);
      return;
    }
    const bool cancel_requested = op->watch && op->watch->requested();
    if (ok) {
      auto done = std::move(op);
      release_watch(*done);
      // A cancel signal may still reach this connection after the statement ended.
      if (cancel_requested)
        drop(conn);
      else
        dispatch(conn, out);
      out.push_back({std::move(done), std::move(result), nullptr});
      return;
    }
    const char* state = result ? PQresultErrorField(result.get(), PG_DIAG_SQLSTATE) : nullptr;
    const std::string sqlstate = state ? state : "";
    bool is_broken = PQstatus(conn.pg) != CONNECTION_OK;
    const auto kind = sqlstate.empty()
                          ? failure_kind::unavailable
                          : classify_sqlstate(sqlstate, op->stop.stop_requested(), is_broken);
    std::string message = result ? PQresultErrorMessage(result.get()) : connection_error(conn.pg);
    while (!message.empty() && message.back() == '\n') message.pop_back();
    const std::string diagnostic = message + " [SQLSTATE " + sqlstate + "]";
    if (kind == failure_kind::unavailable && (is_broken || sqlstate.empty())) {
      broken(conn, diagnostic, out);
      return;
    }
    auto failed = std::move(op);
    release_watch(*failed);
    if (kind == failure_kind::transient && failed->attempt < 3) {
      ++failed->attempt;
      queue.push_front(std::move(failed));
    } else {
      out.push_back({failed, nullptr, failure_of(kind, diagnostic)});
    }
    if (cancel_requested || is_broken)
      drop(conn);
    else
      dispatch(conn, out);
  }

  // Under mutex: fails queued operations that waited past their deadline; returns the
  // earliest deadline left.
  std::optional<steady_clock::time_point> expire(std::vector<finished>& out) {
    const auto now = steady_clock::now();
    std::optional<steady_clock::time_point> next;
    for (auto it = queue.begin(); it != queue.end();) {
      if ((*it)->deadline <= now) {
        out.push_back(
            {std::move(*it), nullptr,
             std::make_exception_ptr(store_timeout(
                 busy_message, "no Postgres connection became free within the acquire timeout (" +
                                   std::to_string(settings.connections) + " in use)"))});
        it = queue.erase(it);
      } else {
        if (!next || (*it)->deadline < *next) next = (*it)->deadline;
        ++it;
      }
    }
    return next;
  }

  // Runs the completions, outside the lock (they may call run()).
  static void deliver(std::vector<finished>& out) {
    for (auto& item : out) {
      item.op->on_stop.reset();  // waits for a stop callback running right now
      auto done = std::move(item.op->done);
      item.op.reset();
      done(std::move(item.result), item.failure);
    }
    out.clear();
  }

  // Under mutex: handles `n` ready events of `epoll`.
  void process(const epoll_event* events, int n, std::vector<finished>& out) {
    for (int i = 0; i < n; ++i) {
      if (events[i].data.ptr == nullptr) {
        std::uint64_t count;
        [[maybe_unused]] auto r = ::read(wake, &count, sizeof count);
        for (auto& item : ended) out.push_back(std::move(item));
        ended.clear();
        continue;
      }
      auto* conn = static_cast<connection*>(events[i].data.ptr);
      // Dropped earlier in this batch: its pointer must not be used.
      const bool live = std::any_of(connections.begin(), connections.end(),
                                    [&](const auto& c) { return c.get() == conn; });
      if (live) readable(*conn, out);
    }
    dispatch_idle(out);
  }

  // The reactor thread: waits on the sockets, or, while an event loop drives the pool
  // (attached), only checks the queue's deadlines.
  void react() {
    std::vector<finished> out;
    epoll_event events[64];
    for (;;) {
      // Queued operations are checked against their deadline at least twice a second.
      int timeout_ms = 500;
      bool external = false;
      {
        std::lock_guard lock(mutex);
        if (stopping) break;
        external = attached;
        if (auto next = expire(out)) {
          const auto wait =
              duration_cast<milliseconds>(*next - steady_clock::now()) + milliseconds(1);
          timeout_ms = static_cast<int>(std::clamp<milliseconds::rep>(wait.count(), 0, 500));
        }
      }
      deliver(out);
      if (external) {
        std::unique_lock lock(mutex);
        parked = true;  // attach() waits for this: no epoll_wait of ours is under way
        attach_changed.notify_all();
        attach_changed.wait_for(lock, milliseconds(timeout_ms),
                                [&] { return stopping || !attached; });
        parked = false;
        continue;
      }
      const int n = ::epoll_wait(epoll, events, 64, timeout_ms);
      {
        std::lock_guard lock(mutex);
        process(events, n, out);
      }
      deliver(out);
    }
  }

  // An event loop's turn (attach()): handles whatever is ready, without waiting.
  void run_ready() {
    std::vector<finished> out;
    epoll_event events[64];
    for (;;) {
      const int n = ::epoll_wait(epoll, events, 64, 0);
      if (n <= 0) return;
      {
        std::lock_guard lock(mutex);
        process(events, n, out);
      }
      deliver(out);
      if (n < 64) return;
    }
  }

  void connect_loop() {
    auto backoff = milliseconds(100);
    std::unique_lock lock(mutex);
    for (;;) {
      connector_wake.wait(lock, [&] { return stopping || opening > 0; });
      if (stopping) return;
      lock.unlock();
      std::string error;
      PGconn* pg = open_connection(settings, error);
      std::vector<finished> out;
      lock.lock();
      if (stopping) {
        PQfinish(pg);
        return;
      }
      if (pg) {
        --opening;
        adopt(pg, out);
        backoff = milliseconds(100);
      } else {
        if (connections.empty()) {
          // Nothing can run now: fail what waits rather than let it wait for its deadline.
          connect_failing = true;
          for (auto& op : queue) out.push_back({std::move(op), nullptr, unavailable(error)});
          queue.clear();
        }
      }
      lock.unlock();
      deliver(out);
      if (!pg) std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, duration_cast<milliseconds>(seconds(2)));
      lock.lock();
    }
  }
};

async_pool::async_pool(async_settings settings, canceller& cancel)
    : state_(std::make_shared<state>(std::move(settings), cancel)) {
  auto& s = *state_;
  s.settings.connections = std::max<std::size_t>(1, s.settings.connections);
  s.epoll = ::epoll_create1(EPOLL_CLOEXEC);
  s.wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (s.epoll < 0 || s.wake < 0)
    throw store_unavailable(unavailable_message, "cannot create the Postgres reactor");
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.ptr = nullptr;
  ::epoll_ctl(s.epoll, EPOLL_CTL_ADD, s.wake, &event);
  std::vector<state::finished> none;
  for (std::size_t i = 0; i < s.settings.connections; ++i) {
    std::string error;
    PGconn* pg = open_connection(s.settings, error);
    if (!pg) throw store_unavailable(unavailable_message, error);
    std::lock_guard lock(s.mutex);
    s.adopt(pg, none);
  }
  // The threads share the state: the pool may be destroyed by one of them (a completion that
  // drops the last reference to the database), which then cannot be joined and finishes on
  // its own.
  s.reactor = std::thread([self = state_] { self->react(); });
  s.connector = std::thread([self = state_] { self->connect_loop(); });
}

async_pool::~async_pool() {
  auto& s = *state_;
  std::vector<state::finished> out;
  {
    std::lock_guard lock(s.mutex);
    s.stopping = true;
    for (auto& op : s.queue)
      out.push_back({std::move(op), nullptr, state::unavailable("the store is shutting down")});
    s.queue.clear();
    for (auto& conn : s.connections) {
      if (conn->current) {
        state::release_watch(*conn->current);
        out.push_back(
            {std::move(conn->current), nullptr, state::unavailable("the store is shutting down")});
      }
    }
    for (auto& item : s.ended) out.push_back(std::move(item));
    s.ended.clear();
  }
  s.signal();
  s.connector_wake.notify_all();
  s.attach_changed.notify_all();
  for (auto* thread : {&s.reactor, &s.connector}) {
    if (thread->get_id() == std::this_thread::get_id())
      thread->detach();
    else
      thread->join();
  }
  state::deliver(out);
}

event_source async_pool::attach() {
  {
    // The reactor thread may be in epoll_wait right now: wake it, and wait until it parks, so
    // that from here on only the event loop reads the replies.
    std::unique_lock lock(state_->mutex);
    state_->attached = true;
    state_->signal();
    state_->attach_changed.wait(lock, [&] { return state_->parked || state_->stopping; });
  }
  std::weak_ptr<state> weak = state_;
  return {state_->epoll,
          [weak] {
            if (auto s = weak.lock()) s->run_ready();
          },
          [weak] {
            auto s = weak.lock();
            if (!s) return;
            {
              std::lock_guard lock(s->mutex);
              s->attached = false;
            }
            s->attach_changed.notify_all();
          }};
}

void async_pool::run(request what, std::stop_token stop, done_fn done) {
  auto& s = *state_;
  auto op = std::make_shared<state::operation>();
  op->what = std::move(what);
  op->done = std::move(done);
  op->stop = stop;
  op->deadline = steady_clock::now() + s.settings.acquire_timeout;
  // Registered before the operation is queued, so that it never runs under the lock: when
  // the stop comes first it runs here and finds nothing to do (checked just below). Later
  // it runs on the thread that requests the stop and only drops or marks the operation.
  op->on_stop = std::make_unique<std::stop_callback<std::function<void()>>>(
      stop, std::function<void()>([weak_state = std::weak_ptr<state>(state_),
                                   weak = std::weak_ptr<state::operation>(op)] {
        auto target = weak.lock();
        auto owner = weak_state.lock();
        if (!target || !owner) return;
        std::lock_guard lock(owner->mutex);
        if (auto it = std::find(owner->queue.begin(), owner->queue.end(), target);
            it != owner->queue.end()) {
          owner->queue.erase(it);
          owner->ended.push_back(
              {target, nullptr,
               std::make_exception_ptr(
                   cancelled("the operation was cancelled", "stop requested while queued"))});
          owner->signal();
        } else if (target->watch) {
          target->watch->request();
        }
      }));
  std::exception_ptr refused;
  {
    std::lock_guard lock(s.mutex);
    if (stop.stop_requested()) {
      refused = std::make_exception_ptr(
          cancelled("the operation was cancelled", "stop requested before the statement"));
    } else if (s.stopping || (s.connect_failing && s.connections.empty())) {
      refused = state::unavailable(s.stopping ? "the store is shutting down"
                                              : "no Postgres connection can be opened");
    } else {
      s.queue.push_back(op);
      std::vector<state::finished> out;
      s.dispatch_idle(out);
      // What failed while being started (a broken connection) is delivered by the reactor:
      // it may hold other callers' operations too.
      for (auto& item : out) s.ended.push_back(std::move(item));
      if (!out.empty()) s.signal();
    }
  }
  if (refused) {
    op->on_stop.reset();
    auto failed = std::move(op->done);
    op.reset();
    failed(nullptr, refused);
  }
}

}  // namespace bookmcp::store::postgres
