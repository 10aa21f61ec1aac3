// Uses an installed nabla: the gradient of f(W, b) = Σ tanh(W x + b) against
// its closed form ∂f/∂b = 1 − tanh²(Wx + b), ∂f/∂W = (1 − tanh²(Wx + b)) xᵀ.
// Exits 0 when they agree, 1 otherwise.
#include <cmath>
#include <cstdio>

#include <nabla/nabla.hpp>

int main() {
  using namespace nabla;
  Generator gen(7);
  Tensor W = randn({4, 3}, gen, kFloat64).requires_grad_();
  Tensor b = randn({4}, gen, kFloat64).requires_grad_();
  Tensor x = randn({3}, gen, kFloat64);

  Tensor y = sum(tanh(matmul(W, x) + b));
  y.backward();

  Tensor h = tanh(matmul(W.detach(), x) + b.detach());
  Tensor db = 1.0 - h * h;
  Tensor dW = outer(db, x);
  double err = max(abs(b.grad() - db)).item() + max(abs(W.grad() - dW)).item();

  GradcheckResult check = gradcheck(
      [&](const std::vector<Tensor>& in) { return sum(tanh(matmul(in[0], x) + in[1])); }, {W, b});

  std::printf("nabla consumer: f = %.6f, max |grad - closed form| = %.3g, gradcheck %s\n", y.item(),
              err, check.ok ? "ok" : "FAILED");
  return err < 1e-12 && check.ok ? 0 : 1;
}
