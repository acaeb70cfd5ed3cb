// tide-testapp: a tiny HTTP workload for tests, benchmarks and examples.
// Listens on 127.0.0.1:$PORT (or --port). Routes:
//   GET  /            "hello from <TIDE_INSTANCE>\n"
//   GET  /healthz     "ok"
//   ANY  /sleep?ms=N  answers after N ms (simulated work)
//   ANY  /echo        echoes method, path, query and body back (body verbatim)
//   GET  /env?name=V  the value of environment variable V
//   POST /exit?code=N exits the process with code N right after answering
//   ANY  /status?code=N answers with HTTP status N
//   GET  /probes      how many GET /healthz it has answered (a probe counter)
// Flags: --port N, --startup-delay-ms N (sleep before listening: a slow start),
//        --exit-after-ms N (exit with --exit-code after N ms: a crashing workload),
//        --ignore-sigterm (to test the grace period's SIGKILL),
//        --burn-percent N (a thread busy N ms of every 100: CPU that stops when frozen).
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>

int main(int argc, char** argv) {
  int port = 0;
  if (const char* p = std::getenv("PORT")) port = std::atoi(p);
  int startup_delay_ms = 0, exit_after_ms = -1, exit_code = 1;
  bool ignore_sigterm = false;
  int burn_percent = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> int { return i + 1 < argc ? std::atoi(argv[++i]) : 0; };
    if (a == "--port")
      port = next();
    else if (a == "--startup-delay-ms")
      startup_delay_ms = next();
    else if (a == "--exit-after-ms")
      exit_after_ms = next();
    else if (a == "--exit-code")
      exit_code = next();
    else if (a == "--ignore-sigterm")
      ignore_sigterm = true;
    else if (a == "--burn-percent")
      burn_percent = next();
    else {
      std::cerr << "tide-testapp: unknown argument " << a << "\n";
      return 2;
    }
  }
  if (port <= 0) {
    std::cerr << "tide-testapp: no port (set PORT or --port)\n";
    return 2;
  }
  if (ignore_sigterm) std::signal(SIGTERM, SIG_IGN);
  const char* inst = std::getenv("TIDE_INSTANCE");
  std::string instance = inst ? inst : "unknown";
  if (startup_delay_ms > 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(startup_delay_ms));
  if (exit_after_ms >= 0) {
    std::thread([exit_after_ms, exit_code] {
      std::this_thread::sleep_for(std::chrono::milliseconds(exit_after_ms));
      std::cout << "tide-testapp: exiting with " << exit_code << std::endl;
      std::_Exit(exit_code);
    }).detach();
  }

  if (burn_percent > 0) {
    std::thread([burn_percent] {
      for (;;) {
        auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(burn_percent);
        while (std::chrono::steady_clock::now() < until) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100 - burn_percent));
      }
    }).detach();
  }

  std::atomic<long> probes{0};
  httplib::Server srv;
  srv.new_task_queue = [] { return new httplib::ThreadPool(64); };
  srv.Get("/", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content("hello from " + instance + "\n", "text/plain");
  });
  srv.Get("/healthz", [&](const httplib::Request&, httplib::Response& res) {
    ++probes;
    res.set_content("ok", "text/plain");
  });
  srv.Get("/probes", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::to_string(probes.load()), "text/plain");
  });
  auto sleep_handler = [](const httplib::Request& req, httplib::Response& res) {
    int ms = req.has_param("ms") ? std::atoi(req.get_param_value("ms").c_str()) : 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    res.set_content("slept " + std::to_string(ms) + "\n", "text/plain");
  };
  srv.Get("/sleep", sleep_handler);
  srv.Post("/sleep", sleep_handler);
  auto echo = [](const httplib::Request& req, httplib::Response& res) {
    res.set_header("X-Echo-Method", req.method);
    res.set_header("X-Echo-Path", req.path);
    std::string q;
    for (const auto& [k, v] : req.params) q += (q.empty() ? "" : "&") + k + "=" + v;
    res.set_header("X-Echo-Query", q);
    if (req.has_header("X-Request-Id"))
      res.set_header("X-Echo-Request-Id", req.get_header_value("X-Request-Id"));
    if (req.has_header("X-Forwarded-For"))
      res.set_header("X-Echo-Forwarded-For", req.get_header_value("X-Forwarded-For"));
    res.set_content(req.body, "application/octet-stream");
  };
  srv.Get(R"(/echo.*)", echo);
  srv.Post(R"(/echo.*)", echo);
  srv.Put(R"(/echo.*)", echo);
  srv.Delete(R"(/echo.*)", echo);
  auto status_handler = [](const httplib::Request& req, httplib::Response& res) {
    res.status = req.has_param("code") ? std::atoi(req.get_param_value("code").c_str()) : 200;
    res.set_content("status " + std::to_string(res.status) + "\n", "text/plain");
  };
  srv.Get("/status", status_handler);
  srv.Post("/status", status_handler);
  srv.Get("/env", [](const httplib::Request& req, httplib::Response& res) {
    const char* v = std::getenv(req.get_param_value("name").c_str());
    res.set_content(v ? v : "", "text/plain");
  });
  srv.Post("/exit", [&](const httplib::Request& req, httplib::Response& res) {
    int code = req.has_param("code") ? std::atoi(req.get_param_value("code").c_str()) : 1;
    res.set_content("bye\n", "text/plain");
    std::thread([code] {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      std::_Exit(code);
    }).detach();
  });
  std::cout << "tide-testapp " << instance << " listening on 127.0.0.1:" << port << std::endl;
  if (!srv.listen("127.0.0.1", port)) {
    std::cerr << "tide-testapp: cannot listen on port " << port << ": " << std::strerror(errno)
              << "\n";
    return 1;
  }
  return 0;
}
