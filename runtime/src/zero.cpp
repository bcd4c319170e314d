// DP gradient reduction and ZeRO-1/2/3 with a flat-buffer Adam.
#include "zero.hpp"

#include <cmath>

#include "parplan/model/error.hpp"

namespace parplan::runtime {

ShardedOptimizer::ShardedOptimizer(std::vector<torch::Tensor> params, Group* dp, int stage,
                                   AdamConfig adam, double bucket_bytes)
    : params_(std::move(params)), dp_(dp), stage_(stage), adam_(adam),
      bucket_elems_(std::max<int64_t>(1024, int64_t(bucket_bytes / 4))) {
  if (stage < 0 || stage > 3) throw Error("layout.zero must be 0..3");
  for (auto& p : params_) {
    numel_ += p.numel();
    shapes_.push_back(p.sizes().vec());
    sizes_.push_back(p.numel());
  }
  int64_t p = dp_->size();
  padded_ = stage_ == 0 ? numel_ : (numel_ + p - 1) / p * p;  // shards need equal sizes
  shard_ = stage_ == 0 ? numel_ : padded_ / p;
  torch::NoGradGuard g;
  // Buffers live where the module's parameters are (the CPU, or cuda:LOCAL_RANK under NCCL).
  opts_ = torch::TensorOptions().dtype(torch::kFloat32);
  if (!params_.empty()) opts_ = opts_.device(params_.front().device());
  auto flat = torch::zeros({padded_}, opts_);
  int64_t off = 0;
  for (auto& t : params_) {
    flat.narrow(0, off, t.numel()).copy_(t.detach().reshape({-1}));
    off += t.numel();
  }
  set_param_views(flat);
  m_ = torch::zeros({shard_}, opts_);
  v_ = torch::zeros({shard_}, opts_);
  if (stage_ >= 1) grad_shard_ = torch::zeros({shard_}, opts_);
  if (stage_ == 3) {
    param_shard_ = flat.narrow(0, dp_->rank() * shard_, shard_).clone();
    release_params();
  }
}

void ShardedOptimizer::set_param_views(const torch::Tensor& flat) {
  flat_params_ = flat;
  int64_t off = 0;
  for (size_t i = 0; i < params_.size(); ++i) {
    params_[i].set_data(flat.narrow(0, off, sizes_[i]).view(shapes_[i]));
    off += sizes_[i];
  }
}

void ShardedOptimizer::set_grad_views(const torch::Tensor& flat) {
  flat_grads_ = flat;
  int64_t off = 0;
  for (size_t i = 0; i < params_.size(); ++i) {
    params_[i].mutable_grad() =
        flat.defined() ? flat.narrow(0, off, sizes_[i]).view(shapes_[i]) : torch::Tensor();
    off += sizes_[i];
  }
}

void ShardedOptimizer::broadcast_from_first_rank() {
  torch::NoGradGuard g;
  if (stage_ == 3) {
    gather_params();
    dp_->broadcast(flat_params_, 0);
    param_shard_.copy_(flat_params_.narrow(0, dp_->rank() * shard_, shard_));
    release_params();
  } else {
    dp_->broadcast(flat_params_, 0);
  }
}

void ShardedOptimizer::gather_params() {
  if (stage_ != 3 || flat_params_.defined()) return;
  torch::NoGradGuard g;
  auto flat = torch::empty({padded_}, opts_);
  dp_->all_gather(flat, param_shard_);
  set_param_views(flat);
}

void ShardedOptimizer::release_params() {
  if (stage_ != 3) return;
  flat_params_ = torch::Tensor();
  for (auto& p : params_) p.set_data(torch::empty({0}, opts_));
}

void ShardedOptimizer::prepare_grads() {
  if (flat_grads_.defined()) return;
  set_grad_views(torch::zeros({padded_}, opts_));
}

void ShardedOptimizer::reduce_grads() {
  prepare_grads();
  double scale = 1.0 / double(dp_->size());
  if (stage_ == 0) {
    // Buckets go out back to back; Gloo works on them while the next ones are queued.
    std::vector<Pending> pending;
    for (int64_t off = 0; off < padded_; off += bucket_elems_)
      pending.push_back(dp_->all_reduce_async(flat_grads_.narrow(0, off, std::min(bucket_elems_, padded_ - off))));
    for (auto& p : pending) p.wait();
    flat_grads_.mul_(scale);
    return;
  }
  auto reduced = torch::empty({shard_}, opts_);
  dp_->reduce_scatter(reduced, flat_grads_);
  grad_shard_.copy_(reduced.mul_(scale));
}

torch::Tensor ShardedOptimizer::own_params() {
  if (stage_ == 0) return flat_params_;
  if (stage_ == 3) return param_shard_;
  return flat_params_.narrow(0, dp_->rank() * shard_, shard_);
}

void ShardedOptimizer::step() {
  torch::NoGradGuard g;
  ++t_;
  auto grad = stage_ == 0 ? flat_grads_ : grad_shard_;
  auto p = own_params();
  // Adam (Kingma & Ba 2015) as torch.optim.Adam computes it.
  m_.mul_(adam_.beta1).add_(grad, 1 - adam_.beta1);
  v_.mul_(adam_.beta2).addcmul_(grad, grad, 1 - adam_.beta2);
  double bc1 = 1 - std::pow(adam_.beta1, double(t_));
  double bc2 = 1 - std::pow(adam_.beta2, double(t_));
  auto denom = (v_.sqrt() / std::sqrt(bc2)).add_(adam_.eps);
  p.addcdiv_(m_, denom, -adam_.lr / bc1);
  if (stage_ == 1 || stage_ == 2) {
    auto mine = p.clone();
    dp_->all_gather(flat_params_, mine);
  }
  if (stage_ <= 1) flat_grads_.zero_();
}

void ShardedOptimizer::release_grads() {
  if (stage_ >= 2) set_grad_views(torch::Tensor());
}

HeldBytes ShardedOptimizer::held_bytes() const {
  HeldBytes h;
  h.params = 4.0 * double(stage_ == 3 ? shard_ : padded_);
  h.grads = 4.0 * double(stage_ >= 2 ? shard_ : padded_);
  h.optimizer = 8.0 * double(shard_);
  return h;
}

std::vector<torch::Tensor> ShardedOptimizer::state() const {
  auto p = stage_ == 3 ? param_shard_ : flat_params_;
  // On the CPU, so a checkpoint loads whatever device the resumed run uses.
  return {p.cpu().clone(), m_.cpu().clone(), v_.cpu().clone(), torch::tensor({t_}, torch::kLong)};
}

void ShardedOptimizer::load_state(const std::vector<torch::Tensor>& s) {
  torch::NoGradGuard g;
  if (s.size() != 4) throw Error("checkpoint: unexpected optimizer state");
  auto& p = stage_ == 3 ? param_shard_ : flat_params_;
  if (s[0].numel() != p.numel() || s[1].numel() != m_.numel())
    throw Error("checkpoint: parameter count does not match this plan's stage (different plan?)");
  p.copy_(s[0]);
  m_.copy_(s[1]);
  v_.copy_(s[2]);
  t_ = s[3].item<int64_t>();
}

}  // namespace parplan::runtime
