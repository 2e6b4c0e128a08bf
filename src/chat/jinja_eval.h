// Renders a parsed template: statements, expressions and jinja2's scoping rules — a for loop
// body gets a fresh scope every iteration (assignments inside do not survive it; namespace()
// objects are how templates carry state out), macros read the template-level variables at call
// time, {% if %} opens no scope.
#pragma once

#include <string>

#include "chat/jinja_ast.h"

namespace wick::jinja {

struct RenderLimits {
  int max_call_depth = 100;                    // nested macro calls
  size_t max_output_bytes = size_t{64} << 20;  // a template that loops away fails instead
  int64_t max_loop_iterations = 10'000'000;    // over all loops of one render
};

// `context` holds the render variables. Throws wick::Error (kInvalidArgument) with the
// template's message (raise_exception) or the failing line and what went wrong.
std::string render(const Template& tpl, const DictData& context, const RenderLimits& limits = {});

}  // namespace wick::jinja
