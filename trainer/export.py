"""Export a trained model to a folder that transformers loads with its own classes (no custom code).

    python -m trainer.export --checkpoint RUN_DIR --output DIR [--overwrite]

RUN_DIR is what trainer.sample reads: a training run (its model.safetensors, else its newest intact
checkpoint) or one checkpoint directory. DIR gets `config.json`, `model.safetensors` (and
`generation_config.json` for a decoder), and the run's tokenizer as `tokenizer.json`,
`tokenizer_config.json` and `special_tokens_map.json`, so that

    AutoModelForCausalLM.from_pretrained(DIR)   # or AutoModelForMaskedLM for an encoder
    AutoTokenizer.from_pretrained(DIR)

give the same logits and token ids as the trainer's model and tokenizer. The variants map to:

    arch     positions  norm       ffn     norm_position  class
    decoder  learned    layernorm  gelu    pre            GPT2LMHeadModel
    decoder  rope       rmsnorm    swiglu  pre            LlamaForCausalLM
    encoder  learned    layernorm  gelu    post           BertForMaskedLM

Any other combination is refused, naming the setting: a model that loads but computes something else
would be worse than none. Tied or untied embeddings both export (tie_word_embeddings). Without
biases (model.bias=false), GPT-2 and BERT get zero biases, which compute the same; Llama has flags
for them. The embedding's padding rows (vocab_multiple) are cut: the exported vocabulary is the
tokenizer's, and the logits are ours without the padded ids, which are never targets nor sampled.

Before the folder appears, it is loaded back through the Auto classes and its logits and token ids
are compared with ours; the folder is written under a temporary name and renamed into place.
"""

import json
import os
import shutil
import sys
from pathlib import Path

import torch

from schemas.errors import OneLineParser, UsageError, cli_main
from trainer import checkpoint
from trainer.data.shards import SEPARATOR

# The settings each transformers class computes exactly, keyed by (arch, positions).
FAMILIES = {
    ("decoder", "learned"): ("GPT2LMHeadModel", {"norm_position": "pre", "norm": "layernorm", "ffn": "gelu"}),
    ("decoder", "rope"): ("LlamaForCausalLM", {"norm_position": "pre", "norm": "rmsnorm", "ffn": "swiglu"}),
    ("encoder", "learned"): ("BertForMaskedLM", {"norm_position": "post", "norm": "layernorm", "ffn": "gelu"}),
}
# Our special tokens by the names transformers gives them. Documents are packed each followed by the
# separator, so it both ends one and starts the next (GPT-2's <|endoftext|> is bos and eos too).
SPECIAL_NAMES = {"bos_token": SEPARATOR, "eos_token": SEPARATOR, "unk_token": "[UNK]", "pad_token": "[PAD]",
                 "cls_token": "[CLS]", "sep_token": "[SEP]", "mask_token": "[MASK]"}
SAMPLE_TEXT = "The history of the city: 3.14 \u2014 na\u00efve caf\u00e9, \u6771\u4eac.\n<|endoftext|> [MASK]"


class Unsupported(UsageError):
    """A model no transformers class computes exactly; the message names the setting."""


def hf_class(config) -> str:
    """The transformers class that computes exactly what `config` (a ModelConfig) does, else Unsupported."""
    key = (config.arch, config.positions)
    if key not in FAMILIES:
        have = ", ".join(f"{a} with {p} positions" for a, p in FAMILIES)
        raise Unsupported(f"model.positions={config.positions} in the {config.arch}: no transformers class computes "
                          f"it exactly (exportable: {have})")
    name, required = FAMILIES[key]
    for setting, value in required.items():
        if getattr(config, setting) != value:
            raise Unsupported(f"model.{setting}={getattr(config, setting)}: the {config.arch} with {config.positions} "
                              f"positions exports as {name}, which needs {setting}={value}; no transformers class "
                              "computes this variant exactly")
    return name


def _ids(tokenizer) -> dict:
    return {name: tokenizer.token_to_id(token) for name, token in SPECIAL_NAMES.items()}


