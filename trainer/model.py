"""One Transformer family for pretraining: a causal decoder (GPT) and a bidirectional encoder (BERT).

Read top to bottom: the config, norms and positions, attention, feed-forward, the block, the model with
its two heads, then what the trainer needs besides (parameter and FLOP counts, optimizer groups,
sampling). No torch.distributed here: wrapping, sharding and compiling are the trainer's business.

The variants, all set in ModelConfig:
- arch: "decoder" predicts the next token under a causal mask; "encoder" attends both ways and predicts
  masked tokens (MLM) through BERT's head (dense, GELU, norm, then the tied vocabulary projection),
  applied only at the masked positions (BERT's `gather_indexes`).
- norm_position: "post" (original Transformer and BERT: norm after each residual add, and a norm on the
  embeddings) or "pre" (GPT-2: norm before each sublayer, and a final norm).
- norm: LayerNorm or RMSNorm. ffn: ReLU (original), GELU (GPT-2, BERT) or SwiGLU (LLaMA).
- positions: learned (GPT-2, BERT), sinusoidal (original) or RoPE (rotary, on queries and keys).

Document masking: given `doc_ids` [B, T], a token attends only to tokens with the same id (and in the
decoder not to later ones), so packed documents never see each other. Padding is one more document:
give pad positions an id no real document has (e.g. -1) and no real token attends to them. Positions
count from the start of the window, not of each document. Two ways to compute it, the same numbers
(tests/test_model.py: 1e-5): a dense boolean [B, 1, T, T] mask for SDPA (`document_attention =
"dense"`, the default, the CPU path and the reference), or FlexAttention with a block mask (document
and causal; `"flex"`), which skips the blocks no query sees and never builds [T, T]: on CUDA a fused,
flash-class kernel (compiled); elsewhere torch's unfused reference implementation (for checks only).
Flex is not used where attention dropout is on (it has none).
"""

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from trainer.masking import IGNORE_INDEX  # targets with it take no part in the loss


@dataclass
class ModelConfig:
    vocab_size: int = 50257  # the tokenizer's; the embedding is padded to a multiple of vocab_multiple
    n_layer: int = 12
    n_head: int = 12
    d_model: int = 768
    d_ff: int | None = None  # 4 * d_model; for SwiGLU 8/3 * d_model rounded up to 64 (same parameters)
    max_seq_len: int = 1024
    dropout: float = 0.0
    arch: str = "decoder"  # decoder | encoder
    norm: str = "layernorm"  # layernorm | rmsnorm
    norm_position: str | None = None  # pre | post; pre for the decoder, post for the encoder
    ffn: str = "gelu"  # relu | gelu | swiglu
    positions: str = "learned"  # learned | sinusoidal | rope
    tie_embeddings: bool = True
    bias: bool = True  # in linear layers and LayerNorms
    norm_eps: float = 1e-5
    rope_base: float = 10000.0
    vocab_multiple: int = 64

    def __post_init__(self):
        if self.norm_position is None:
            self.norm_position = "pre" if self.arch == "decoder" else "post"
        if self.d_ff is None:
            self.d_ff = 4 * self.d_model if self.ffn != "swiglu" else 64 * math.ceil(8 * self.d_model / 3 / 64)
        choices = {"arch": ("decoder", "encoder"), "norm": ("layernorm", "rmsnorm"),
                   "norm_position": ("pre", "post"), "ffn": ("relu", "gelu", "swiglu"),
                   "positions": ("learned", "sinusoidal", "rope")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.d_model % self.n_head:
            raise ValueError(f"d_model {self.d_model} is not a multiple of n_head {self.n_head}")
        if self.positions != "learned" and (self.head_dim if self.positions == "rope" else self.d_model) % 2:
            raise ValueError(f"{self.positions} positions need an even dimension")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @property
    def padded_vocab_size(self) -> int:
        # Matmuls run faster on multiples of 64 (nanoGPT: 50257 -> 50304). The extra ids are never
        # targets and never sampled; their logits only learn to stay low.
        return self.vocab_multiple * math.ceil(self.vocab_size / self.vocab_multiple)


class LMOutput(NamedTuple):
    logits: torch.Tensor  # [B, T, padded vocab], or [M, padded vocab] at the M gathered MLM positions
    loss: torch.Tensor | None = None  # cross-entropy over targets != IGNORE_INDEX (mean, or sum if asked)
    predictions: torch.Tensor | None = None  # gathered MLM in eval mode only: argmax over the real vocabulary, [M]
    labels: torch.Tensor | None = None  # gathered MLM only: the targets at those positions, [M]


def make_norm(config: ModelConfig) -> nn.Module:
    if config.norm == "rmsnorm":
        return nn.RMSNorm(config.d_model, eps=config.norm_eps)
    return nn.LayerNorm(config.d_model, eps=config.norm_eps, bias=config.bias)


def sinusoidal_table(max_len: int, dim: int) -> torch.Tensor:
    """Vaswani et al. 3.5: sin on even dimensions, cos on odd, wavelengths from 2*pi to 10000*2*pi."""
    angles = torch.arange(max_len).float()[:, None] * torch.exp(
        torch.arange(0, dim, 2).float() * (-math.log(10000.0) / dim))
    table = torch.zeros(max_len, dim)
    table[:, 0::2], table[:, 1::2] = angles.sin(), angles.cos()
    return table


def rope_tables(max_len: int, head_dim: int, base: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin [max_len, head_dim / 2] of the rotary angles position * base^(-2i / head_dim)."""
    angles = torch.outer(torch.arange(max_len).float(),
                         1.0 / base ** (torch.arange(0, head_dim, 2).float() / head_dim))
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate the pairs (x[i], x[i + head_dim/2]) of x [B, H, T, head_dim] by their position's angle
    (GPT-NeoX and LLaMA's half-split layout)."""
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)  # under autocast q and k are bf16, the tables float32
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)


