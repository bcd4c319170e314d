// DP gradient reduction and ZeRO-1/2/3 with per-bucket collectives and a flat-buffer Adam.
#include "zero.hpp"

#include <algorithm>
#include <cmath>

#include <c10/core/StorageImpl.h>

#include "parplan/model/error.hpp"

namespace parplan::runtime {

namespace {

// Frees a tensor's storage in place (every view of it, including those the autograd graph saved,
// then points at nothing) and refills it: PyTorch FSDP's storage resize, done on the StorageImpl.
void free_storage(const torch::Tensor& t) {
  auto* s = t.storage().unsafeGetStorageImpl();
  s->set_data_ptr_noswap(at::DataPtr(nullptr, t.device()));
  s->set_nbytes(0);
}
void alloc_storage(const torch::Tensor& t, size_t bytes) {
  auto* s = t.storage().unsafeGetStorageImpl();
  s->set_data_ptr_noswap(s->allocator()->allocate(bytes));
  s->set_nbytes(bytes);
}

// Identity forward; its backward runs just before the backward of the segment whose output it
// wraps.
struct PreBackward : torch::autograd::Function<PreBackward> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x, int64_t opt,
                               int64_t segment) {
    ctx->saved_data["opt"] = opt;
    ctx->saved_data["segment"] = segment;
    return x.view_as(x);
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list g) {
    reinterpret_cast<ShardedOptimizer*>(ctx->saved_data["opt"].toInt())
        ->before_backward(int(ctx->saved_data["segment"].toInt()));
    return {g[0], torch::Tensor(), torch::Tensor()};
  }
};

// Adam (Kingma & Ba 2015) as torch.optim.Adam computes it, in chunks so that its temporaries stay
// small next to the model state.
void adam_update(torch::Tensor p, torch::Tensor g, torch::Tensor m, torch::Tensor v,
                 const AdamConfig& a, int64_t t) {
  constexpr int64_t kChunk = 1 << 16;
  double bc1 = 1 - std::pow(a.beta1, double(t)), bc2 = 1 - std::pow(a.beta2, double(t));
  for (int64_t o = 0; o < p.numel(); o += kChunk) {
    int64_t n = std::min(kChunk, p.numel() - o);
    auto pp = p.narrow(0, o, n), gg = g.narrow(0, o, n), mm = m.narrow(0, o, n), vv = v.narrow(0, o, n);
    mm.mul_(a.beta1).add_(gg, 1 - a.beta1);
    vv.mul_(a.beta2).addcmul_(gg, gg, 1 - a.beta2);
    auto denom = (vv.sqrt() / std::sqrt(bc2)).add_(a.eps);
    pp.addcdiv_(mm, denom, -a.lr / bc1);
  }
}

}  // namespace

StageUnits stage_units(const torch::OrderedDict<std::string, torch::Tensor>& named, int64_t blocks,
                       bool tied) {
  StageUnits u;
  u.segment_unit.assign(size_t(blocks + 2), -1);
  for (auto& item : named) {
    const std::string& k = item.key();
    int seg = int(blocks + 1);
    if (k.rfind("wte.", 0) == 0 || k.rfind("wpe.", 0) == 0) {
      seg = 0;
    } else if (k.rfind("blocks.", 0) == 0) {
      seg = std::stoi(k.substr(7)) + 1;
    }
    if (tied && seg == blocks + 1 && u.segment_unit[0] >= 0) u.segment_unit[size_t(seg)] = u.segment_unit[0];
    if (u.segment_unit[size_t(seg)] < 0) {
      u.segment_unit[size_t(seg)] = int(u.units.size());
      u.units.emplace_back();
    }
    u.units[size_t(u.segment_unit[size_t(seg)])].push_back(item.value());
    if (tied && k == "wte.weight") u.reused.push_back(item.value());
  }
  if (tied && u.segment_unit[0] >= 0) u.segment_unit[size_t(blocks + 1)] = u.segment_unit[0];
  return u;
}