def hf_config(config, name: str, ids: dict):
    """The transformers config of the class `name` for our ModelConfig, at the tokenizer's vocabulary."""
    import transformers

    common = {"vocab_size": config.vocab_size, "tie_word_embeddings": config.tie_embeddings,
              "pad_token_id": ids["pad_token"], "architectures": [name]}
    if name == "GPT2LMHeadModel":
        # activation "gelu" is the exact (erf) GELU ours uses; GPT-2's default gelu_new is the tanh one.
        return transformers.GPT2Config(
            n_positions=config.max_seq_len, n_embd=config.d_model, n_layer=config.n_layer, n_head=config.n_head,
            n_inner=config.d_ff, activation_function="gelu", layer_norm_epsilon=config.norm_eps,
            resid_pdrop=config.dropout, embd_pdrop=config.dropout, attn_pdrop=config.dropout,
            bos_token_id=ids["bos_token"], eos_token_id=ids["eos_token"], **common)
    if name == "LlamaForCausalLM":
        # Ours rotates the halves (x[i], x[i + head_dim/2]) as Llama's rotate_half does: no permutation.
        # Llama has attention dropout only; dropout matters in training alone.
        return transformers.LlamaConfig(
            hidden_size=config.d_model, intermediate_size=config.d_ff, num_hidden_layers=config.n_layer,
            num_attention_heads=config.n_head, num_key_value_heads=config.n_head, head_dim=config.head_dim,
            hidden_act="silu", max_position_embeddings=config.max_seq_len, rms_norm_eps=config.norm_eps,
            rope_parameters={"rope_type": "default", "rope_theta": config.rope_base},
            attention_bias=config.bias, mlp_bias=config.bias, attention_dropout=config.dropout,
            bos_token_id=ids["bos_token"], eos_token_id=ids["eos_token"], **common)
    # Two token types whose embeddings are zeros: sentence pairs load and change nothing, as in ours.
    return transformers.BertConfig(
        hidden_size=config.d_model, num_hidden_layers=config.n_layer, num_attention_heads=config.n_head,
        intermediate_size=config.d_ff, hidden_act="gelu", max_position_embeddings=config.max_seq_len,
        layer_norm_eps=config.norm_eps, type_vocab_size=2, hidden_dropout_prob=config.dropout,
        attention_probs_dropout_prob=config.dropout, **common)


def _linear(state: dict, ours: str, theirs: str, weight, transpose: bool = False) -> None:
    """Our nn.Linear's weight (and bias, zeros where ours has none) under transformers' name.
    GPT-2's Conv1D stores the weight as [in, out], the transpose of nn.Linear's."""
    state[f"{theirs}.weight"] = weight.t() if transpose else weight
    state[f"{theirs}.bias"] = ours if ours is not None else torch.zeros(weight.size(0))


def _norm(state: dict, norm, theirs: str, bias: bool = True) -> None:
    state[f"{theirs}.weight"] = norm.weight
    if bias:  # LayerNorm without bias (model.bias=false) is one with a zero bias
        state[f"{theirs}.bias"] = norm.bias if getattr(norm, "bias", None) is not None else torch.zeros_like(norm.weight)


def _split_qkv(attn):
    """Our fused qkv projection's (q, k, v) weights and biases (None without bias): its output is
    q, k, v one after the other, each [heads x head_dim] as transformers' separate projections."""
    weights = attn.qkv.weight.chunk(3, dim=0)
    biases = attn.qkv.bias.chunk(3) if attn.qkv.bias is not None else (None,) * 3
    return list(zip(weights, biases))


def gpt2_state(model) -> dict:
    state, vocab = {}, model.config.vocab_size
    state["transformer.wte.weight"] = model.wte.weight[:vocab]
    state["transformer.wpe.weight"] = model.wpe.weight
    for i, block in enumerate(model.blocks):
        p = f"transformer.h.{i}"
        _norm(state, block.norm1, f"{p}.ln_1")
        _linear(state, block.attn.qkv.bias, f"{p}.attn.c_attn", block.attn.qkv.weight, transpose=True)
        _linear(state, block.attn.proj.bias, f"{p}.attn.c_proj", block.attn.proj.weight, transpose=True)
        _norm(state, block.norm2, f"{p}.ln_2")
        _linear(state, block.ffn.fc.bias, f"{p}.mlp.c_fc", block.ffn.fc.weight, transpose=True)
        _linear(state, block.ffn.proj.bias, f"{p}.mlp.c_proj", block.ffn.proj.weight, transpose=True)
    _norm(state, model.final_norm, "transformer.ln_f")
    if not model.config.tie_embeddings:
        state["lm_head.weight"] = model.lm_head.weight[:vocab]
    return state


