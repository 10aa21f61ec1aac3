// `nabla demo`: differentiates a few textbook examples and prints each
// result beside its closed form, worked out by hand.
#include <iostream>

#include "commands.hpp"
#include "nabla/nabla.hpp"

namespace nabla::cli {
namespace {

void show(const char* what, const Tensor& got, const char* by_hand) {
  std::cout << what << "\n  nabla:   " << got << "\n  by hand: " << by_hand << "\n\n";
}

void run_demo() {
  std::cout << "Textbook derivatives, differentiated by nabla (float64) beside their closed forms.\n\n";
  {
    Tensor x = scalar_tensor(2.0, kFloat64).requires_grad_(), y = scalar_tensor(3.0, kFloat64).requires_grad_();
    auto g = grad({3.0 * x * x * y}, {x, y});
    show("∇(3x²y) at x=2, y=3", stack(g), "[6yx, 3x²] = [36, 12]");
    g = grad({2.0 * x + pow(y, 8.0)}, {x, y});
    show("∇(2x + y⁸) at x=2, y=3", stack(g), "[2, 8y⁷] = [2, 17496]");
    g = grad({x + x * x}, {x});
    show("d/dx (x + x²) at x=2", g[0], "1 + 2x = 5");
  }
  {
    Tensor x = tensor({1.0, -2.0, 3.0}, kFloat64).requires_grad_();
    show("∂sum(x)/∂x", grad({sum(x)}, {x})[0], "1⃗ᵀ = [1, 1, 1]");
  }
  {
    Tensor w = tensor({0.5, -1.0, 2.0}, kFloat64).requires_grad_();
    Tensor b = scalar_tensor(0.25, kFloat64).requires_grad_();
    Tensor x = tensor({1.0, 2.0, 3.0}, kFloat64);
    auto g = grad({relu(dot(w, x) + b)}, {w, b});
    show("ReLU neuron max(0, w·x + b), active (w·x + b = 4.75): ∂/∂w", g[0], "xᵀ = [1, 2, 3]");
    show("  ∂/∂b", g[1], "1");
    Tensor x2 = tensor({-1.0, 2.0, 0.0}, kFloat64);
    g = grad({relu(dot(w, x2) + b)}, {w, b});
    show("ReLU neuron, inactive (w·x + b = −2.25): ∂/∂w", g[0], "0⃗ᵀ");
  }
  {
    Tensor X = tensor({{1.0, 2.0}, {0.5, -1.0}, {2.0, 1.0}}, kFloat64);
    Tensor yv = tensor({3.0, 1.0, 2.0}, kFloat64);
    Tensor w = tensor({0.4, 0.3}, kFloat64).requires_grad_();
    Tensor b = scalar_tensor(0.1, kFloat64).requires_grad_();
    Tensor u = relu(matmul(X, w) + b);
    auto g = grad({mean(square(yv - u))}, {w, b});
    Tensor e = (matmul(X, w) + b - yv).detach();
    show("MSE loss gradient of a ReLU unit, all units active: ∂C/∂w", g[0], "(2/N) Σ eᵢ xᵢᵀ");
    show("  (2/N) Σ eᵢ xᵢᵀ computed directly", matmul(e, X) * (2.0 / 3.0), "");
    show("  ∂C/∂b", g[1], "(2/N) Σ eᵢ");
  }
}

}  // namespace

void register_demo(CLI::App& app) {
  auto* cmd = app.add_subcommand("demo", "Differentiate textbook examples and print them beside their closed forms");
  cmd->callback(run_demo);
}

}  // namespace nabla::cli
