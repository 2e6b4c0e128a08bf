// What the engine reads of a Model that the public API keeps to itself: the loaded weights.
#pragma once

#include "models/model.h"
#include "wick/model.h"

namespace wick {

const LoadedModel& loaded_model(const Model& model);

}  // namespace wick
