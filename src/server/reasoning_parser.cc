#include "server/reasoning_parser.h"

#include <algorithm>

namespace mies::server {

namespace {

constexpr std::string_view kOpenTag = "<think>";
constexpr std::string_view kCloseTag = "</think>";
constexpr std::string_view kWs = " \t\r\n";

size_t PartialTagAtEnd(std::string_view text, std::string_view tag) {
  for (size_t k = std::min(text.size(), tag.size() - 1); k > 0; --k) {
    if (text.substr(text.size() - k) == tag.substr(0, k)) return k;
  }
  return 0;
}

}  // namespace

ReasoningStart ReasoningStartOf(std::string_view prompt) {
  const size_t last = prompt.find_last_not_of(kWs);
  std::string_view trimmed = last == std::string_view::npos ? "" : prompt.substr(0, last + 1);
  if (trimmed.ends_with(kCloseTag)) return ReasoningStart::kClosed;
  const size_t open = prompt.rfind(kOpenTag);
  const size_t close = prompt.rfind(kCloseTag);
  if (open != std::string_view::npos && (close == std::string_view::npos || open > close)) {
    return ReasoningStart::kOpen;
  }
  return ReasoningStart::kMayOpen;
}

ReasoningParser::ReasoningParser(ReasoningStart start)
    : phase_(start == ReasoningStart::kOpen      ? Phase::kReasoning
             : start == ReasoningStart::kMayOpen ? Phase::kStart
                                                 : Phase::kContent) {}

ReasoningOutput ReasoningParser::Feed(std::string_view text) {
  ReasoningOutput out;
  buf_.append(text);
  Step(&out);
  return out;
}

ReasoningOutput ReasoningParser::Finish() {
  ReasoningOutput out;
  at_end_ = true;
  Step(&out);
  pending_ws_.clear();  // trailing whitespace of an unclosed block
  return out;
}

void ReasoningParser::Step(ReasoningOutput* out) {
  for (;;) {
    switch (phase_) {
      case Phase::kStart: {
        const size_t first = buf_.find_first_not_of(kWs);
        if (first == std::string::npos) {
          if (at_end_) {
            out->content += buf_;
            buf_.clear();
          }
          return;
        }
        std::string_view rest = std::string_view(buf_).substr(first);
        if (rest.starts_with(kOpenTag)) {
          buf_.erase(0, first + kOpenTag.size());
          phase_ = Phase::kReasoning;
          continue;
        }
        if (kOpenTag.starts_with(rest) && !at_end_) return;
        phase_ = Phase::kContent;
        continue;
      }
      case Phase::kReasoning: {
        const size_t close = buf_.find(kCloseTag);
        const size_t take = close != std::string::npos ? close
                            : at_end_                  ? buf_.size()
                                      : buf_.size() - PartialTagAtEnd(buf_, kCloseTag);
        std::string_view text = std::string_view(buf_).substr(0, take);
        if (!reasoning_began_) {
          const size_t start = text.find_first_not_of(kWs);
          text.remove_prefix(start == std::string_view::npos ? text.size() : start);
          reasoning_began_ = !text.empty();
        }
        const size_t last = text.find_last_not_of(kWs);
        if (last == std::string_view::npos) {
          pending_ws_.append(text);
        } else {
          out->reasoning += pending_ws_;
          out->reasoning.append(text.substr(0, last + 1));
          pending_ws_ = std::string(text.substr(last + 1));
        }
        if (close == std::string::npos) {
          buf_.erase(0, take);
          return;
        }
        buf_.erase(0, close + kCloseTag.size());
        pending_ws_.clear();
        after_block_ = true;
        phase_ = Phase::kContent;
        continue;
      }
      case Phase::kContent:
        if (after_block_) {
          const size_t first = buf_.find_first_not_of(kWs);
          if (first == std::string::npos) {
            buf_.clear();
            return;
          }
          buf_.erase(0, first);
          after_block_ = false;
        }
        out->content += buf_;
        buf_.clear();
        return;
    }
  }
}

}  // namespace mies::server