def llama_state(model) -> dict:
    state, vocab, bias = {}, model.config.vocab_size, model.config.bias
    state["model.embed_tokens.weight"] = model.wte.weight[:vocab]

    def linear(module_weight, module_bias, theirs):
        state[f"{theirs}.weight"] = module_weight
        if bias:
            state[f"{theirs}.bias"] = module_bias

    for i, block in enumerate(model.blocks):
        p = f"model.layers.{i}"
        state[f"{p}.input_layernorm.weight"] = block.norm1.weight
        for name, (weight, b) in zip(("q_proj", "k_proj", "v_proj"), _split_qkv(block.attn)):
            linear(weight, b, f"{p}.self_attn.{name}")
        linear(block.attn.proj.weight, block.attn.proj.bias, f"{p}.self_attn.o_proj")
        state[f"{p}.post_attention_layernorm.weight"] = block.norm2.weight
        # SwiGLU's fused fc is [gate; up]: silu(gate) * up, as Llama's gate_proj and up_proj.
        gate, up = block.ffn.fc.weight.chunk(2, dim=0)
        gate_bias, up_bias = block.ffn.fc.bias.chunk(2) if bias else (None, None)
        linear(gate, gate_bias, f"{p}.mlp.gate_proj")
        linear(up, up_bias, f"{p}.mlp.up_proj")
        linear(block.ffn.proj.weight, block.ffn.proj.bias, f"{p}.mlp.down_proj")
    state["model.norm.weight"] = model.final_norm.weight
    if not model.config.tie_embeddings:
        state["lm_head.weight"] = model.lm_head.weight[:vocab]
    return state


def bert_state(model) -> dict:
    state, vocab, d = {}, model.config.vocab_size, model.config.d_model
    e = "bert.embeddings"
    state[f"{e}.word_embeddings.weight"] = model.wte.weight[:vocab]
    state[f"{e}.position_embeddings.weight"] = model.wpe.weight
    state[f"{e}.token_type_embeddings.weight"] = torch.zeros(2, d)
    _norm(state, model.emb_norm, f"{e}.LayerNorm")
    for i, block in enumerate(model.blocks):
        p = f"bert.encoder.layer.{i}"
        for name, (weight, b) in zip(("query", "key", "value"), _split_qkv(block.attn)):
            _linear(state, b, f"{p}.attention.self.{name}", weight)
        _linear(state, block.attn.proj.bias, f"{p}.attention.output.dense", block.attn.proj.weight)
        _norm(state, block.norm1, f"{p}.attention.output.LayerNorm")
        _linear(state, block.ffn.fc.bias, f"{p}.intermediate.dense", block.ffn.fc.weight)
        _linear(state, block.ffn.proj.bias, f"{p}.output.dense", block.ffn.proj.weight)
        _norm(state, block.norm2, f"{p}.output.LayerNorm")
    dense, _, norm = model.mlm_transform
    _linear(state, dense.bias, "cls.predictions.transform.dense", dense.weight)
    _norm(state, norm, "cls.predictions.transform.LayerNorm")
    # The output bias is stored under both names transformers ties; the decoder's weight only when untied.
    head_bias = model.lm_head.bias[:vocab] if model.lm_head.bias is not None else torch.zeros(vocab)
    state["cls.predictions.bias"] = state["cls.predictions.decoder.bias"] = head_bias
    if not model.config.tie_embeddings:
        state["cls.predictions.decoder.weight"] = model.lm_head.weight[:vocab]
    return state


STATES = {"GPT2LMHeadModel": gpt2_state, "LlamaForCausalLM": llama_state, "BertForMaskedLM": bert_state}


