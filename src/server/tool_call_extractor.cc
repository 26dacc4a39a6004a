#include "server/tool_call_extractor.h"

namespace mies::server {

namespace {

constexpr std::string_view kWs = " \t\r\n";

}  // namespace

ToolCallExtractor::ToolCallExtractor(const ToolCallFormat& format, bool stream, bool parallel)
    : format_(format), parser_(format.NewParser()), stream_(stream), parallel_(parallel) {}

ToolCallOutput ToolCallExtractor::Feed(std::string_view text) {
  ToolCallOutput out;
  events_.clear();
  parser_->Feed(text, &events_);
  for (const ToolParseEvent& ev : events_) Apply(ev, &out);
  return out;
}

ToolCallOutput ToolCallExtractor::Finish() {
  ToolCallOutput out;
  events_.clear();
  parser_->Finish(&events_);
  for (const ToolParseEvent& ev : events_) Apply(ev, &out);
  out.content += pending_ws_;
  pending_ws_.clear();
  return out;
}

void ToolCallExtractor::Content(std::string_view text, ToolCallOutput* out) {
  if (after_call_) {
    const size_t start = text.find_first_not_of(kWs);
    if (start == std::string_view::npos) return;
    text.remove_prefix(start);
    after_call_ = false;
  }
  const size_t last = text.find_last_not_of(kWs);
  if (last == std::string_view::npos) {
    pending_ws_.append(text);
    return;
  }
  out->content += pending_ws_;
  out->content.append(text.substr(0, last + 1));
  pending_ws_ = std::string(text.substr(last + 1));
}

ToolCallDelta& ToolCallExtractor::DeltaFor(ToolCallOutput* out, int index) {
  if (out->calls.empty() || out->calls.back().index != index) {
    out->calls.emplace_back();
    out->calls.back().index = index;
  }
  return out->calls.back();
}

void ToolCallExtractor::Apply(const ToolParseEvent& ev, ToolCallOutput* out) {
  using Kind = ToolParseEvent::Kind;
  switch (ev.kind) {
    case Kind::kContent:
      Content(ev.text, out);
      return;
    case Kind::kMarkup:
      return;
    case Kind::kCallBegin:
      if (!parallel_ && calls_ >= 1) {
        skipping_ = true;
        return;
      }
      in_call_ = true;
      if (stream_) {
        pending_ws_.clear();
        after_call_ = false;
        ToolCallDelta& d = DeltaFor(out, calls_);
        d.id = format_.NewCallId();
        d.name = ev.text;
      } else {
        pending_ = ToolCallDelta{calls_, "", ev.text, ""};
        pending_raw_ = ev.raw;
      }
      return;
    case Kind::kCallArgs:
      if (skipping_) return;
      if (stream_) {
        DeltaFor(out, calls_).arguments += ev.text;
      } else {
        pending_.arguments += ev.text;
        pending_raw_ += ev.raw;
      }
      return;
    case Kind::kCallEnd:
      if (skipping_) {
        skipping_ = false;
        after_call_ = true;
        return;
      }
      if (!stream_) {
        pending_ws_.clear();
        pending_.id = format_.NewCallId();
        out->calls.push_back(std::move(pending_));
      }
      ++calls_;
      in_call_ = false;
      after_call_ = true;
      return;
    case Kind::kCallAbort:
      if (skipping_) {  // a dropped call stays dropped
        skipping_ = false;
        return;
      }
      if (in_call_) {
        in_call_ = false;
        if (stream_) {
          ++calls_;  // what was sent stays a call
          Content(ev.raw, out);
        } else {
          Content(pending_raw_ + ev.raw, out);
        }
        return;
      }
      Content(ev.raw, out);
      return;
  }
}

}  // namespace mies::server