_compiled_flex = None


def flex_attention(q, k, v, block_mask):
    """FlexAttention: traced into the graph inside compiled code (a fused kernel), compiled once on its own
    when called eagerly on CUDA, and eager elsewhere (torch's reference implementation: correct, slow)."""
    global _compiled_flex
    from torch.nn.attention.flex_attention import flex_attention as flex

    if not q.is_cuda or torch.compiler.is_compiling():
        return flex(q, k, v, block_mask=block_mask)
    if _compiled_flex is None:
        _compiled_flex = torch.compile(flex, dynamic=False)
    return _compiled_flex(q, k, v, block_mask=block_mask)


def document_block_mask(doc_ids: torch.Tensor, causal: bool):
    """FlexAttention's BlockMask for doc_ids [B, T]: query t may attend to key s in the same document
    (and s <= t when causal), as `document_mask` says, in blocks of 128 x 128, fully masked blocks skipped."""
    from torch.nn.attention.flex_attention import create_block_mask

    def same_document(b, h, q, k):
        return doc_ids[b, q] == doc_ids[b, k]

    def causal_same_document(b, h, q, k):
        return (doc_ids[b, q] == doc_ids[b, k]) & (k <= q)

    batch, length = doc_ids.shape
    return create_block_mask(causal_same_document if causal else same_document, batch, None, length, length,
                             device=doc_ids.device, _compile=doc_ids.is_cuda)


def document_mask(doc_ids: torch.Tensor, causal: bool) -> torch.Tensor:
    """Boolean SDPA mask [B, 1, T, T] from doc_ids [B, T]: True where query t may attend to key s, i.e.
    same document (and s <= t when causal). Every token sees at least itself, so no row is empty."""
    mask = doc_ids[:, :, None] == doc_ids[:, None, :]
    if causal:
        length = doc_ids.size(1)
        mask = mask & torch.ones(length, length, dtype=torch.bool, device=doc_ids.device).tril()
    return mask[:, None]


class SelfAttention(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.n_head = config.n_head
        self.dropout = config.dropout
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model, bias=config.bias)
        self.proj = nn.Linear(config.d_model, config.d_model, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x, mask=None, is_causal=False, rope=None, cache=None):
        """x [B, T, d]; mask a boolean SDPA mask, a FlexAttention BlockMask or None; rope (cos, sin) of these T positions or None;
        cache a dict holding this layer's keys and values so far ({} at first), extended in place."""
        batch, length, dim = x.shape
        q, k, v = (t.view(batch, length, self.n_head, dim // self.n_head).transpose(1, 2)
                   for t in self.qkv(x).split(dim, dim=2))
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        if cache is not None:
            if cache:
                k, v = torch.cat((cache["k"], k), dim=2), torch.cat((cache["v"], v), dim=2)
            cache["k"], cache["v"] = k, v
        if mask is not None and not torch.is_tensor(mask):  # a FlexAttention BlockMask
            y = flex_attention(q, k, v, mask)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal,
                                               dropout_p=self.dropout if self.training else 0.0)
        return self.resid_dropout(self.proj(y.transpose(1, 2).reshape(batch, length, dim)))