def hf_model(model, name: str, ids: dict):
    """The transformers model holding our weights (float32, every parameter set: strict load)."""
    import transformers

    config = hf_config(model.config, name, ids)
    with torch.no_grad():
        state = {k: v.detach().to(torch.float32).contiguous().clone() for k, v in STATES[name](model).items()}
    exported = getattr(transformers, name)(config)
    missing, unexpected = exported.load_state_dict(state, strict=False)
    # Only a tied copy may be left out: a tensor sharing its storage with one we set.
    tensors = exported.state_dict(keep_vars=True)
    set_ptrs = {tensors[k].data_ptr() for k in state if k in tensors}
    unset = [k for k in missing if tensors[k].data_ptr() not in set_ptrs]
    if unset or unexpected:
        raise RuntimeError(f"{name}: weights left unset {unset}, unknown {unexpected}")
    return exported.eval()


def hf_tokenizer(tokenizer, config):
    """The run's tokenizer as transformers' fast tokenizer, its special tokens named."""
    from transformers import PreTrainedTokenizerFast

    # A decoder takes no token types: GPT-2 would add the embedding of type 0 to every position.
    inputs = ["input_ids", "attention_mask"] if config.arch == "decoder" else \
        ["input_ids", "token_type_ids", "attention_mask"]
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, model_input_names=inputs,
                                   model_max_length=config.max_seq_len, clean_up_tokenization_spaces=False,
                                   **SPECIAL_NAMES)


def save_tokenizer(fast, folder: Path) -> None:
    fast.save_pretrained(str(folder))
    # Named by the class every transformers version knows (v5 writes its new name for it).
    config_file = folder / "tokenizer_config.json"
    settings = json.loads(config_file.read_text())
    settings["tokenizer_class"] = "PreTrainedTokenizerFast"
    settings.pop("backend", None)
    config_file.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n")
    (folder / "special_tokens_map.json").write_text(json.dumps(SPECIAL_NAMES, indent=2) + "\n")


@torch.no_grad()
def our_logits(model, input_ids: torch.Tensor) -> torch.Tensor:
    """Our logits [B, T, vocab] over the tokenizer's vocabulary (the encoder's MLM head at every position)."""
    return model(input_ids).logits[..., :model.config.vocab_size].float()


def verify(folder: Path, model, tokenizer, name: str) -> dict:
    """Load the folder through the Auto classes and compare with ours: the same token ids for a sample
    text, the same logits on it and on random ids. Returns the largest logit difference."""
    import transformers

    auto = transformers.AutoModelForCausalLM if model.config.arch == "decoder" else transformers.AutoModelForMaskedLM
    loaded, info = auto.from_pretrained(str(folder), output_loading_info=True, dtype=torch.float32)
    problems = {k: v for k, v in info.items() if v}
    if type(loaded).__name__ != name or problems:
        raise RuntimeError(f"{folder} loads as {type(loaded).__name__} with {problems}, not as a whole {name}")
    fast = transformers.AutoTokenizer.from_pretrained(str(folder))
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # not its warning that the sample outgrows a small model
    try:
        encoded = fast(SAMPLE_TEXT, return_tensors="pt")
    finally:
        transformers.logging.set_verbosity(verbosity)
    ours = tokenizer.encode(SAMPLE_TEXT).ids
    if encoded["input_ids"][0].tolist() != ours:
        raise RuntimeError(f"{folder}: AutoTokenizer encodes the sample text to other ids than the run's tokenizer")
    length = min(model.config.max_seq_len, 32)
    encoded = {k: v[:, :length] for k, v in encoded.items()}
    probe = torch.randint(0, model.config.vocab_size, (2, length), generator=torch.Generator().manual_seed(0))
    worst, scale = 0.0, 1.0
    with torch.no_grad():
        for inputs, ids in ((dict(encoded), encoded["input_ids"]), ({"input_ids": probe}, probe)):
            expected, got = our_logits(model, ids), loaded(**inputs).logits.float()
            worst = max(worst, float((expected - got).abs().max()))
            scale = max(scale, float(expected.abs().max()))
    if worst > 1e-4 * scale:
        raise RuntimeError(f"{folder}: the exported {name}'s logits differ from ours by up to {worst:.3g}")
    return {"max_logit_diff": worst}


