"""Use a trained model: generate text from a GPT, or fill in [MASK] for a BERT.

    python -m trainer.sample --checkpoint RUN_DIR --prompt "The history of" [--max-new-tokens 100]
    python -m trainer.sample --checkpoint RUN_DIR --prompt "The [MASK] of the city" [--top 5]

RUN_DIR is a training run (its model.safetensors, else its newest checkpoint) or one checkpoint
directory. A decoder generates (temperature, top-k, top-p; --seed makes it repeatable); an encoder
lists the likeliest tokens for each [MASK] in the prompt.
"""

import json
import sys
from pathlib import Path

import torch

from schemas.errors import OneLineParser, UsageError, cli_main
from trainer import checkpoint
from trainer.data.shards import SEPARATOR
from trainer.model import ModelConfig, Transformer


def load(path: str | Path) -> tuple:
    """(model in eval mode, tokenizers.Tokenizer, tokenizer info) from a run or checkpoint directory."""
    from tokenizers import Tokenizer

    path = Path(path)
    if (path / "model.safetensors").exists():
        from safetensors import safe_open
        from safetensors.torch import load_file

        file = path / "model.safetensors"
        try:
            with safe_open(str(file), "pt") as fh:
                meta = json.loads(fh.metadata()["trainer"])
            weights, run_dir = load_file(str(file)), path
        except Exception as e:  # a torn or foreign file: safetensors' and json's errors are of several types
            raise checkpoint.CheckpointError(f"{file}: unreadable ({type(e).__name__}: {e})") from None
    else:
        if (path / "state.json").exists():  # one checkpoint directory: that one, damaged or not
            found, saved = path, checkpoint.load(path, parts=("model",))
        else:  # a run: its newest intact checkpoint, a damaged newer one reported and skipped
            latest = checkpoint.load_latest(path / "checkpoints", parts=("model",),
                                            warn=lambda message: print(f"warning: {message}", file=sys.stderr))
            if latest is None:
                raise UsageError(f"{path}: no model.safetensors, checkpoint or checkpoints/")
            found, saved, skipped = latest
            if skipped:
                print(f"warning: using {found}, the newest intact checkpoint", file=sys.stderr)
        meta, weights, run_dir = saved["state"], saved["model"], found.parent.parent
    model = Transformer(ModelConfig(**meta["model"]))
    shared = {}  # tied weights are stored once; give every name of a shared tensor its value
    for name, tensor in model.state_dict().items():
        shared.setdefault(tensor.data_ptr(), []).append(name)
    for names in shared.values():
        stored = [n for n in names if n in weights]
        for name in names:
            if stored:
                weights.setdefault(name, weights[stored[0]])
    model.load_state_dict(weights)
    model.eval()
    return model, Tokenizer.from_file(str(run_dir / "tokenizer.json")), meta["tokenizer"]


@torch.no_grad()
def generate(model, tokenizer, prompt: str, max_new_tokens: int, temperature: float, top_k: int | None,
             top_p: float | None, seed: int) -> str:
    ids = tokenizer.encode(prompt, add_special_tokens=False).ids or [tokenizer.token_to_id(SEPARATOR)]
    generator = torch.Generator().manual_seed(seed)
    out = model.generate(torch.tensor([ids]), max_new_tokens, temperature, top_k, top_p, generator=generator)
    return tokenizer.decode(out[0].tolist(), skip_special_tokens=False)


@torch.no_grad()
def fill_mask(model, tokenizer, text: str, top: int) -> list[list[tuple[str, float]]]:
    """For each [MASK] in text (in order), the `top` likeliest tokens and their probabilities."""
    mask_id = tokenizer.token_to_id("[MASK]")
    pieces = text.split("[MASK]")
    ids = []
    for i, piece in enumerate(pieces):
        ids += tokenizer.encode(piece, add_special_tokens=False).ids
        if i < len(pieces) - 1:
            ids.append(mask_id)
    if mask_id not in ids:
        raise UsageError(f"the prompt {text!r} has no [MASK] for the encoder to fill in")
    input_ids = torch.tensor([ids])
    positions = (input_ids.flatten() == mask_id).nonzero().squeeze(1)
    logits = model(input_ids, mlm_positions=positions).logits[:, :model.config.vocab_size]
    probs = logits.float().softmax(-1)
    best = probs.topk(top, dim=-1)
    return [[(tokenizer.decode([int(i)]), round(float(p), 4)) for p, i in zip(row_p, row_i)]
            for row_p, row_i in zip(best.values, best.indices)]


def check_args(args) -> None:
    """The numbers and the path, before the model is loaded."""
    if args.max_new_tokens < 0:
        raise UsageError(f"--max-new-tokens {args.max_new_tokens}: must be 0 or more")
    if args.temperature < 0:
        raise UsageError(f"--temperature {args.temperature}: must be 0 (the likeliest token) or more")
    if args.top_k < 1:
        raise UsageError(f"--top-k {args.top_k}: must be 1 or more")
    if args.top_p is not None and not 0 < args.top_p <= 1:
        raise UsageError(f"--top-p {args.top_p}: must be in (0, 1]")
    if args.top < 1:
        raise UsageError(f"--top {args.top}: must be 1 or more")
    path = Path(args.checkpoint)
    if not path.is_dir():
        raise UsageError(f"--checkpoint {path} " + ("is not a directory" if path.exists() else "does not exist"))


@cli_main()
def main(argv=None) -> int:
    parser = OneLineParser(prog="python -m trainer.sample", description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", required=True, help="training run or checkpoint directory")
    parser.add_argument("--prompt", required=True, help="text to continue, or text with [MASK] for a BERT")
    parser.add_argument("--max-new-tokens", type=int, default=100)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--top-k", type=int, default=50)
    parser.add_argument("--top-p", type=float)
    parser.add_argument("--top", type=int, default=5, help="fill-mask: candidates per [MASK]")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    check_args(args)
    model, tokenizer, _ = load(args.checkpoint)
    if args.top > model.config.vocab_size:
        raise UsageError(f"--top {args.top}: the vocabulary has only {model.config.vocab_size} tokens")
    if model.config.arch == "decoder":
        print(generate(model, tokenizer, args.prompt, args.max_new_tokens, args.temperature, args.top_k, args.top_p,
                       args.seed))
    else:
        for i, candidates in enumerate(fill_mask(model, tokenizer, args.prompt, args.top), 1):
            print(f"[MASK] {i}: " + ", ".join(f"{token!r} {p:.3f}" for token, p in candidates))
    return 0


if __name__ == "__main__":
    sys.exit(main())
