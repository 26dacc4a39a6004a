// Boost.Beast + C++20 coroutines. Each connection is one coroutine on its own strand; an engine
// output wakes it through a timer cancelled from the engine's thread (posted to the strand), so
// a few threads carry many idle and streaming connections. A generation's deadlines, metrics and
// engine calls are GenerationStream's; this file only moves its bytes. Kept in one TU: Beast is
// slow to compile.
#include "server/http_server.h"

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <poll.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <deque>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it

#include "certs/ossl.h"
#include "common/logging.h"
#include "server/client_verify_store.h"
#include "server/generation_stream.h"

namespace mies::server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

std::string RandomUuid() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  uint64_t a = rng(), b = rng();
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                static_cast<unsigned>(0x8000 | ((b >> 48) & 0x3fff)),
                static_cast<unsigned long long>(b & 0xffffffffffffull));
  return buf;
}

Status LoadTls(ssl::context& ctx, const TlsSettings& tls) {
  SSL_CTX* native = ctx.native_handle();
  if (tls.min_version == "1.2") {
    SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
    SSL_CTX_set_cipher_list(native,
                            "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                            "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                            "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
  } else {
    SSL_CTX_set_min_proto_version(native, TLS1_3_VERSION);
  }
  SSL_CTX_set_ciphersuites(native,
                           "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                           "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_CCM_SHA256");
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  boost::system::error_code ec;
  ctx.use_certificate_chain_file(tls.cert_file, ec);
  if (ec) return FailedPrecondition("TLS certificate ", tls.cert_file, ": ", ec.message());
  std::string password;
  if (!tls.key_password_file.empty()) {
    auto pw = certs::ReadPasswordFile(tls.key_password_file);
    if (!pw.ok()) return pw.status();
    password = pw->str();
  }
  ctx.set_password_callback(
      [password](std::size_t, ssl::context::password_purpose) { return password; });
  ctx.use_private_key_file(tls.key_file, ssl::context::pem, ec);
  std::fill(password.begin(), password.end(), '\0');
  if (ec) return FailedPrecondition("TLS private key ", tls.key_file, ": ", ec.message());
  if (SSL_CTX_check_private_key(native) != 1) {
    return FailedPrecondition("TLS private key ", tls.key_file, " does not match ", tls.cert_file);
  }
  for (const auto& ca : tls.ca_files) {
    ctx.load_verify_file(ca, ec);
    if (ec) return FailedPrecondition("TLS CA file ", ca, ": ", ec.message());
  }
  ctx.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  // CRLs: ClientVerifyStore (reloaded when a CRL file changes).
  return OkStatus();
}

}  // namespace

struct HttpServer::State {
  Router* router = nullptr;
  HttpServerOptions opts;
  std::vector<std::thread> threads;
  struct Listener {
    ListenerSpec spec;
    std::unique_ptr<tcp::acceptor> acceptor;
    std::unique_ptr<ssl::context> tls;
    std::unique_ptr<ClientVerifyStore> verify;  // set when the plane has CRL files
    std::atomic<int> connections{0};
  };
  std::vector<std::unique_ptr<Listener>> listeners;
  std::atomic<int> active_jobs{0};
  std::mutex streams_mu;
  std::set<std::shared_ptr<GenerationStream>> streams;  // live generations, aborted by Stop
  std::atomic<bool> stopping{false};
  // Last member, so destroyed first: pending coroutine frames die while everything they touch
  // in their destructors (streams, counters, listeners' TLS contexts) still exists.
  net::io_context ioc;

  ~State() {
    for (auto& l : listeners) l->acceptor.reset();
  }

  ServingContext& ctx() { return router->context(); }

  net::awaitable<void> Accept(Listener* l);
  template <class Stream>
  net::awaitable<void> Session(Listener* l, Stream stream);
  template <class Stream>
  net::awaitable<bool> WriteResponse(Stream& stream, HttpResponse response, bool keep_alive,
                                     unsigned version);
  template <class Stream>
  net::awaitable<void> RunJob(Stream& stream, GenerationJob job, unsigned version);
};

namespace {

template <class Stream>
tcp::socket& RawSocket(Stream& stream) {
  return beast::get_lowest_layer(stream).socket();
}

// True when the peer has closed its side (FIN or reset): MindIE polls for disconnects too.
bool PeerGone(tcp::socket& socket) {
  pollfd p{};
  p.fd = socket.native_handle();
  p.events = POLLRDHUP;
  if (::poll(&p, 1, 0) <= 0) return false;
  return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

template <class Stream>
net::awaitable<void> CloseStream(Stream& stream) {
  beast::error_code ec;
  if constexpr (!std::is_same_v<Stream, beast::tcp_stream>) {
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(1));
    co_await stream.async_shutdown(net::redirect_error(net::use_awaitable, ec));
  }
  RawSocket(stream).shutdown(tcp::socket::shutdown_send, ec);
  RawSocket(stream).close(ec);
}

// After an error answer the client may still be sending: read and drop for a moment so that the
// close does not reset the connection before the client reads the answer.
template <class Stream>
net::awaitable<void> Drain(Stream& stream) {
  beast::error_code ec;
  RawSocket(stream).shutdown(tcp::socket::shutdown_send, ec);
  std::vector<char> sink(64 * 1024);
  auto until = Clock::now() + std::chrono::seconds(2);
  while (!ec && Clock::now() < until) {
    beast::get_lowest_layer(stream).expires_at(until);
    co_await stream.async_read_some(net::buffer(sink), net::redirect_error(net::use_awaitable, ec));
  }
  RawSocket(stream).close(ec);
}

}  // namespace

template <class Stream>
net::awaitable<bool> HttpServer::State::WriteResponse(Stream& stream, HttpResponse r,
                                                      bool keep_alive, unsigned version) {
  http::response<http::string_body> res{static_cast<http::status>(r.status), version};
  res.set(http::field::server, "mies");
  res.set("RequestUUID", RandomUuid());
  if (!r.body.empty() || r.status >= 400) res.set(http::field::content_type, r.content_type);
  for (auto& [k, v] : r.headers) res.set(k, v);
  res.keep_alive(keep_alive);
  res.body() = std::move(r.body);
  res.prepare_payload();
  beast::error_code ec;
  beast::get_lowest_layer(stream).expires_after(opts.write_timeout);
  co_await http::async_write(stream, res, net::redirect_error(net::use_awaitable, ec));
  co_return !ec;
}

template <class Stream>
net::awaitable<void> HttpServer::State::RunJob(Stream& stream, GenerationJob job,
                                               unsigned version) {
  Formatter& fmt = *job.formatter;
  const bool streaming = fmt.stream();
  const auto extra_headers = std::move(job.headers);  // CORS, on every answer below
  auto with_headers = [&extra_headers](HttpResponse r) {
    r.headers.insert(r.headers.end(), extra_headers.begin(), extra_headers.end());
    return r;
  };
  const ErrorStyle style = fmt.error_style();
  auto gen = std::make_shared<GenerationStream>(
      ctx(), job, StreamLimits{opts.token_timeout, opts.e2e_timeout}, Clock::now());
  {
    std::lock_guard lock(streams_mu);
    streams.insert(gen);
  }
  ++active_jobs;
  // Runs on every exit path, including the coroutine's destruction at shutdown.
  struct Cleanup {
    State* s;
    std::shared_ptr<GenerationStream> gen;
    ~Cleanup() {
      {
        std::lock_guard lock(s->streams_mu);
        s->streams.erase(gen);
      }
      --s->active_jobs;
    }
  } cleanup{this, gen};

  // An engine output cancels the wait below (from the engine's thread, through the strand).
  auto wakeup = std::make_shared<net::steady_timer>(co_await net::this_coro::executor);
  auto wake = [wakeup] { net::post(wakeup->get_executor(), [wakeup] { wakeup->cancel(); }); };
  if (auto refused = gen->Submit(std::move(job.request), wake)) {
    co_await WriteResponse(stream,
                           with_headers(ErrorResponse(refused->status, refused->message, style)),
                           false, version);
    co_return;
  }

  beast::error_code ec;
  if (streaming) {
    http::response<http::empty_body> res{http::status::ok, version};
    res.set(http::field::server, "mies");
    res.set("RequestUUID", RandomUuid());
    res.set(http::field::content_type, fmt.stream_content_type());
    res.set(http::field::cache_control, "no-cache");
    for (const auto& [k, v] : extra_headers) res.set(k, v);
    res.keep_alive(false);
    res.chunked(true);
    http::response_serializer<http::empty_body> sr{res};
    beast::get_lowest_layer(stream).expires_after(opts.write_timeout);
    co_await http::async_write_header(stream, sr, net::redirect_error(net::use_awaitable, ec));
  }

  bool done = false;  // the final output or the engine's error was taken
  std::optional<StreamError> timeout;
  while (!ec && !done) {
    std::deque<engine::RequestOutput> batch = gen->TakeOutputs();
    for (auto& out : batch) {
      if (!gen->Record(out, Clock::now())) {
        done = true;
        break;
      }
      std::string bytes = fmt.OnOutput(out);
      if (streaming && !bytes.empty()) {
        beast::get_lowest_layer(stream).expires_after(opts.write_timeout);
        co_await net::async_write(stream, http::make_chunk(net::buffer(bytes)),
                                  net::redirect_error(net::use_awaitable, ec));
        if (ec) break;
      }
      if (out.finished) {
        done = true;
        break;
      }
    }
    if (done || ec) break;
    if (PeerGone(RawSocket(stream))) {
      ec = net::error::connection_reset;
      break;
    }
    // Wait for the next output, the deadline, or the disconnect poll tick.
    auto now = Clock::now();
    timeout = gen->Expired(now);
    if (timeout) break;
    wakeup->expires_at(std::min(gen->Deadline(), now + std::chrono::milliseconds(50)));
    beast::error_code wait_ec;
    co_await wakeup->async_wait(net::redirect_error(net::use_awaitable, wait_ec));
  }

  // What replaces the generation's answer: a deadline's, or the engine's error.
  std::optional<StreamError> error = timeout;
  if (done) {
    gen->Complete(Clock::now());
    error = gen->failure();
  } else {
    gen->Cancel();
    if (ec) {
      MIES_LOG_INFO("request {}: client disconnected, cancelled", gen->engine_id());
      co_return;
    }
  }
  // Built before the co_await: GCC 12 frees a conditional's temporaries twice inside one.
  if (!streaming) {
    HttpResponse response = error ? ErrorResponse(error->status, error->message, style)
                                  : JsonResponse(200, fmt.Finish());
    co_await WriteResponse(stream, with_headers(std::move(response)), false, version);
    co_return;
  }
  const auto failure = done ? StreamFailure::kEngineError : StreamFailure::kTimeout;
  std::string tail =
      error ? fmt.OnStreamError(failure, error->status, error->message) : fmt.Finish();
  beast::get_lowest_layer(stream).expires_after(opts.write_timeout);
  if (!tail.empty()) {
    co_await net::async_write(stream, http::make_chunk(net::buffer(tail)),
                              net::redirect_error(net::use_awaitable, ec));
  }
  if (!ec) {
    co_await net::async_write(stream, http::make_chunk_last(),
                              net::redirect_error(net::use_awaitable, ec));
  }
}

template <class Stream>
net::awaitable<void> HttpServer::State::Session(Listener* l, Stream stream) {
  struct Count {
    Listener* l;
    ~Count() { --l->connections; }
  } count{l};
  beast::error_code ec;
  std::string peer;
  {
    auto ep = RawSocket(stream).remote_endpoint(ec);
    if (!ec) peer = ep.address().to_string() + ":" + std::to_string(ep.port());
  }
  if constexpr (!std::is_same_v<Stream, beast::tcp_stream>) {
    if (l->verify) l->verify->Apply(stream.native_handle());
    beast::get_lowest_layer(stream).expires_after(opts.read_timeout);
    co_await stream.async_handshake(ssl::stream_base::server,
                                    net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      MIES_LOG_WARN("TLS handshake with {} on {} failed: {}", peer, l->spec.Address(),
                    ec.message());
      RawSocket(stream).close(ec);
      co_return;
    }
  }
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(opts.max_header_bytes));
    parser.body_limit(opts.max_body_bytes);
    beast::get_lowest_layer(stream).expires_after(opts.read_timeout);
    co_await http::async_read(stream, buffer, parser, net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      if (ec == http::error::body_limit) {
        ctx().metrics->RequestReceived();
        ctx().metrics->RequestFinished(false);
        HttpResponse r;
        r.status = 413;
        r.body = nlohmann::json{{"message", "Request body too large. Maximum allowed size is " +
                                                std::to_string(opts.max_body_bytes >> 20) + "MB."}}
                     .dump();
        co_await WriteResponse(stream, std::move(r), false, 11);
        co_await Drain(stream);
        co_return;
      }
      if (ec == http::error::header_limit) {
        co_await WriteResponse(stream, ErrorResponse(431, "Request header fields too large"), false,
                               11);
        co_await Drain(stream);
        co_return;
      }
      if (ec == beast::error::timeout || ec == http::error::end_of_stream ||
          ec == net::error::eof || ec == net::error::connection_reset ||
          ec == net::error::operation_aborted || ec == ssl::error::stream_truncated) {
        break;  // idle, slow (slowloris) or gone: close quietly
      }
      co_await WriteResponse(stream, ErrorResponse(400, "Malformed HTTP request: " + ec.message()),
                             false, 11);
      co_await Drain(stream);
      co_return;
    }
    auto& msg = parser.get();
    HttpRequest req;
    req.method = std::string(msg.method_string());
    std::string target(msg.target());
    auto q = target.find('?');
    req.path = target.substr(0, q);
    if (q != std::string::npos) req.query = target.substr(q + 1);
    for (const auto& field : msg) {
      req.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    req.body = std::move(msg.body());
    req.peer = peer;
    const bool keep_alive = msg.keep_alive();
    const unsigned version = msg.version();

    RouteResult result;
    try {
      result = router->Handle(req, l->spec.planes, l->spec.Address());
    } catch (const std::exception& e) {
      MIES_LOG_ERROR("{} {} from {}: {}", req.method, req.path, peer, e.what());
      result.response = ErrorResponse(500, "Server internal error");
    }
    MIES_LOG_DEBUG("{} {} {} from {}", l->spec.Address(), req.method, req.path, peer);
    if (result.job) {
      co_await RunJob(stream, std::move(*result.job), version);
      break;  // MindIE closes the connection after every generation
    }
    if (result.action != ServiceAction::kNone) {
      if (result.action == ServiceAction::kStopService) {
        // Graceful: answer once nothing is in flight.
        net::steady_timer wait(co_await net::this_coro::executor);
        while (active_jobs.load() > 0) {
          wait.expires_after(std::chrono::milliseconds(20));
          co_await wait.async_wait(net::redirect_error(net::use_awaitable, ec));
        }
      }
      co_await WriteResponse(stream, std::move(*result.response), false, version);
      co_await CloseStream(stream);
      if (opts.on_stop) opts.on_stop(result.action);
      co_return;
    }
    bool ok = co_await WriteResponse(stream, std::move(*result.response), keep_alive, version);
    if (!ok || !keep_alive) break;
  }
  co_await CloseStream(stream);
}