ShardedOptimizer::ShardedOptimizer(StageUnits units, Group* dp, int stage, AdamConfig adam,
                                   double bucket_bytes, std::shared_ptr<CommQueue> queue)
    : dp_(dp), stage_(stage), adam_(adam),
      queue_(queue ? std::move(queue) : std::make_shared<CommQueue>()) {
  if (stage < 0 || stage > 3) throw Error("layout.zero must be 0..3");
  const int64_t p = dp_->size(), bucket_elems = std::max<int64_t>(1024, int64_t(bucket_bytes / 4));
  torch::NoGradGuard g;
  opts_ = torch::TensorOptions().dtype(torch::kFloat32);
  // Buckets: ZeRO 2/3 one unit each; ZeRO 0/1 consecutive units up to the bucket size.
  std::vector<int> unit_bucket(units.units.size());
  std::vector<int64_t> unit_numel(units.units.size(), 0);
  for (size_t u = 0; u < units.units.size(); ++u)
    for (auto& t : units.units[u]) unit_numel[u] += t.numel();
  int64_t open = 0;
  for (size_t u = 0; u < units.units.size(); ++u) {
    bool fresh = u == 0 || stage_ >= 2 || open + unit_numel[u] > bucket_elems;
    if (fresh) {
      buckets_.emplace_back();
      open = 0;
    }
    open += unit_numel[u];
    unit_bucket[u] = int(buckets_.size()) - 1;
  }
  for (size_t u = 0; u < units.units.size(); ++u)
    for (auto& t : units.units[u]) {
      Param pr;
      pr.t = t;
      pr.shape = t.sizes().vec();
      pr.numel = t.numel();
      pr.bucket = unit_bucket[u];
      params_.push_back(pr);
      if (!opts_.has_device()) opts_ = opts_.device(t.device());
    }
  // Parameters in bucket order (units are visited in order, so params_ already are).
  for (size_t i = 0; i < params_.size(); ++i) {
    auto& b = buckets_[size_t(params_[i].bucket)];
    if (b.numel == 0) b.first = int(i);
    params_[i].offset = b.numel;
    b.numel += params_[i].numel;
    b.last = int(i) + 1;
    for (auto& r : units.reused)
      if (r.is_same(params_[i].t)) b.at_end = true;
  }
  for (auto& b : buckets_) {
    b.padded = stage_ == 0 ? b.numel : (b.numel + p - 1) / p * p;  // equal chunks
    b.chunk = stage_ == 0 ? b.numel : b.padded / p;
    b.offset = padded_;
    b.shard_offset = shard_;
    padded_ += b.padded;
    shard_ += b.chunk;
    numel_ += b.numel;
  }
  segment_bucket_.assign(units.segment_unit.size(), -1);
  for (size_t s = 0; s < units.segment_unit.size(); ++s)
    if (units.segment_unit[s] >= 0) segment_bucket_[s] = unit_bucket[size_t(units.segment_unit[s])];

  auto copy_in = [&](int b, const torch::Tensor& flat) {
    for (int i = buckets_[size_t(b)].first; i < buckets_[size_t(b)].last; ++i)
      flat.narrow(0, params_[size_t(i)].offset, params_[size_t(i)].numel)
          .copy_(params_[size_t(i)].t.detach().reshape({-1}));
  };
  m_ = torch::zeros({shard_}, opts_);
  v_ = torch::zeros({shard_}, opts_);
  if (stage_ <= 2) {
    flat_params_ = torch::zeros({padded_}, opts_);
    for (size_t b = 0; b < buckets_.size(); ++b) {
      auto view = flat_params_.narrow(0, buckets_[b].offset, buckets_[b].padded);
      copy_in(int(b), view);
      set_views(int(b), view, false);
    }
  }
  if (stage_ <= 1) {
    flat_grads_ = torch::zeros({padded_}, opts_);
    for (size_t b = 0; b < buckets_.size(); ++b)
      set_views(int(b), flat_grads_.narrow(0, buckets_[b].offset, buckets_[b].padded), true);
  }
  if (stage_ >= 2) {
    grad_shard_ = torch::zeros({shard_}, opts_);
    grad_buf_.resize(buckets_.size());
  }
  if (stage_ == 3) {
    param_shard_ = torch::zeros({shard_}, opts_);
    for (size_t b = 0; b < buckets_.size(); ++b) {
      auto full = torch::zeros({buckets_[b].padded}, opts_);
      copy_in(int(b), full);
      set_views(int(b), full, false);
      param_shard_.narrow(0, buckets_[b].shard_offset, buckets_[b].chunk)
          .copy_(full.narrow(0, dp_->rank() * buckets_[b].chunk, buckets_[b].chunk));
      free_storage(full);
      full_.push_back(full);
    }
    state_.assign(buckets_.size(), State::Freed);
    gather_.resize(buckets_.size());
  }
  ready_count_.assign(buckets_.size(), 0);
  launched_.assign(buckets_.size(), false);
  std::vector<torch::Tensor> all;
  for (auto& pr : params_) all.push_back(pr.t);
  hooks_ = std::make_unique<GradReadyHooks>(all, [this](size_t i) { ready(i); });
}

