// The Jinja interpreter's own checks (its output is checked against jinja2 and transformers by
// tests/chat/*_oracle_test.py): unsupported features fail at load time with a clear message,
// malformed and hostile templates fail cleanly instead of crashing or running away, and a
// template's raise_exception message comes through as is.
#include <gtest/gtest.h>

#include <random>

#include "chat/jinja_eval.h"
#include "chat/jinja_parser.h"
#include "wick/chat_template.h"

namespace wick {
namespace {

std::string parse_error(const std::string& src) {
  auto t = ChatTemplate::parse(src);
  if (t) return "";
  return t.error().what();
}

TEST(ChatTemplate, UnsupportedFeaturesAreLoadTimeErrors) {
  EXPECT_NE(parse_error("{% include 'x.jinja' %}").find("unsupported template tag '{% include %}'"), std::string::npos);
  EXPECT_NE(parse_error("{% extends 'base' %}").find("unsupported template tag"), std::string::npos);
  EXPECT_NE(parse_error("{% call m() %}x{% endcall %}").find("unsupported template tag '{% call %}'"), std::string::npos);
  EXPECT_NE(parse_error("{{ x|wordwrap(10) }}").find("unsupported filter 'wordwrap'"), std::string::npos);
  EXPECT_NE(parse_error("{{ x is frobbable }}").find("unsupported test 'frobbable'"), std::string::npos);
  EXPECT_NE(parse_error("{{ cycler('a', 'b') }}").find("unsupported function 'cycler'"), std::string::npos);
  EXPECT_NE(parse_error("{{ x.frobnicate() }}").find("unsupported method 'frobnicate()'"), std::string::npos);
  EXPECT_NE(parse_error("{% for x in y recursive %}{% endfor %}").find("recursive"), std::string::npos);
  // A macro may be called before its definition, and a variable holding a macro is fine.
  EXPECT_EQ(parse_error("{{ later() }}{% macro later() %}x{% endmacro %}"), "");
  const std::string err = parse_error("line one\n{% if x %}never closed");
  EXPECT_NE(err.find("was not closed"), std::string::npos) << err;
  EXPECT_NE(parse_error("{% break %}").find("outside a for loop"), std::string::npos);
  EXPECT_NE(parse_error("{{ 'unterminated }}").find("unclosed string"), std::string::npos);
  EXPECT_NE(parse_error("{# no end").find("unclosed comment"), std::string::npos);
}

TEST(ChatTemplate, RaiseExceptionKeepsTheTemplatesMessage) {
  auto t = ChatTemplate::parse("{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}").value();
  auto r = t->render(nlohmann::ordered_json::object());
  ASSERT_FALSE(r);
  EXPECT_STREQ(r.error().what(), "Conversation roles must alternate user/assistant/user/assistant/...");
}

TEST(ChatTemplate, PreparesMessagesAsApplyChatTemplateDoes) {
  auto t =
      ChatTemplate::parse("{% for m in messages %}{{ m.keys()|list }}{% endfor %}|{{ tools }}|{{ documents }}|{{ add_generation_prompt }}")
          .value();
  nlohmann::ordered_json ctx = {{"messages", {{{"role", "assistant"}, {"content", nullptr}, {"reasoning", "r"}}}}};
  EXPECT_EQ(t->render(ctx).value(), "['thinking', 'role', 'reasoning', 'reasoning_content']|None|None|False")
      << "null keys dropped, reasoning aliased, tools/documents None";
}

TEST(ChatTemplate, HostileTemplatesFailCleanly) {
  EXPECT_NE(parse_error("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}").find("nests too deeply"), std::string::npos)
      << "not a stack overflow";
  EXPECT_NE(parse_error("{{ " + std::string(5000, '[') + std::string(5000, ']') + " }}").find("nests too deeply"), std::string::npos);
  EXPECT_NE(parse_error("{{ " + std::string(3000, '-') + "1 }}").find("nests too deeply"), std::string::npos);
  EXPECT_NE(parse_error("{{ " + std::string(5000, '(') + " }}"), "") << "unbalanced brackets";
  std::string ifs;
  for (int i = 0; i < 3000; ++i) ifs += "{% if x %}";
  EXPECT_NE(parse_error(ifs).find("nests too deeply"), std::string::npos);
  auto rec = ChatTemplate::parse("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}").value();
  auto r = rec->render(nlohmann::ordered_json::object());
  ASSERT_FALSE(r);
  EXPECT_NE(std::string(r.error().what()).find("nest too deeply"), std::string::npos) << r.error().what();
  // Output beyond the limit stops the render.
  const auto tpl = jinja::parse(jinja::lex("{% for i in range(100000) %}{% for j in range(1000) %}xxxxxxxxxx{% endfor %}{% endfor %}"));
  jinja::RenderLimits limits;
  limits.max_output_bytes = 1 << 20;
  EXPECT_THROW(jinja::render(tpl, jinja::DictData{}, limits), Error);
}

// Random templates built from template syntax: every one parses and renders or fails with an
// error; none crashes (this runs under the sanitizers too).
TEST(ChatTemplate, RandomTemplatesNeverCrash) {
  const std::vector<std::string> parts = {
      "{{",      "}}",       "{%",    "%}",     "{#",       "#}",  "-",      "+",     " if ",     " for ",      " in ",
      " endif ", " endfor ", " set ", " = ",    "x",        "y",   "'s'",    "\"q\"", "1",        "2.5",        "(",
      ")",       "[",        "]",     "{",      "}",        ",",   ".",      ":",     "|",        "length",     "tojson",
      " is ",    "defined",  " not ", " and ",  " or ",     "~",   "+",      "*",     "/",        "//",         "%",
      "**",      "==",       "<",     "macro ", "endmacro", "\n",  " ",      "loop",  "messages", "namespace(", "raise_exception(",
      "range(",  "else",     "elif",  "break",  "continue", "raw", "endraw", "items", "\\",       "'",          "\""};
  std::mt19937 rng(1234);
  nlohmann::ordered_json ctx = {{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"x", 3}, {"y", {1, 2}}};
  int parsed = 0, rendered = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string src;
    const int n = 1 + static_cast<int>(rng() % 24);
    for (int k = 0; k < n; ++k) src += parts[rng() % parts.size()];
    auto t = ChatTemplate::parse(src);
    if (!t) continue;
    ++parsed;
    if (t.value()->render(ctx)) ++rendered;
  }
  EXPECT_GT(parsed, 100);
  EXPECT_GT(rendered, 50);
}

}  // namespace
}  // namespace wick
