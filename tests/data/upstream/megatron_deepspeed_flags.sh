#!/bin/sh
# Lists the flags of argonne-lcf/Megatron-DeepSpeed's pretrain_gpt.py: every quoted "--flag" of
# megatron/arguments.py, plus the four DeepSpeed adds with deepspeed.add_config_arguments
# (deepspeed/__init__.py: --deepspeed, --deepspeed_config, --deepscale, --deepscale_config).
# Usage: megatron_deepspeed_flags.sh MEGATRON_DEEPSPEED_DIR COMMIT DEEPSPEED_COMMIT
echo "# Megatron-DeepSpeed pretrain_gpt.py flags, argonne-lcf/Megatron-DeepSpeed commit $2"
echo "# from megatron/arguments.py; DeepSpeed's own four from deepspeedai/DeepSpeed commit $3"
{ grep -oE "[\"']--[A-Za-z0-9][A-Za-z0-9_-]*[\"']" "$1/megatron/arguments.py" | tr -d "\"'"
  printf '%s\n' --deepspeed --deepspeed_config --deepscale --deepscale_config; } | sort -u
