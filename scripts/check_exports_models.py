"""Parameter counts of the models the frameworks build, from their validated configs
(scripts/check_exports.py): Megatron-LM's GPTModel (megatron/core/models/gpt, transformer/*) and
Megatron-DeepSpeed's GPTModel (megatron/model/transformer.py, gpt_model.py)."""


def megatron_params(args, c, model_cfg):
    """Parameters of the GPTModel the validated configs describe (megatron/core/models/gpt and
    transformer/*: the layer specs of the TE/local GPT layer)."""
    h = c.hidden_size
    vocab = args.padded_vocab_size
    L = c.num_layers
    rms = c.normalization == "RMSNorm"
    norm = h if rms else 2 * h
    bias = c.add_bias_linear
    heads, groups = c.num_attention_heads, c.num_query_groups or c.num_attention_heads
    kv = c.kv_channels
    if getattr(c, "multi_latent_attention", False):
        qk = c.qk_head_dim + c.qk_pos_emb_head_dim
        if c.q_lora_rank:
            q = h * c.q_lora_rank + c.q_lora_rank * heads * qk + (c.q_lora_rank if c.qk_layernorm else 0)
        else:
            q = h * heads * qk
        kvp = h * (c.kv_lora_rank + c.qk_pos_emb_head_dim) + c.kv_lora_rank * heads * (c.qk_head_dim + c.v_head_dim)
        kvp += c.kv_lora_rank if c.qk_layernorm else 0
        attn = q + kvp + heads * c.v_head_dim * h + norm
    else:
        qkv_out = (heads + 2 * groups) * kv
        attn = h * qkv_out + heads * kv * h + norm
        if bias or c.add_qkv_bias:
            attn += qkv_out
        if bias:
            attn += h
        if c.qk_layernorm:
            attn += 2 * kv * (1 if rms else 2)
    gated = c.gated_linear_unit
    def mlp(f):
        return h * f * (2 if gated else 1) + f * h + ((f * (2 if gated else 1) + h) if bias else 0)
    dense = mlp(c.ffn_hidden_size) + norm
    moe_pattern = None
    if c.num_moe_experts:
        freq = c.moe_layer_freq
        moe_pattern = freq if isinstance(freq, list) else [1 if i % freq == 0 else 0 for i in range(L)]
        e = c.num_moe_experts
        moe = e * mlp(c.moe_ffn_hidden_size) + h * e + norm
        if c.moe_shared_expert_intermediate_size:
            moe += mlp(c.moe_shared_expert_intermediate_size)
            if c.moe_shared_expert_gate:
                moe += h
    layers = sum(attn + (moe if moe_pattern and moe_pattern[i] else dense) for i in range(L))
    total = layers + norm  # final norm
    total += vocab * h  # embedding
    if args.position_embedding_type == "learned_absolute":
        total += args.max_position_embeddings * h
    if args.untie_embeddings_and_output_weights:
        total += vocab * h
    mtp = c.mtp_num_layers or 0
    if mtp:
        # Each MTP module: enorm + hnorm, eh_proj [2h -> h], one transformer layer (MoE like the
        # last layer), final norm; the embedding and output layer are shared.
        last = moe if moe_pattern and moe_pattern[-1] else dense
        total += mtp * (2 * norm + 2 * h * h + attn + last + norm)
    return int(total)


def plan_vocab(plan):
    for path in (("model", "vocab"), ("plan", "model", "vocab")):
        v = plan
        for k in path:
            v = v.get(k) if isinstance(v, dict) else None
        if isinstance(v, int):
            return v
    raise KeyError("the plan JSON has no model.vocab")


def megatron_deepspeed_params(args, c, vocab):
    """Parameters of Megatron-DeepSpeed's GPTModel (megatron/model/transformer.py): fused QKV of
    (heads + 2 kv_heads) x kv_channels, dense, ParallelMLP (2 x ffn wide with --swiglu), biases with
    --add-bias-linear, LayerNorm (weight+bias) or RMSNorm (weight); DeepSpeed MoE layers (every
    expert_interval-th layer, 1-based) hold num_experts ParallelMLPs and a bias-free gate."""
    h, L = c.hidden_size, c.num_layers
    norm = h if args.normalization == "rmsnorm" else 2 * h
    bias = args.add_bias_linear
    qkv = (c.num_attention_heads + 2 * c.num_key_value_heads) * c.kv_channels
    attn = h * qkv + c.num_attention_heads * c.kv_channels * h + ((qkv + h) if bias else 0)
    wide = c.ffn_hidden_size * (2 if args.swiglu else 1)
    mlp = h * wide + c.ffn_hidden_size * h + ((wide + h) if bias else 0)
    from megatron.model.transformer import get_num_experts_per_layer
    experts = get_num_experts_per_layer(args.num_experts, L, args.expert_interval)
    total = 0
    for e in experts:
        total += attn + 2 * norm + (mlp if e <= 1 else e * mlp + h * e)
    total += norm + vocab * h  # final norm, word embeddings
    if args.add_position_embedding:
        total += args.max_position_embeddings * h
    if args.untie_embeddings_and_output_weights:
        total += vocab * h
    return int(total)
