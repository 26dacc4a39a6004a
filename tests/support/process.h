// A child process started with posix_spawn: stdout and stderr are captured through pipes and
// read by a background thread, so a test can wait for a line with a deadline.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace mies::testing {

class ChildProcess {
 public:
  // `env` entries are added to (or replace) the parent's environment.
  ChildProcess(const std::string& program, const std::vector<std::string>& args,
               const std::map<std::string, std::string>& env = {});
  ~ChildProcess();  // SIGKILLs the child if it is still running
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool started() const { return pid_ > 0; }

  // Waits until stdout holds a line containing `text`; false on timeout or exit.
  bool WaitForStdout(const std::string& text, std::chrono::milliseconds timeout);
  // Waits for exit; the exit code, 128+signal when killed, or nullopt on timeout.
  std::optional<int> WaitForExit(std::chrono::milliseconds timeout);
  void Signal(int sig);

  std::string Stdout();
  std::string Stderr();

 private:
  void ReadLoop(int out_fd, int err_fd);

  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::thread reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string out_, err_;
  bool eof_ = false;
};

}  // namespace mies::testing
