// An N-layer network Y_i = f_i(A_i Y_{i−1} + B_i), trained with its closed-form backprop written out by
// hand and checked against autodiff at every step.
//
//   X_i = A_i Y_{i−1} + B_i,   Y_i = f_i(X_i),   f_i = tanh (hidden), f_n = softmax
//   L   = (1/N) Σ_samples (Y_n − Y)ᵀ(Y_n − Y)      (MSE against one-hot targets Y)
//
// With samples as the columns of Y_0 (N columns), the backprop recursion reads
//   K_n = ∂f_n/∂X_n · 2(Y_n − Y)/N          (softmax: per column s ⊙ (e − sᵀe), e = 2(Y_n − Y)/N)
//   K_i = (A_{i+1}ᵀ K_{i+1}) ⊙ f_i'(X_i)    (tanh: f' = 1/cosh² = 1 − Y_i²)
//   ∂L/∂A_i = K_i Y_{i−1}ᵀ,   ∂L/∂B_i = K_i summed over the samples
// Each step computes these by hand with matrix products, the same gradients
// with nabla's reverse mode, prints the largest difference, and takes an SGD
// step with the hand-computed gradients. `nabla train --activation tanh
// --output softmax --loss mse --optimizer sgd` trains the same model.
//
// Usage: backprop_network [steps] [batch] [data-dir]; exits 1 if the two ever
// disagree by more than 1e-5 (float32) in relative terms.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "nabla/data.hpp"
#include "nabla/nabla.hpp"
#include "nabla/nn.hpp"

using namespace nabla;

int main(int argc, char** argv) {
  const int steps = argc > 1 ? std::atoi(argv[1]) : 200;
  const int64_t N = argc > 2 ? std::atoll(argv[2]) : 64;
  const std::string dir = argc > 3 ? argv[3] : data::kFashionMnistDir;
  try {
    data::Dataset train = data::load_fashion_mnist(dir).train;
    data::DataLoader loader(train, {.batch_size = N, .shuffle = true, .drop_last = true, .seed = 4});
    const std::vector<int64_t> sizes = {784, 64, 32, 10};
    const size_t n = sizes.size() - 1;
    Generator gen(4);
    std::vector<Tensor> A, B;  // A_i [out, in], B_i [out, 1]
    for (size_t i = 0; i < n; ++i) {
      nn::Linear lin(sizes[i], sizes[i + 1], gen, {.init = nn::Init::xavier_uniform});
      A.push_back(lin.weight.detach().clone().requires_grad_());
      B.push_back(zeros({sizes[i + 1], 1}).requires_grad_());
    }
    const double lr = 0.5;
    double worst = 0;
    data::Batch b;
    for (int step = 0; step < steps; ++step) {
      if (!loader.next(b)) loader.next(b);
      Tensor Y0 = b.features.t();                            // [784, N]: samples as columns
      Tensor Y = one_hot(b.labels, 10).t();                  // [10, N]
      // Forward, recording the graph for autodiff.
      std::vector<Tensor> Ys{Y0};
      for (size_t i = 0; i < n; ++i) {
        Tensor X = matmul(A[i], Ys.back()) + B[i];
        Ys.push_back(i + 1 < n ? tanh(X) : softmax(X, 0));
      }
      Tensor diff = Ys.back() - Y;
      Tensor L = sum(diff * diff) * (1.0 / static_cast<double>(N));
      std::vector<Tensor> params;
      for (size_t i = 0; i < n; ++i) params.push_back(A[i]), params.push_back(B[i]);
      std::vector<Tensor> auto_grads = grad({L}, params);

      // The backprop recursion, by hand, outside any graph.
      std::vector<Tensor> hand(2 * n);
      {
        NoGradGuard ng;
        Tensor s = Ys.back().detach();
        Tensor e = diff.detach() * (2.0 / static_cast<double>(N));
        Tensor K = s * (e - sum(s * e, {0}, true));            // K_n = (diag(s) − s sᵀ) e, per column
        for (size_t i = n; i-- > 0;) {
          hand[2 * i] = matmul(K, Ys[i].detach().t());         // ∂L/∂A_i = K_i Y_{i−1}ᵀ
          hand[2 * i + 1] = sum(K, {1}, true);                 // ∂L/∂B_i = K_i (over the samples)
          if (i > 0) {
            Tensor Yi = Ys[i].detach();
            K = matmul(A[i].detach().t(), K) * (1.0 - Yi * Yi);  // K_{i−1} = (A_iᵀ K_i) ⊙ (1 − tanh²)
          }
        }
        double step_worst = 0;
        for (size_t k = 0; k < hand.size(); ++k) {
          double scale = std::max(1e-3, max(abs(auto_grads[k])).item());
          step_worst = std::max(step_worst, max(abs(hand[k] - auto_grads[k])).item() / scale);
        }
        worst = std::max(worst, step_worst);
        for (size_t k = 0; k < params.size(); ++k) params[k].sub_(hand[k], lr);  // SGD with the hand gradients
        if (step % 20 == 0 || step + 1 == steps)
          std::printf("step %4d  loss %.5f  max relative |hand − autodiff| %.2e\n", step, L.item(), step_worst);
      }
    }
    std::printf("worst relative difference over %d steps: %.2e\n", steps, worst);
    return worst < 1e-5 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "backprop_network: %s\n", e.what());
    return 2;
  }
}
