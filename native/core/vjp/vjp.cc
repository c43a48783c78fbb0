#include "vjp.h"

#include "../kernels/kernels.h"
#include "../util/error.h"

namespace pathwise {

void vjp_chain(const Network& net, const VjpRequest& req, std::vector<float>& cot,
               std::vector<float>& scratch) {
  const auto& layers = net.layers();
  const auto& gemm = kernels::active();
  for (std::size_t i = req.hi; i-- > req.lo;) {
    const Layer& layer = layers[i];
    switch (layer.kind) {
      case LayerKind::Dense: {
        if (req.bias) {
          for (std::size_t r = 0; r < req.rows; ++r) {
            const float* row = cot.data() + r * layer.out_size;
            double dot = 0.0;
            for (std::size_t o = 0; o < layer.out_size; ++o) dot += double(row[o]) * layer.bias[o];
            req.bias[r] += dot;
          }
        }
        // δ_in[rows × in] = δ_out[rows × out] · W[out × in]: all rows in one product.
        scratch.resize(req.rows * layer.in_size);
        gemm.gemm_nn(req.rows, layer.in_size, layer.out_size, cot.data(), layer.out_size,
                     layer.weights.data(), layer.in_size, scratch.data(), layer.in_size,
                     /*accumulate=*/false);
        cot.swap(scratch);
        break;
      }
      case LayerKind::Relu: {
        const float* gate = (*req.gates)[i];
        if (gate == nullptr) throw Error(Error::Kind::Runtime, "internal: ReLU without gates");
        const std::size_t width = layer.in_size;
        for (std::size_t r = 0; r < req.rows; ++r) {
          const float* g = gate + (r / req.rows_per_example) * width;
          float* row = cot.data() + r * width;
          for (std::size_t u = 0; u < width; ++u) row[u] *= g[u];
        }
        break;
      }
    }
  }
}

}  // namespace pathwise
