// nabla/nabla.hpp — the whole public API in one include: tensors and ops,
// autograd and the functional transforms (jacobian, hessian, jvp, vjp),
// modules, losses, optimizers, data sets and loaders, safetensors files,
// the training loop with its checkpoints, and symbolic differentiation.
#pragma once

#include "nabla/autograd.hpp"
#include "nabla/data.hpp"
#include "nabla/dtype.hpp"
#include "nabla/error.hpp"
#include "nabla/functional.hpp"
#include "nabla/generator.hpp"
#include "nabla/grad_mode.hpp"
#include "nabla/io.hpp"
#include "nabla/nn.hpp"
#include "nabla/nn_functional.hpp"
#include "nabla/ops.hpp"
#include "nabla/optim.hpp"
#include "nabla/shape.hpp"
#include "nabla/sym.hpp"
#include "nabla/tensor.hpp"
#include "nabla/train.hpp"