ShardedOptimizer::~ShardedOptimizer() {
  try {
    for (auto& t : inflight_) t.wait();
    for (auto& t : gather_) t.wait();
  } catch (...) {  // a failed collective was reported where it was waited for
  }
}

void ShardedOptimizer::set_views(int b, const torch::Tensor& flat, bool grads) {
  for (int i = buckets_[size_t(b)].first; i < buckets_[size_t(b)].last; ++i) {
    auto& pr = params_[size_t(i)];
    if (grads)
      pr.t.mutable_grad() = flat.defined() ? flat.narrow(0, pr.offset, pr.numel).view(pr.shape) : torch::Tensor();
    else
      pr.t.set_data(flat.narrow(0, pr.offset, pr.numel).view(pr.shape));
  }
}

void ShardedOptimizer::broadcast_from_first_rank() {
  torch::NoGradGuard g;
  if (stage_ == 3) {
    for (size_t b = 0; b < buckets_.size(); ++b) {
      materialize(int(b));
      queue_->run([&] { dp_->broadcast(full_[b], 0); });
      param_shard_.narrow(0, buckets_[b].shard_offset, buckets_[b].chunk)
          .copy_(full_[b].narrow(0, dp_->rank() * buckets_[b].chunk, buckets_[b].chunk));
      free_unit(int(b));
    }
  } else {
    queue_->run([&] { dp_->broadcast(flat_params_, 0); });
  }
}

// ---- ZeRO-3 parameter gathering ----

void ShardedOptimizer::prefetch(int b) {
  if (stage_ != 3 || b < 0 || state_[size_t(b)] != State::Freed) return;
  const auto& bk = buckets_[size_t(b)];
  alloc_storage(full_[size_t(b)], size_t(bk.padded) * 4);
  state_[size_t(b)] = State::Gathering;
  auto out = full_[size_t(b)], in = param_shard_.narrow(0, bk.shard_offset, bk.chunk);
  gather_[size_t(b)] = queue_->submit([this, out, in] { dp_->all_gather(out, in); });
}

void ShardedOptimizer::materialize(int b) {
  if (stage_ != 3 || b < 0 || state_[size_t(b)] == State::Ready) return;
  prefetch(b);
  gather_[size_t(b)].wait();
  state_[size_t(b)] = State::Ready;
}

void ShardedOptimizer::free_unit(int b) {
  if (stage_ != 3 || b < 0 || state_[size_t(b)] == State::Freed) return;
  gather_[size_t(b)].wait();
  free_storage(full_[size_t(b)]);
  state_[size_t(b)] = State::Freed;
}

void ShardedOptimizer::gather_params() {
  if (stage_ != 3) return;
  for (size_t b = 0; b < buckets_.size(); ++b) prefetch(int(b));
  for (size_t b = 0; b < buckets_.size(); ++b) materialize(int(b));
  pinned_ = true;
}

void ShardedOptimizer::release_params() {
  if (stage_ != 3) return;
  pinned_ = false;
  for (size_t b = 0; b < buckets_.size(); ++b) free_unit(int(b));
}

int ShardedOptimizer::bucket_of_segment(int s) const {
  return s >= 0 && size_t(s) < segment_bucket_.size() ? segment_bucket_[size_t(s)] : -1;
}

// The bucket of the nearest segment after (dir +1) or before (dir -1) `s` that has parameters.
int ShardedOptimizer::neighbour_bucket(int s, int dir) const {
  for (int k = s + dir; k >= 0 && size_t(k) < segment_bucket_.size(); k += dir)
    if (segment_bucket_[size_t(k)] >= 0) return segment_bucket_[size_t(k)];
  return -1;
}