net::awaitable<void> HttpServer::State::Accept(Listener* l) {
  for (;;) {
    beast::error_code ec;
    tcp::socket socket(net::make_strand(ioc));
    co_await l->acceptor->async_accept(socket, net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      if (ec == net::error::operation_aborted || stopping) co_return;
      MIES_LOG_WARN("accept on {} failed: {}", l->spec.Address(), ec.message());
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    auto ex = socket.get_executor();
    if (l->connections.load() >= opts.max_connections || stopping) {
      // maxLinkNum reached: refuse this one cleanly, the others are untouched.
      if (!l->tls) {
        net::co_spawn(
            ex,
            [this, s = beast::tcp_stream(std::move(socket))]() mutable -> net::awaitable<void> {
              co_await WriteResponse(
                  s, ErrorResponse(503, "Too many connections: maxLinkNum reached"), false, 11);
              co_await Drain(s);
            },
            net::detached);
      } else {
        socket.close(ec);
      }
      continue;
    }
    ++l->connections;
    if (l->tls) {
      net::co_spawn(ex,
                    Session(l, beast::ssl_stream<beast::tcp_stream>(std::move(socket), *l->tls)),
                    net::detached);
    } else {
      net::co_spawn(ex, Session(l, beast::tcp_stream(std::move(socket))), net::detached);
    }
  }
}

StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(Router* router,
                                                        std::vector<ListenerSpec> specs,
                                                        HttpServerOptions options) {
  std::unique_ptr<HttpServer> server(new HttpServer());
  auto state = std::make_shared<State>();
  state->router = router;
  state->opts = std::move(options);
  for (auto& spec : specs) {
    auto l = std::make_unique<State::Listener>();
    l->spec = spec;
    if (spec.tls) {
      l->tls = std::make_unique<ssl::context>(ssl::context::tls_server);
      if (auto st = LoadTls(*l->tls, *spec.tls); !st.ok()) {
        return FailedPrecondition("listener ", spec.Address(), ": ", st.message());
      }
    }
    boost::system::error_code ec;
    auto address = net::ip::make_address(spec.ip, ec);
    if (ec) return InvalidArgument("listener address ", spec.ip, " is not an IP address");
    tcp::endpoint ep(address, static_cast<unsigned short>(spec.port));
    l->acceptor = std::make_unique<tcp::acceptor>(state->ioc);
    l->acceptor->open(ep.protocol(), ec);
    if (!ec) l->acceptor->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) l->acceptor->bind(ep, ec);
    if (!ec) l->acceptor->listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      return FailedPrecondition(
          "Management or Business or Metrics Http server listen port is occupied: cannot listen "
          "on ",
          spec.Address(), ": ", ec.message());
    }
    l->spec.port = l->acceptor->local_endpoint().port();
    if (l->spec.tls && !l->spec.tls->crl_files.empty()) {
      auto verify =
          ClientVerifyStore::Create("listener " + l->spec.Address(), l->spec.tls->ca_files,
                                    l->spec.tls->crl_files, state->opts.crl_check_interval);
      if (!verify.ok()) {
        return FailedPrecondition("listener ", l->spec.Address(), ": ", verify.status().message());
      }
      l->verify = std::move(*verify);
      // The context's default too, so no handshake can run without the CRLs.
      X509_STORE* store = l->verify->Current();
      SSL_CTX_set1_verify_cert_store(l->tls->native_handle(), store);
      X509_STORE_free(store);
    }
    state->listeners.push_back(std::move(l));
  }
  for (auto& l : state->listeners) {
    net::co_spawn(state->ioc, state->Accept(l.get()), net::detached);
  }
  int threads = std::max(1, state->opts.threads);
  for (int i = 0; i < threads; ++i) {
    state->threads.emplace_back([s = state.get()] {
      for (;;) {
        try {
          s->ioc.run();
          return;
        } catch (const std::exception& e) {
          MIES_LOG_ERROR("HTTP I/O thread: {}", e.what());
        }
      }
    });
  }
  server->state_ = std::move(state);
  return server;
}

void HttpServer::Stop() {
  if (!state_ || state_->stopping.exchange(true)) return;
  std::vector<std::shared_ptr<GenerationStream>> live;
  {
    std::lock_guard lock(state_->streams_mu);
    live.assign(state_->streams.begin(), state_->streams.end());
  }
  for (auto& gen : live) gen->Abort();
  net::post(state_->ioc, [s = state_.get()] {
    for (auto& l : s->listeners) {
      boost::system::error_code ec;
      l->acceptor->close(ec);
    }
  });
  state_->ioc.stop();
  for (auto& t : state_->threads) {
    if (t.joinable()) t.join();
  }
}

HttpServer::~HttpServer() { Stop(); }

int HttpServer::active_generations() const { return state_ ? state_->active_jobs.load() : 0; }

std::vector<int> HttpServer::ports() const {
  std::vector<int> out;
  if (state_) {
    for (auto& l : state_->listeners) out.push_back(l->spec.port);
  }
  return out;
}

}  // namespace mies::server