def load_run(path: Path):
    """(our model, tokenizers.Tokenizer) of a run or checkpoint directory, as trainer.sample reads it;
    a damaged or foreign one is one line (UsageError)."""
    from trainer.sample import load

    if not any((path / name).exists() for name in ("model.safetensors", "state.json", "checkpoints")):
        raise UsageError(f"--checkpoint {path}: no model.safetensors, checkpoint (state.json) or checkpoints/; "
                         "give a training run or one of its checkpoints")
    run_dir = path if (path / "model.safetensors").exists() or not (path / "state.json").exists() else path.parent.parent
    if not (run_dir / "tokenizer.json").is_file():
        raise UsageError(f"--checkpoint {path}: no tokenizer.json in the run directory {run_dir}")
    try:
        model, tokenizer, _ = load(path)
    except UsageError:
        raise
    except (KeyError, TypeError, ValueError) as e:  # a state.json or metadata without a model config we can build
        raise checkpoint.CheckpointError(f"--checkpoint {path}: not a model of this trainer ({type(e).__name__}: "
                                         f"{e})") from None
    except RuntimeError as e:
        if "state_dict" not in str(e):
            raise
        raise checkpoint.CheckpointError(f"--checkpoint {path}: its weights do not fit its model config "
                                         f"({str(e).splitlines()[0]})") from None
    if tokenizer.get_vocab_size() != model.config.vocab_size:
        raise UsageError(f"--checkpoint {path}: {run_dir / 'tokenizer.json'} has {tokenizer.get_vocab_size()} tokens, "
                         f"the model was trained on {model.config.vocab_size}")
    missing = [token for token in set(SPECIAL_NAMES.values()) if tokenizer.token_to_id(token) is None]
    if missing:
        raise UsageError(f"--checkpoint {path}: its tokenizer lacks the special tokens {sorted(missing)}")
    return model, tokenizer


def check_args(args) -> None:
    """The paths, before anything is loaded: the checkpoint is a directory, the output a folder that is
    new, empty, or (with --overwrite) an earlier export, and neither holds the other."""
    source, output = Path(args.checkpoint), Path(args.output)
    if not source.is_dir():
        raise UsageError(f"--checkpoint {source} " + ("is not a directory" if source.exists() else "does not exist"))
    if output.exists() and not output.is_dir():
        raise UsageError(f"--output {output} is a file, not a folder")
    blocked = next((p for p in output.parents if p.exists() and not p.is_dir()), None)
    if blocked is not None:
        raise UsageError(f"--output {output}: {blocked} is a file, not a folder")
    src, out = source.resolve(), output.resolve()
    if src == out or out in src.parents or src in out.parents:
        raise UsageError(f"--output {output}: must be outside the run {source} (and not hold it)")
    if output.is_dir() and any(output.iterdir()):
        if not args.overwrite:
            raise UsageError(f"--output {output} is not empty; give --overwrite to replace an earlier export")
        if not (output / "config.json").is_file():
            raise UsageError(f"--output {output} holds files but no exported model (config.json); "
                             "not replacing it even with --overwrite")


def export(source: str | Path, output: str | Path) -> dict:
    """Write the transformers folder of the run or checkpoint `source` to `output` (replacing it)."""
    from transformers.utils import logging

    logging.disable_progress_bar()  # its bars for writing and loading the weights would be the only output
    model, tokenizer = load_run(Path(source))
    name = hf_class(model.config)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.parent / f".tmp-{output.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        hf_model(model, name, _ids(tokenizer)).save_pretrained(str(tmp))
        save_tokenizer(hf_tokenizer(tokenizer, model.config), tmp)
        checked = verify(tmp, model, tokenizer, name)
        mode = (tmp / "config.json").stat().st_mode & 0o777  # as the umask gives; the weights come 0600
        for file in tmp.iterdir():
            file.chmod(mode)
        if output.exists():
            shutil.rmtree(output)
        os.rename(tmp, output)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"class": name, "vocab_size": model.config.vocab_size, **checked}


@cli_main()
def main(argv=None) -> int:
    parser = OneLineParser(prog="python -m trainer.export", description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", required=True, help="training run or checkpoint directory")
    parser.add_argument("--output", required=True, help="folder to write (config.json, model.safetensors, tokenizer)")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier export in --output")
    args = parser.parse_args(argv)
    check_args(args)
    result = export(args.checkpoint, args.output)
    print(f"{args.output}: {result['class']}, {result['vocab_size']} tokens; loaded back through transformers' "
          f"Auto classes, its logits differ from the trainer's by at most {result['max_logit_diff']:.2g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