void ShardedOptimizer::before_forward(int s) {
  if (stage_ != 3 || pinned_) return;
  int b = bucket_of_segment(s);
  if (b < 0) return;
  materialize(b);
  int next = neighbour_bucket(s, +1);
  if (next != b) prefetch(next);
}

torch::Tensor ShardedOptimizer::after_forward(int s, torch::Tensor out) {
  int b = bucket_of_segment(s);
  if (b < 0) return out;
  if (stage_ >= 2 && torch::GradMode::is_enabled() && out.requires_grad())
    out = PreBackward::apply(out, reinterpret_cast<int64_t>(this), int64_t(s));
  if (stage_ == 3 && !pinned_ && neighbour_bucket(s, +1) != b) free_unit(b);
  return out;
}

void ShardedOptimizer::before_backward(int s) {
  int b = bucket_of_segment(s);
  if (b < 0) return;
  if (stage_ == 3 && !pinned_) {
    materialize(b);
    int prev = neighbour_bucket(s, -1);
    if (prev != b) prefetch(prev);
  }
  if (stage_ >= 2 && !grad_buf_[size_t(b)].defined()) alloc_grad_bucket(b);
}

// ---- gradient reduction ----

void ShardedOptimizer::alloc_grad_bucket(int b) {
  grad_buf_[size_t(b)] = torch::zeros({buckets_[size_t(b)].padded}, opts_);
  set_views(b, grad_buf_[size_t(b)], true);
}

void ShardedOptimizer::begin_step(int micro_batches) {
  micro_batches_ = std::max(1, micro_batches);
  backwards_ = 0;
  reducing_ = stage_ >= 2 || micro_batches_ == 1;
  hooked_launches_ = launches_ = 0;
  if (stage_ >= 2) grad_shard_.zero_();
  next_launch_ = int(buckets_.size()) - 1;
  std::fill(launched_.begin(), launched_.end(), false);
  std::fill(ready_count_.begin(), ready_count_.end(), 0);
}

void ShardedOptimizer::ready(size_t i) {
  if (!reducing_) return;
  int b = params_[i].bucket;
  auto& bk = buckets_[size_t(b)];
  if (++ready_count_[size_t(b)] == bk.last - bk.first && !bk.at_end) launch_in_order(false);
}

// Buckets go out from the last to the first whatever order their gradients complete in, so every
// rank issues the same collectives in the same order.
void ShardedOptimizer::launch_in_order(bool all) {
  while (next_launch_ >= 0) {
    const auto& bk = buckets_[size_t(next_launch_)];
    bool complete = ready_count_[size_t(next_launch_)] == bk.last - bk.first && !bk.at_end;
    if (!all && !complete) break;
    if (!all) ++hooked_launches_;
    launch(next_launch_--);
  }
}

void ShardedOptimizer::launch(int b) {
  const auto& bk = buckets_[size_t(b)];
  launched_[size_t(b)] = true;
  ++launches_;
  if (stage_ <= 1) {
    auto bucket = flat_grads_.narrow(0, bk.offset, bk.padded);
    if (stage_ == 0) {
      inflight_.push_back(queue_->submit([this, bucket] { dp_->all_reduce(bucket); }));
    } else {
      auto mine = bucket.narrow(0, dp_->rank() * bk.chunk, bk.chunk);
      inflight_.push_back(queue_->submit([this, bucket, mine] { dp_->reduce_scatter(mine, bucket); }));
    }
    return;
  }
  // ZeRO-2/3: the layer's gradients, wherever autograd left them, into its buffer.
  if (!grad_buf_[size_t(b)].defined()) {
    auto buf = torch::zeros({bk.padded}, opts_);
    for (int i = bk.first; i < bk.last; ++i) {
      auto& pr = params_[size_t(i)];
      if (pr.t.grad().defined()) buf.narrow(0, pr.offset, pr.numel).copy_(pr.t.grad().reshape({-1}));
    }
    grad_buf_[size_t(b)] = buf;
  }
  auto buf = grad_buf_[size_t(b)];
  for (int i = bk.first; i < bk.last; ++i) {
    auto& pr = params_[size_t(i)];
    auto g = pr.t.grad();
    auto view = buf.narrow(0, pr.offset, pr.numel);
    if (g.defined() && g.data_ptr() != view.data_ptr()) view.copy_(g.reshape({-1}));
    pr.t.mutable_grad() = torch::Tensor();
  }
  grad_buf_[size_t(b)] = torch::Tensor();
  if (stage_ == 3 && !pinned_) free_unit(b);
  // At most one layer in flight while the next is produced: wait for the older ones first.
  while (inflight_.size() > 1) {
    inflight_.front().wait();
    inflight_.erase(inflight_.begin());
  }
  auto shard = grad_shard_.narrow(0, bk.shard_offset, bk.chunk);
  int64_t chunk = bk.chunk;
  inflight_.push_back(queue_->submit([this, buf, shard, chunk]() mutable {
    auto mine = buf.narrow(0, dp_->rank() * chunk, chunk);
    dp_->reduce_scatter(mine, buf);  // in place: the sum of chunk r lands in chunk r
    shard.add_(mine);
    buf = torch::Tensor();  // the layer's gradient memory goes with the task
  }));
}

