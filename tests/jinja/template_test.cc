// The interpreter against Python's jinja2: every case in fixtures/feature_cases.json was
// rendered by gen_fixtures.py with jinja2 configured as transformers configures it.
#include "jinja/template.h"

#include <gtest/gtest.h>

#include "fixture_util.h"
#include "jinja/builtins.h"

namespace mies::jinja {
namespace {

using testing::FixturePath;
using testing::LoadJson;

// absl::string_view (Status::message) is not std::string_view in Debian's Abseil build.
bool Contains(absl::string_view haystack, absl::string_view needle) {
  return haystack.find(needle) != absl::string_view::npos;
}

TEST(JinjaTemplate, FeatureCasesMatchPythonJinja2) {
  const auto cases = LoadJson(FixturePath("feature_cases.json"));
  ASSERT_GT(cases.size(), 100u);
  int checked = 0;
  for (const auto& c : cases) {
    const std::string tmpl = c["template"].get<std::string>();
    SCOPED_TRACE("template: " + tmpl);
    const bool want_error = c.contains("error");
    auto parsed = Template::Parse(tmpl);
    if (!parsed.ok()) {
      EXPECT_TRUE(want_error) << "parse failed: " << parsed.status().message();
      ++checked;
      continue;
    }
    if (want_error && c.value("at_parse", false)) {
      ADD_FAILURE() << "jinja2 rejects this at load time (" << c["error"] << "), we parsed it";
      continue;
    }
    auto out = parsed->Render(c["context"]);
    if (!want_error) {
      ASSERT_TRUE(out.ok()) << out.status().message();
      EXPECT_EQ(*out, c["expected"].get<std::string>());
    } else {
      ASSERT_FALSE(out.ok()) << "jinja2 fails with " << c["error"] << " but we rendered: " << *out;
      const std::string type = c["error_type"].get<std::string>();
      const std::string msg = c["error"].get<std::string>();
      if (type == "TemplateError") {
        EXPECT_TRUE(IsRaisedError(out.status()));
        EXPECT_EQ(out.status().message(), msg);
      } else if (type == "UndefinedError" || type == "TypeError" || type == "SecurityError" ||
                 type == "ZeroDivisionError" || type == "ValueError") {
        EXPECT_TRUE(Contains(out.status().message(), msg))
            << "want message containing: " << msg << "\n got: " << out.status().message();
      }
    }
    ++checked;
  }
  EXPECT_EQ(checked, static_cast<int>(cases.size()));
}

TEST(JinjaTemplate, UnsupportedConstructIsLoadErrorNamingItAndLine) {
  struct Case {
    const char* source;
    const char* construct;
    const char* line;
  };
  const Case cases[] = {
      {"a\n{% extends 'base.html' %}", "extends", "template line 2"},
      {"{% include 'x' %}", "include", "template line 1"},
      {"x\ny\n{% import 'm' as m %}", "import", "template line 3"},
      {"{% block b %}{% endblock %}", "block", "template line 1"},
      {"\n{% for x in y recursive %}{% endfor %}", "recursive", "template line 2"},
      {"{{ x | wordwrap }}", "filter 'wordwrap'", "template line 1"},
      {"\n\n{{ x is frobbed }}", "test 'frobbed'", "template line 3"},
      {"{% frobnicate %}", "frobnicate", "template line 1"},
      {"{{ f(*args) }}", "argument unpacking", "template line 1"},
  };
  for (const auto& c : cases) {
    auto t = Template::Parse(c.source);
    ASSERT_FALSE(t.ok()) << c.source;
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(Contains(t.status().message(), c.construct)) << t.status().message();
    EXPECT_TRUE(Contains(t.status().message(), c.line)) << t.status().message();
  }
}

TEST(JinjaTemplate, SyntaxErrorsNameTheLine) {
  auto t = Template::Parse("ok\n{% if x %}\nno end");
  ASSERT_FALSE(t.ok());
  EXPECT_TRUE(Contains(t.status().message(), "endif")) << t.status().message();
  t = Template::Parse("{{ 'open }}");
  ASSERT_FALSE(t.ok());
  t = Template::Parse("{# open comment");
  ASSERT_FALSE(t.ok());
  EXPECT_TRUE(Contains(t.status().message(), "comment")) << t.status().message();
  t = Template::Parse("{% break %}");
  ASSERT_FALSE(t.ok());
  EXPECT_TRUE(Contains(t.status().message(), "outside of a for loop"));
}

TEST(JinjaTemplate, RaiseExceptionMessageSurfacesVerbatim) {
  auto t = Template::Parse("x\n{{ raise_exception('Roles must alternate: ' ~ n) }}");
  ASSERT_TRUE(t.ok());
  auto out = t->Render(nlohmann::ordered_json{{"n", 3}});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(out.status().message(), "Roles must alternate: 3");
  EXPECT_TRUE(IsRaisedError(out.status()));
}

TEST(JinjaTemplate, RuntimeErrorNamesLineAndUndefinedThing) {
  auto t = Template::Parse("a\nb\n{{ message.content.strip() }}");
  ASSERT_TRUE(t.ok());
  auto out = t->Render(nlohmann::ordered_json::object());
  ASSERT_FALSE(out.ok());
  EXPECT_FALSE(IsRaisedError(out.status()));
  EXPECT_TRUE(Contains(out.status().message(), "template line 3")) << out.status().message();
  EXPECT_TRUE(Contains(out.status().message(), "'message' is undefined")) << out.status().message();
}

TEST(JinjaTemplate, UndefinedPrintsEmptyButAttributeOfUndefinedFails) {
  auto t = Template::Parse("[{{ nothing }}][{{ m.missing }}][{{ m.missing is defined }}]");
  ASSERT_TRUE(t.ok());
  auto out = t->Render(nlohmann::ordered_json{{"m", nlohmann::ordered_json::object()}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(*out, "[][][False]");
  t = Template::Parse("{{ m.missing.deeper }}");
  ASSERT_TRUE(t.ok());
  out = t->Render(nlohmann::ordered_json{{"m", nlohmann::ordered_json::object()}});
  ASSERT_FALSE(out.ok());
  EXPECT_TRUE(Contains(out.status().message(), "'dict object' has no attribute 'missing'"));
}

TEST(JinjaTemplate, TojsonKeepsCallerKeyOrder) {
  auto t = Template::Parse("{{ tool | tojson }}");
  ASSERT_TRUE(t.ok());
  auto ctx = nlohmann::ordered_json::parse(R"({"tool": {"zeta": 1, "alpha": [true, null, 0.5]}})");
  auto out = t->Render(ctx);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, R"({"zeta": 1, "alpha": [true, null, 0.5]})");
}

TEST(JinjaTemplate, RunawayRecursionAndHugeRangesAreErrorsNotCrashes) {
  auto t = Template::Parse("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
  ASSERT_TRUE(t.ok());
  auto out = t->Render(nlohmann::ordered_json::object());
  ASSERT_FALSE(out.ok());
  EXPECT_TRUE(Contains(out.status().message(), "recursion")) << out.status().message();

  t = Template::Parse("{% for i in range(1000000) %}{% endfor %}");
  ASSERT_TRUE(t.ok());
  out = t->Render(nlohmann::ordered_json::object());
  ASSERT_FALSE(out.ok());
  EXPECT_TRUE(Contains(out.status().message(), "Range too big")) << out.status().message();
}

// Every recursion level here evaluates 60 nested `~` operations, so 200 macro levels (the
// call-depth limit) would need more stack than a thread has (this crashed before the budget);
// the render stops on its stack budget instead.
TEST(JinjaTemplate, DeepExpressionsInsideRecursionStopOnTheStackBudget) {
  std::string expr = "f(n + 1)";
  for (int i = 0; i < 60; ++i) expr = "(" + expr + " ~ '')";
  auto t = Template::Parse("{% macro f(n) %}{{ " + expr + " }}{% endmacro %}{{ f(0) }}");
  ASSERT_TRUE(t.ok()) << t.status().message();
  auto out = t->Render(nlohmann::ordered_json::object());
  ASSERT_FALSE(out.ok());
  EXPECT_TRUE(Contains(out.status().message(), "recursion too deep")) << out.status().message();
  EXPECT_TRUE(Contains(out.status().message(), "MiB of stack")) << out.status().message();
}

TEST(JinjaTemplate, ContextMustBeAnObject) {
  auto t = Template::Parse("x");
  ASSERT_TRUE(t.ok());
  auto out = t->Render(nlohmann::ordered_json::array());
  ASSERT_FALSE(out.ok());
  EXPECT_TRUE(Contains(out.status().message(), "JSON object"));
}

TEST(JinjaTemplate, IntegerOverflowIsAnError) {
  auto t = Template::Parse("{{ 9223372036854775807 + 1 }}");
  ASSERT_TRUE(t.ok());
  auto out = t->Render(nlohmann::ordered_json::object());
  ASSERT_FALSE(out.ok());
  EXPECT_TRUE(Contains(out.status().message(), "overflow"));
}

// Each of these once reached undefined behaviour (a double cast beyond int64, the one int64
// quotient that traps) or ran for ~2^63 steps; they are errors or fast answers now.
TEST(JinjaTemplate, ArithmeticEdgesAreErrorsOrFastAnswers) {
  struct Case {
    const char* source;
    const char* want;  // output, or a substring of the error when `error`
    bool error;
  };
  const Case cases[] = {
      {"{{ (-9223372036854775807 - 1) // -1 }}", "overflow", true},
      {"{{ (-9223372036854775807 - 1) % -1 }}", "0", false},
      {"{{ 1 ** 9223372036854775807 }}", "1", false},
      {"{{ (-1) ** 9223372036854775807 }}", "-1", false},
      {"{{ 3 ** 39 }}", "4052555153018976267", false},
      {"{{ 3 ** 40 }}", "overflow", true},
      {"{{ 2 ** 62 }}", "4611686018427387904", false},
      {"{{ 1e300 | int }}", "64-bit integer", true},
      {"{{ '1e300' | int }}", "64-bit integer", true},
      {"{{ 9.2e18 | int }}", "9200000000000000000", false},
      {"{{ '%d' % 1e300 }}", "64-bit integer", true},
      {"{{ '%d' % 2.9 }}", "2", false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.source);
    auto t = Template::Parse(c.source);
    ASSERT_TRUE(t.ok()) << t.status();
    auto out = t->Render(nlohmann::ordered_json::object());
    if (c.error) {
      ASSERT_FALSE(out.ok()) << *out;
      EXPECT_TRUE(Contains(out.status().message(), c.want)) << out.status();
    } else {
      ASSERT_TRUE(out.ok()) << out.status();
      EXPECT_EQ(*out, c.want);
    }
  }
}

// Strings and lists sized by a number in the template (or grown by doubling) are capped at
// 32 MiB / 512 Ki items: each of these once asked for terabytes or looped ~10^18 times.
TEST(JinjaTemplate, HugeStringsAndListsAreErrorsNotOutOfMemory) {
  struct Case {
    const char* source;
    const char* want;  // output, or a substring of the error when `error`
    bool error;
  };
  const Case cases[] = {
      {"{{ 'ab' * 1000000000000 }}", "exceeds the template limit", true},
      {"{{ ([1, 2] * 1000000000000) | length }}", "exceeds the template limit", true},
      {"{{ ('' * 1000000000000000000) ~ '|' ~ ([] * 1000000000000000000) | length }}", "|0", false},
      {"{{ 'ab' * 3 }}|{{ [1] * 2 }}|{{ 'x' * -5 }}", "ababab|[1, 1]|", false},
      {"{{ 'x'.center(1000000000000) }}", "str.center(1000000000000)", true},
      {"{{ 'x'.ljust(5, '-') }}|{{ 'x' | center(5) }}", "x----|  x  ", false},
      {"{{ 'a\nb' | indent(1000000000000) }}", "indent(1000000000000)", true},
      {"{{ 'a\nb' | indent(2) }}", "a\n  b", false},
      {"{{ [1] | tojson(indent=1000000000000) }}", "tojson(indent=1000000000000)", true},
      {"{{ '%999999999d' % 1 }}", "width or precision", true},
      {"{{ '%.999999999f' % 1.5 }}", "width or precision", true},
      {"{{ ('%600s' % 'x') | length }}|{{ '%-3d|' % 7 }}", "600|7  |", false},
      {"{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
       "{% endfor %}{{ ns.s | length }}",
       "string concatenation", true},
      {"{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}"
       "{% endfor %}",
       "list + list", true},
      {"{% set s = 'x' * 20000000 %}{% for i in range(10) %}{{ s }}{% endfor %}", "rendered output",
       true},
      {"{{ ('x' * 20000000).replace('', 'yy') }}", "replace()", true},
      {"{{ 'abc'.replace('', '-') }}|{{ 'aXbX' | replace('X', '--', 1) }}", "-a-b-c-|a--bX", false},
      {"{{ 'ab' + 'cd' }}|{{ ','.join(['a', 'b']) }}", "abcd|a,b", false},
      {"{{ ['x' * 20000000, 'y' * 20000000] | join }}", "join", true},
      // Small lists holding one long string many times print as terabytes.
      {"{{ ['x' * 1000000] * 500000 }}", "printed as text would be longer than", true},
      {"{{ {'k': ['x' * 1000000] * 500000} | tojson }}", "tojson: the JSON text would be longer",
       true},
      {"{{ (['x' * 1000000] * 500000) | length }}", "500000", false},
      {"{{ [[[[[[[[1]]]]]]]] | tojson(indent='x' * 5000000) }}", "tojson: the JSON text", true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.source);
    auto t = Template::Parse(c.source);
    ASSERT_TRUE(t.ok()) << t.status();
    auto out = t->Render(nlohmann::ordered_json::object());
    if (c.error) {
      ASSERT_FALSE(out.ok()) << out->size();
      EXPECT_TRUE(Contains(out.status().message(), c.want)) << out.status();
    } else {
      ASSERT_TRUE(out.ok()) << out.status();
      EXPECT_EQ(*out, c.want);
    }
  }
}

// Nested loops and doubly recursive macros multiply into ~10^10 steps; a render stops after
// 2^17 loop iterations and macro calls with an error instead of running for hours.
TEST(JinjaTemplate, RunawayLoopsAndMacroRecursionStopWithAnError) {
  for (const char* source :
       {"{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{% for i in range(100000) if i > -1 %}{% for j in range(100000) if j > -1 %}"
        "{% endfor %}{% endfor %}",
        "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
        "{{ f(60) }}"}) {
    SCOPED_TRACE(source);
    auto t = Template::Parse(source);
    ASSERT_TRUE(t.ok()) << t.status();
    auto out = t->Render(nlohmann::ordered_json::object());
    ASSERT_FALSE(out.ok());
    EXPECT_TRUE(Contains(out.status().message(), "loop iterations and macro calls"))
        << out.status();
  }
  // 10^5 iterations (jinja2's MAX_RANGE) in one loop are fine.
  auto t = Template::Parse("{% for i in range(100000) %}{% endfor %}{{ 'done' }}");
  ASSERT_TRUE(t.ok()) << t.status();
  auto out = t->Render(nlohmann::ordered_json::object());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "done");
}

// A namespace holding itself was a reference cycle (a leak, and endless recursion when printed);
// wrapping a list in a list in a loop overflowed the stack when the value was printed or freed.
TEST(JinjaTemplate, NamespaceCyclesAndDeepValuesAreErrors) {
  struct Case {
    const char* source;
    const char* want;  // output, or a substring of the error when `error`
    bool error;
  };
  const Case cases[] = {
      {"{% set ns = namespace(a=1) %}{% set ns.self = ns %}{{ ns }}",
       "cannot assign to 'ns.self': a namespace may not hold a namespace", true},
      {"{% set ns = namespace(a=1) %}{% set ns.l = [1, {'k': ns}] %}", "may not hold a namespace",
       true},
      {"{% set a = namespace() %}{% set b = namespace(x=a) %}", "namespace(): attribute 'x'", true},
      {"{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = [ns.l] %}"
       "{% endfor %}{{ ns.l }}",
       "nests deeper than 128 levels", true},
      {"{% set ns = namespace(l=[]) %}{% for i in range(100000) %}"
       "{% set ns.l = {'k': ns.l} %}{% endfor %}",
       "nests deeper than 128 levels", true},
      {"{% set ns = namespace(l=[]) %}{% for i in range(100) %}{% set ns.l = [ns.l] %}"
       "{% endfor %}{{ ns.l | string | length }}",
       "202", false},
      {"{% set ns = namespace(n=0, d={'a': [1]}) %}{% set ns.n = ns.n + 1 %}{{ ns.n }}{{ ns.d }}",
       "1{'a': [1]}", false},
      {"{% set ns = namespace(a=1) %}{{ [ns, ns] | length }}", "2", false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.source);
    auto t = Template::Parse(c.source);
    ASSERT_TRUE(t.ok()) << t.status();
    auto out = t->Render(nlohmann::ordered_json::object());
    if (c.error) {
      ASSERT_FALSE(out.ok()) << *out;
      EXPECT_TRUE(Contains(out.status().message(), c.want)) << out.status();
    } else {
      ASSERT_TRUE(out.ok()) << out.status();
      EXPECT_EQ(*out, c.want);
    }
  }
}

// |unique compared every item with every kept one: range(100000) took 5 * 10^9 comparisons.
TEST(JinjaTemplate, UniqueIsLinearForScalarsAndKeepsPythonEquality) {
  const std::pair<const char*, const char*> cases[] = {
      {"{{ range(100000) | unique | list | length }}", "100000"},
      {"{{ [1, 1.0, True, '1', none, None, 2.5, 2.5, -0.0, 0] | unique | list }}",
       "[1, '1', None, 2.5, -0.0]"},
      {"{{ ['A', 'a', 'b'] | unique | list }}|{{ ['A', 'a'] | unique(case_sensitive=true) | list "
       "}}",
       "['A', 'b']|['A', 'a']"},
  };
  for (const auto& [source, want] : cases) {
    SCOPED_TRACE(source);
    auto t = Template::Parse(source);
    ASSERT_TRUE(t.ok()) << t.status();
    auto out = t->Render(nlohmann::ordered_json::object());
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(*out, want);
  }
}

TEST(JinjaTemplate, DeepNestingIsRejectedNotAStackOverflow) {
  auto t = Template::Parse("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}");
  ASSERT_FALSE(t.ok());
  EXPECT_TRUE(Contains(t.status().message(), "nesting deeper than")) << t.status().message();
  t = Template::Parse("{{ " + std::string(5000, '-') + "1 }}");
  ASSERT_FALSE(t.ok());
  std::string blocks;
  for (int i = 0; i < 3000; ++i) blocks += "{% if true %}";
  t = Template::Parse(blocks);
  ASSERT_FALSE(t.ok());
  EXPECT_TRUE(Contains(t.status().message(), "nesting deeper than")) << t.status().message();

  t = Template::Parse("{{ x | tojson }}");
  ASSERT_TRUE(t.ok());
  const auto deep = nlohmann::ordered_json::parse(std::string(2000, '[') + std::string(2000, ']'));
  auto out = t->Render(nlohmann::ordered_json{{"x", deep}});
  ASSERT_FALSE(out.ok());
  EXPECT_TRUE(Contains(out.status().message(), "nests deeper than")) << out.status().message();
}

// Mangled versions of real templates must parse or fail with a Status, never crash (the
// sanitizer build runs this too).
TEST(JinjaTemplate, MutatedTemplatesFailCleanly) {
  const std::string sources[] = {
      testing::ReadFile(FixturePath("templates/llama3.1.jinja")),
      testing::ReadFile(FixturePath("templates/hermes2pro-tool-use.jinja")),
      testing::ReadFile(FixturePath("templates/deepseek-r1.jinja")),
  };
  const auto ctx = nlohmann::ordered_json::parse(R"({
    "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
                 {"role": "assistant", "content": "a", "tool_calls": [{"id": "x", "type": "function",
                  "function": {"name": "f", "arguments": "{}"}}]}],
    "tools": [{"type": "function", "function": {"name": "f", "description": "d",
               "parameters": {"type": "object", "properties": {"p": {"type": "string", "description": "q"}}}}}],
    "add_generation_prompt": true, "bos_token": "<s>"})");
  const std::string alphabet = "{}%#-+()[]|.,:'\"~ \nabcdefghijklmnopqrstuvwxyz_0123456789=<>!*/";
  uint64_t rng = 0x9E3779B97F4A7C15ull;
  auto next = [&rng] {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
  };
  int parsed = 0, rendered = 0;
  for (int i = 0; i < 300; ++i) {
    std::string s = sources[i % 3];
    const int edits = 1 + static_cast<int>(next() % 4);
    for (int k = 0; k < edits && !s.empty(); ++k) {
      const size_t pos = next() % s.size();
      switch (next() % 3) {
        case 0:
          s.erase(pos, 1 + next() % 8);
          break;
        case 1:
          s.insert(pos, 1, alphabet[next() % alphabet.size()]);
          break;
        default:
          s[pos] = alphabet[next() % alphabet.size()];
      }
    }
    auto t = Template::Parse(s);
    if (!t.ok()) {
      EXPECT_FALSE(t.status().message().empty());
      continue;
    }
    ++parsed;
    auto out = t->Render(ctx);
    if (out.ok()) ++rendered;
  }
  // Some mutations hit plain text and still work; most break the syntax.
  EXPECT_GT(parsed, 0);
  EXPECT_GT(rendered, 0);
}

}  // namespace
}  // namespace mies::jinja
