"""Processes, devices and wrappers: torchrun's environment, DDP or FSDP2, torch.compile.

Without torchrun (no WORLD_SIZE), one process on one device. Under torchrun, one process per device:
nccl on CUDA, gloo on CPU. The model itself (trainer.model) knows nothing of this.
"""

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class Runtime:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def all_reduce_sum(self, values: list[float]) -> list[float]:
        return self.sum_on_device(values).tolist() if self.distributed else values

    def sum_on_device(self, value):
        """The sum over ranks (a float or a list of them), left on the device (no host sync); the
        value itself on one process."""
        if not self.distributed:
            return value
        tensor = torch.tensor(value, dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return tensor

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def broadcast(self, value):
        """Rank 0's `value` (any picklable object) on every rank; every rank must call it. The value
        itself on one process."""
        if not self.distributed:
            return value
        box = [value if self.main else None]
        dist.broadcast_object_list(box, src=0, device=self.device if self.device.type == "cuda" else None)
        return box[0]


def start() -> Runtime:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Runtime(rank, world, local, device)


def stop() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def wrap(model: torch.nn.Module, runtime: Runtime, mode: str, compile_model: bool, bf16: bool = False,
         compile_blocks: bool = False) -> torch.nn.Module:
    """DDP (one full replica a rank) or FSDP2 (parameters sharded per block) when distributed, and
    torch.compile if asked. Returns the module to call; the unwrapped model stays `model`.

    FSDP2 as torchtitan applies it: each block compiled on its own (`Module.compile`, in place, so the
    parameter names and checkpoints do not change), then sharded per block and at the root; in bf16 with
    `MixedPrecisionPolicy(param_dtype=bf16, reduce_dtype=fp32)`: the gathered parameters are bf16 (half
    the all-gather), the gradients reduced in fp32, the sharded master weights and the optimiser fp32.
    `compile_blocks` compiles per block without FSDP too (FlexAttention's block mask is then made
    outside the compiled code); otherwise the whole model is compiled, the loss with it."""
    fsdp = runtime.distributed and mode == "fsdp"
    per_block = compile_model and (fsdp or compile_blocks)
    if per_block:
        for block in model.blocks:
            block.compile()
    if fsdp:
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if bf16 else \
            MixedPrecisionPolicy()
        for block in model.blocks:
            fully_shard(block, mp_policy=policy)
        fully_shard(model, mp_policy=policy)
    elif runtime.distributed:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(model, device_ids=[runtime.local_rank] if runtime.device.type == "cuda" else None)
    if compile_model and not per_block:
        model = torch.compile(model)
    return model


def full_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    """Unsharded model and optimiser state dicts, keyed by parameter name, the same under DDP, FSDP or
    one process, so a checkpoint resumes on any number of ranks."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

    return get_state_dict(model, optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def load_full_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer, model_state: dict,
                    optim_state: dict) -> None:
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

    set_state_dict(model, optimizer, model_state_dict=model_state, optim_state_dict=optim_state,
                   options=StateDictOptions(full_state_dict=True))
