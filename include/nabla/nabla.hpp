// nabla/nabla.hpp — everything: tensors, ops, autograd.
#pragma once

#include "nabla/autograd.hpp"
#include "nabla/dtype.hpp"
#include "nabla/error.hpp"
#include "nabla/functional.hpp"
#include "nabla/generator.hpp"
#include "nabla/ops.hpp"
#include "nabla/shape.hpp"
#include "nabla/tensor.hpp"