void ShardedOptimizer::end_backward() {
  ++backwards_;
  if (reducing_) launch_in_order(true);
  if (stage_ == 3 && !pinned_)
    for (size_t b = 0; b < buckets_.size(); ++b) free_unit(int(b));
  reducing_ = stage_ >= 2 || backwards_ == micro_batches_ - 1;
  next_launch_ = int(buckets_.size()) - 1;
  std::fill(ready_count_.begin(), ready_count_.end(), 0);
}

void ShardedOptimizer::finish_reduction() {
  // A bucket no backward reduced (a stage without backward passes this step) goes out now.
  for (int b = int(buckets_.size()) - 1; b >= 0; --b)
    if (!launched_[size_t(b)]) launch(b);
  for (auto& t : inflight_) t.wait();
  inflight_.clear();
  double scale = 1.0 / double(dp_->size());
  torch::NoGradGuard g;
  (stage_ <= 1 ? flat_grads_ : grad_shard_).mul_(scale);
}

double ShardedOptimizer::reduced_in_backward() const {
  return launches_ > 0 ? double(hooked_launches_) / double(launches_) : 0.0;
}

torch::Tensor ShardedOptimizer::own_params(int b) {
  const auto& bk = buckets_[size_t(b)];
  if (stage_ == 3) return param_shard_.narrow(0, bk.shard_offset, bk.chunk);
  return flat_params_.narrow(0, bk.offset + (stage_ == 0 ? 0 : dp_->rank() * bk.chunk), bk.chunk);
}

torch::Tensor ShardedOptimizer::own_grads(int b) {
  const auto& bk = buckets_[size_t(b)];
  if (stage_ >= 2) return grad_shard_.narrow(0, bk.shard_offset, bk.chunk);
  return flat_grads_.narrow(0, bk.offset + (stage_ == 0 ? 0 : dp_->rank() * bk.chunk), bk.chunk);
}

void ShardedOptimizer::step() {
  torch::NoGradGuard g;
  ++t_;
  for (size_t b = 0; b < buckets_.size(); ++b) {
    const auto& bk = buckets_[b];
    auto p = own_params(int(b));
    adam_update(p, own_grads(int(b)), m_.narrow(0, bk.shard_offset, bk.chunk),
                v_.narrow(0, bk.shard_offset, bk.chunk), adam_, t_);
    if (stage_ == 1 || stage_ == 2) {  // in place: chunk r of the bucket is this rank's
      while (inflight_.size() > 1) {
        inflight_.front().wait();
        inflight_.erase(inflight_.begin());
      }
      auto bucket = flat_params_.narrow(0, bk.offset, bk.padded);
      inflight_.push_back(queue_->submit([this, bucket, p] { dp_->all_gather(bucket, p); }));
    }
  }
  for (auto& t : inflight_) t.wait();
  inflight_.clear();
  if (stage_ <= 1) flat_grads_.zero_();
}

HeldBytes ShardedOptimizer::held_bytes_computed() const {
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