class FeedForward(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.kind = config.ffn
        # SwiGLU's gate and up projections are one matmul, split after.
        width = 2 * config.d_ff if self.kind == "swiglu" else config.d_ff
        self.fc = nn.Linear(config.d_model, width, bias=config.bias)
        self.proj = nn.Linear(config.d_ff, config.d_model, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        h = self.fc(x)
        if self.kind == "swiglu":
            gate, up = h.chunk(2, dim=-1)
            h = F.silu(gate) * up
        else:
            h = F.relu(h) if self.kind == "relu" else F.gelu(h)
        return self.dropout(self.proj(h))


class Block(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.pre_norm = config.norm_position == "pre"
        self.norm1 = make_norm(config)
        self.attn = SelfAttention(config)
        self.norm2 = make_norm(config)
        self.ffn = FeedForward(config)

    def forward(self, x, mask=None, is_causal=False, rope=None, cache=None):
        if self.pre_norm:
            x = x + self.attn(self.norm1(x), mask, is_causal, rope, cache)
            return x + self.ffn(self.norm2(x))
        x = self.norm1(x + self.attn(x, mask, is_causal, rope, cache))
        return self.norm2(x + self.ffn(x))


class Transformer(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.document_attention = "dense"  # how doc_ids are applied: "dense" (SDPA mask) or "flex"; not a weight
        d, vocab = config.d_model, config.padded_vocab_size
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(config.max_seq_len, d) if config.positions == "learned" else None
        # Fixed tables are rebuilt from the config, so checkpoints do not carry them.
        if config.positions == "sinusoidal":
            self.register_buffer("sinusoids", sinusoidal_table(config.max_seq_len, d), persistent=False)
        if config.positions == "rope":
            cos, sin = rope_tables(config.max_seq_len, config.head_dim, config.rope_base)
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)
        self.drop = nn.Dropout(config.dropout)
        post = config.norm_position == "post"
        self.emb_norm = make_norm(config) if post else None
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.final_norm = None if post else make_norm(config)
        encoder = config.arch == "encoder"
        self.mlm_transform = nn.Sequential(nn.Linear(d, d, bias=config.bias), nn.GELU(),
                                           make_norm(config)) if encoder else None
        self.lm_head = nn.Linear(d, vocab, bias=config.bias and encoder)  # BERT has an output bias
        if config.tie_embeddings:
            self.lm_head.weight = self.wte.weight

        # GPT-2's init: N(0, 0.02) everywhere, the projections into the residual stream scaled by
        # 1/sqrt(2 * n_layer) so the stream's variance does not grow with depth.
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def hidden_states(self, input_ids, doc_ids=None, caches=None, start=0):
        """The final hidden states [B, T, d] of input_ids [B, T] at positions start..start+T-1.
        caches (one dict per layer) is for incremental decoding: empty dicts to encode a prompt, then
        one token at a time."""
        c = self.config
        length = input_ids.size(1)
        if start + length > c.max_seq_len:
            raise ValueError(f"positions up to {start + length} exceed max_seq_len {c.max_seq_len}")
        x = self.wte(input_ids)
        if self.wpe is not None:
            x = x + self.wpe(torch.arange(start, start + length, device=input_ids.device))
        if c.positions == "sinusoidal":
            # Vaswani et al. 3.4 scale the embeddings by sqrt(d) so that they are not drowned by the table.
            x = x * math.sqrt(c.d_model) + self.sinusoids[start:start + length]
        rope = None
        if c.positions == "rope":
            rope = self.rope_cos[start:start + length], self.rope_sin[start:start + length]
        if self.emb_norm is not None:
            x = self.emb_norm(x)
        x = self.drop(x)

        decoder = c.arch == "decoder"
        decoding = caches is not None and bool(caches[0])
        if decoding and (length != 1 or doc_ids is not None):
            raise ValueError("with a filled cache, feed one token at a time and no doc_ids")
        mask = None
        if doc_ids is not None:
            flex = self.document_attention == "flex" and not (self.training and c.dropout > 0)
            mask = (document_block_mask if flex else document_mask)(doc_ids, causal=decoder)
        # One new token may see every cached key; SDPA's is_causal would align it with the first.
        is_causal = decoder and mask is None and not decoding
        for i, block in enumerate(self.blocks):
            x = block(x, mask, is_causal, rope, None if caches is None else caches[i])
        return x if self.final_norm is None else self.final_norm(x)

    def forward(self, input_ids, targets=None, doc_ids=None, mlm_positions=None, loss_reduction="mean") -> LMOutput:
        """input_ids, targets, doc_ids: [B, T]. targets[b, t] is the id to predict at position t (the next
        token for the decoder, the original token for the encoder), IGNORE_INDEX where there is none.

        mlm_positions (encoder only): the masked positions, as indices into the flattened batch
        (b * T + t, no host sync) or a boolean [B, T]; the head then runs only there and the output
        carries the gathered logits [M, V], loss, predictions and labels.

        loss_reduction "sum" gives the summed cross-entropy (0 with no targets), for a trainer that divides
        by the targets of a whole global batch rather than averaging per micro-batch."""
        h = self.hidden_states(input_ids, doc_ids)
        if mlm_positions is None:
            if self.mlm_transform is not None:
                h = self.mlm_transform(h)
            logits = self.lm_head(h)
            loss = None
            if targets is not None:
                loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE_INDEX,
                                       reduction=loss_reduction)
            return LMOutput(logits, loss)

        if self.mlm_transform is None:
            raise ValueError("mlm_positions needs arch='encoder'")
        if mlm_positions.dtype == torch.bool:
            mlm_positions = mlm_positions.flatten().nonzero().squeeze(1)
        logits = self.lm_head(self.mlm_transform(h.flatten(0, 1).index_select(0, mlm_positions)))
        # Evaluation's accuracy needs the argmax over [M, V]; a training step does not pay for it.
        predictions = None if self.training else logits.detach()[:, :self.config.vocab_size].argmax(dim=-1)
        if targets is None:
            return LMOutput(logits, None, predictions)
        labels = targets.flatten().index_select(0, mlm_positions)
        loss = F.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX, reduction=loss_reduction)
        return LMOutput(logits, loss, predictions, labels)

    def num_parameters(self, non_embedding: bool = True) -> int:
        """All parameters (shared ones once); non_embedding leaves out those no matmul uses, the position
        embedding and, when untied, the token embedding (a lookup); a tied one is the LM head's matrix."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            if self.wpe is not None:
                n -= self.wpe.weight.numel()
            if not self.config.tie_embeddings:
                n -= self.wte.weight.numel()
        return n

    def flops_per_token(self, seq_len: int, head_fraction: float = 1.0) -> float:
        """Training FLOPs per token (forward and backward), the convention of nanoGPT and PaLM (app. B):

            6 * N  +  12 * n_layer * d_model * seq_len

        6 per matmul parameter N (num_parameters(non_embedding=True)): a multiply-add is 2 FLOPs, and the
        backward pass costs twice the forward. Attention's scores QK^T and weighted values AV cost
        2 * 2 * seq_len * d_model per token and layer forward, times 3 for training. Causal and document
        masks skip some of that work; the convention counts it all (say so next to any MFU).

        head_fraction: the share of tokens the LM head (vocabulary matrix, and the encoder's MLM
        transform) runs on: 1 for the decoder or a full head, the masked share (about 0.15) when the
        encoder gathers masked positions, so that MFU is not inflated by FLOPs never done."""
        c = self.config
        head = sum(p.numel() for p in self.lm_head.parameters())
        if self.mlm_transform is not None:
            head += sum(p.numel() for p in self.mlm_transform.parameters())
        body = self.num_parameters(non_embedding=True) - head
        return 6 * body + 6 * head * head_fraction + 12 * c.n_layer * c.d_model * seq_len

    def configure_optimizer(self, weight_decay: float, lr: float, betas: tuple[float, float],
                            device_type: str) -> torch.optim.AdamW:
        """AdamW with weight decay on the matmul weights (2-D) only: not on biases, norms or embeddings
        (the tied LM head is the token embedding, so it is not decayed either). Fused on CUDA."""
        embeddings = {id(m.weight) for m in self.modules() if isinstance(m, nn.Embedding)}
        decay, no_decay = [], []
        for p in self.parameters():
            if p.requires_grad:
                (decay if p.dim() >= 2 and id(p) not in embeddings else no_decay).append(p)
        groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=device_type == "cuda")

    @torch.no_grad()
    def generate(self, idx, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, use_cache: bool = True, generator: torch.Generator | None = None):
        """Append max_new_tokens sampled ids to idx [B, T] and return it (decoder; call eval() first).

        With the KV cache, the prompt is encoded once and then one token at a time. Once the sequence
        outgrows max_seq_len the window slides: its last max_seq_len tokens are encoded afresh at
        positions 0.., as generation without cache does at every step, so both give the same tokens."""
        if self.config.arch != "decoder":
            raise ValueError("generate needs arch='decoder'")
        window = self.config.max_seq_len
        caches = None
        for _ in range(max_new_tokens):
            if caches is None or idx.size(1) > window:
                caches = [{} for _ in self.blocks] if use_cache else None
                h = self.hidden_states(idx[:, -window:], caches=caches)
            else:
                h = self.hidden_states(idx[:, -1:], caches=caches, start=idx.size(1) - 1)
            logits = self.lm_head(h[:, -1])[:, :self.config.vocab_size]
            idx = torch.cat((idx, sample_next(logits, temperature, top_k, top_p, generator)), dim=1)
        return idx


def sample_next(logits, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """One id [B, 1] from logits [B, V]: temperature 0 takes the argmax; top_k keeps the k likeliest ids;
    top_p keeps the smallest set of likeliest ids whose probability reaches top_p (nucleus sampling)."""
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = logits / temperature
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(dim=-1)
        # An id is dropped when the likelier ones already reach top_p, so the likeliest always stays.
        drop_sorted = probs.cumsum(dim=-1) - probs >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return torch.multinomial(logits.softmax(dim=-1), 1, generator=generator)
