"""Every variant of trainer/model.py against its formula, on fixed inputs and seeded weights.

tests/test_model.py checks properties (causality, masking, shapes, counts, that a step trains); a wrong
formula with the same shapes passes those. Here each part, and the whole model in each of its variants,
is recomputed in the test from the module's parameters with plain torch ops (no nn.functional helper
that names the formula: no layer_norm, rms_norm, gelu, silu, softmax or scaled_dot_product_attention)
and compared at float64 precision:

- LayerNorm (x - mean) / sqrt(var + eps) * w + b;  RMSNorm x / sqrt(mean(x^2) + eps) * w
- FFN: ReLU and GELU (exact, erf) as act(x W1 + b1) W2 + b2;  SwiGLU (silu(x W_gate) * (x W_up)) W_down,
  gate then up in the rows of `fc`
- attention softmax(Q K^T / sqrt(head_dim) + mask) V per head, then the output projection; causal for
  the decoder, both ways for the encoder, documents kept apart by doc_ids
- positions: learned (wte + wpe), sinusoidal (wte * sqrt(d) + the Vaswani table), RoPE (pairs
  (i, i + head_dim/2) of q and k rotated by position * base^(-2i/head_dim))
- pre-LN block x + attn(norm1(x)), then + ffn(norm2(.)), and a final norm; post-LN block
  norm1(x + attn(x)), then norm2(. + ffn(.)), and a norm on the embeddings
- heads: decoder logits h W_vocab^T; encoder (BERT) norm(gelu(h W + b)) W_vocab^T + b; tied or untied
- the cross-entropy over targets not IGNORE_INDEX (mean and sum).

The weights are redrawn at scales where every term matters (GPT-2's init makes the residual branches
small); the norm weights are near 1 and the inputs have a non-zero mean, so LayerNorm and RMSNorm differ.
"""

import itertools
import math

import pytest
import torch

from trainer.model import IGNORE_INDEX, FeedForward, ModelConfig, SelfAttention, Transformer, make_norm

torch.set_num_threads(1)

VOCAB = 40  # padded to 64
TOL = dict(rtol=0, atol=1e-10)  # float64 throughout


def config(**overrides) -> ModelConfig:
    settings = dict(vocab_size=VOCAB, n_layer=2, n_head=2, d_model=8, max_seq_len=12, dropout=0.0)
    return ModelConfig(**{**settings, **overrides})


def redraw(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Every parameter drawn again: norm weights 1 + N(0, 0.3), everything else N(0, 0.5). float64, eval."""
    module = module.double().eval()
    rng = torch.Generator().manual_seed(seed)
    norms = {id(m.weight) for m in module.modules() if isinstance(m, (torch.nn.LayerNorm, torch.nn.RMSNorm))}
    with torch.no_grad():
        for p in module.parameters():  # a tied matrix is drawn once
            draw = torch.randn(p.shape, generator=rng, dtype=torch.float64)
            p.copy_(1 + 0.3 * draw if id(p) in norms else 0.5 * draw)
    return module


def inputs(*shape, seed=1):
    """Activations with a mean away from 0 (which LayerNorm removes and RMSNorm keeps)."""
    return 0.7 + torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def tokens(*shape, seed=1):
    return torch.randint(0, VOCAB, shape, generator=torch.Generator().manual_seed(seed))


# ---- the formulas, by hand ------------------------------------------------------------------------

def ref_norm(x, kind: str, eps: float, weight, bias=None):
    if kind == "rmsnorm":
        return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * weight
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)  # biased, as in the paper
    y = (x - mean) / torch.sqrt(var + eps) * weight
    return y if bias is None else y + bias


def norm_of(module, c: ModelConfig):
    """The formula config.norm names, with the module's weights (bias only for LayerNorm)."""
    bias = getattr(module, "bias", None) if c.norm == "layernorm" else None
    return lambda x: ref_norm(x, c.norm, c.norm_eps, module.weight, bias)


def linear(x, layer, rows=slice(None)):
    y = x @ layer.weight[rows].T
    return y if layer.bias is None else y + layer.bias[rows]


def ref_gelu(h):
    return 0.5 * h * (1 + torch.erf(h / math.sqrt(2)))


def ref_ffn(x, ffn, c: ModelConfig):
    if c.ffn == "swiglu":
        gate, up = linear(x, ffn.fc, slice(0, c.d_ff)), linear(x, ffn.fc, slice(c.d_ff, 2 * c.d_ff))
        h = gate * torch.sigmoid(gate) * up  # silu(gate) * up
    else:
        h = linear(x, ffn.fc)
        h = torch.clamp(h, min=0) if c.ffn == "relu" else ref_gelu(h)
    return linear(h, ffn.proj)


def ref_rope(x, start: int, base: float):
    """x [B, T, head_dim] at positions start..: each pair (x[i], x[i + half]) turned by pos * base^(-2i/hd)."""
    hd = x.size(-1)
    half = hd // 2
    out = torch.empty_like(x)
    for t in range(x.size(1)):
        for i in range(half):
            angle = (start + t) * base ** (-2 * i / hd)
            a, b = x[:, t, i], x[:, t, i + half]
            out[:, t, i] = a * math.cos(angle) - b * math.sin(angle)
            out[:, t, i + half] = a * math.sin(angle) + b * math.cos(angle)
    return out


def allowed(doc_ids, causal: bool, batch: int, length: int):
    """[B, T, T]: may query t attend to key s."""
    ok = torch.ones(batch, length, length, dtype=torch.bool)
    if doc_ids is not None:
        ok &= doc_ids[:, :, None] == doc_ids[:, None, :]
    if causal:
        ok &= torch.arange(length)[:, None] >= torch.arange(length)[None, :]
    return ok


def ref_attention(x, attn, c: ModelConfig, ok, rope_start=None):
    batch, length, d = x.shape
    hd = d // c.n_head
    q, k, v = (linear(x, attn.qkv, slice(i * d, (i + 1) * d)) for i in range(3))
    heads = []
    for h in range(c.n_head):
        cols = slice(h * hd, (h + 1) * hd)
        qh, kh, vh = q[..., cols], k[..., cols], v[..., cols]
        if rope_start is not None:
            qh, kh = ref_rope(qh, rope_start, c.rope_base), ref_rope(kh, rope_start, c.rope_base)
        scores = qh @ kh.transpose(1, 2) / math.sqrt(hd)
        scores = scores.masked_fill(~ok, float("-inf"))
        weights = torch.exp(scores - scores.amax(-1, keepdim=True))
        heads.append(weights / weights.sum(-1, keepdim=True) @ vh)
    return linear(torch.cat(heads, dim=-1), attn.proj)


def ref_block(x, block, c: ModelConfig, ok, rope_start=None):
    n1, n2 = norm_of(block.norm1, c), norm_of(block.norm2, c)
    attn = lambda y: ref_attention(y, block.attn, c, ok, rope_start)  # noqa: E731
    ffn = lambda y: ref_ffn(y, block.ffn, c)  # noqa: E731
    if c.norm_position == "pre":
        x = x + attn(n1(x))
        return x + ffn(n2(x))
    x = n1(x + attn(x))
    return n2(x + ffn(x))


def ref_sinusoids(length: int, d: int):
    table = torch.empty(length, d, dtype=torch.float64)
    for pos in range(length):
        for i in range(0, d, 2):
            table[pos, i] = math.sin(pos / 10000 ** (i / d))
            table[pos, i + 1] = math.cos(pos / 10000 ** (i / d))
    return table


def ref_hidden(model: Transformer, ids, doc_ids=None):
    c = model.config
    batch, length = ids.shape
    x = model.wte.weight[ids]
    if c.positions == "learned":
        x = x + model.wpe.weight[:length]
    elif c.positions == "sinusoidal":
        x = x * math.sqrt(c.d_model) + ref_sinusoids(length, c.d_model)
    if c.norm_position == "post":
        x = norm_of(model.emb_norm, c)(x)
    ok = allowed(doc_ids, c.arch == "decoder", batch, length)
    for block in model.blocks:
        x = ref_block(x, block, c, ok, 0 if c.positions == "rope" else None)
    return norm_of(model.final_norm, c)(x) if c.norm_position == "pre" else x


def ref_logits(model: Transformer, h):
    c = model.config
    vocab = model.wte.weight if c.tie_embeddings else model.lm_head.weight
    if c.arch == "encoder":
        dense, norm = model.mlm_transform[0], model.mlm_transform[2]
        h = norm_of(norm, c)(ref_gelu(linear(h, dense)))
    logits = h @ vocab.T
    return logits + model.lm_head.bias if c.arch == "encoder" and c.bias else logits


def ref_cross_entropy(logits, targets, reduction="mean"):
    keep = targets != IGNORE_INDEX
    logits, targets = logits[keep], targets[keep]
    top = logits.amax(-1, keepdim=True)
    log_z = top.squeeze(-1) + torch.log(torch.exp(logits - top).sum(-1))
    losses = log_z - logits.gather(-1, targets[:, None]).squeeze(-1)
    return losses.sum() if reduction == "sum" else losses.mean()


# ---- the parts ------------------------------------------------------------------------------------

@pytest.mark.parametrize("norm,bias,eps", [("layernorm", True, 1e-5), ("layernorm", False, 1e-5),
                                           ("rmsnorm", False, 1e-5), ("layernorm", True, 0.5),
                                           ("rmsnorm", False, 0.5)])
def test_norm_formula(norm, bias, eps):
    """A large eps too, so that where it goes (inside the square root) shows."""
    c = config(norm=norm, bias=bias, norm_eps=eps)
    module = redraw(make_norm(c))
    x = inputs(2, 5, c.d_model)
    with torch.no_grad():
        got = module(x)
    torch.testing.assert_close(got, norm_of(module, c)(x), **TOL)
    # The other norm is not within reach of the tolerance: the check can fail.
    other = "layernorm" if norm == "rmsnorm" else "rmsnorm"
    assert not torch.allclose(got, ref_norm(x, other, eps, module.weight), atol=1e-3)


@pytest.mark.parametrize("ffn,bias", list(itertools.product(("relu", "gelu", "swiglu"), (True, False))))
def test_ffn_formula(ffn, bias):
    c = config(ffn=ffn, bias=bias)
    module = redraw(FeedForward(c))
    assert module.fc.weight.shape == ((2 if ffn == "swiglu" else 1) * c.d_ff, c.d_model)
    x = inputs(2, 5, c.d_model)
    with torch.no_grad():
        got = module(x)
    torch.testing.assert_close(got, ref_ffn(x, module, c), **TOL)


def test_swiglu_is_not_a_sum_or_another_gate():
    """The SwiGLU check above can tell silu(gate) * up from its near misses on these weights."""
    c = config(ffn="swiglu")
    module = redraw(FeedForward(c))
    x = inputs(2, 5, c.d_model)
    gate, up = linear(x, module.fc, slice(0, c.d_ff)), linear(x, module.fc, slice(c.d_ff, 2 * c.d_ff))
    with torch.no_grad():
        got = module(x)
    for wrong in (torch.clamp(gate, min=0) + up, torch.clamp(gate, min=0) * up, gate * torch.sigmoid(gate) + up,
                  up * torch.sigmoid(up) * gate, ref_gelu(gate) * up):
        assert not torch.allclose(got, linear(wrong, module.proj), atol=1e-3)


@pytest.mark.parametrize("causal,documents,rope", [(True, False, False), (False, False, False),
                                                   (True, True, False), (False, True, False),
                                                   (True, False, True), (False, True, True)])
def test_attention_formula(causal, documents, rope):
    """softmax(Q K^T / sqrt(head_dim)) V per head, causal or not, with a document mask or not, with RoPE or not."""
    c = config(n_head=2, d_model=8, positions="rope" if rope else "learned")
    module = redraw(SelfAttention(c))
    batch, length = 2, 7
    x = inputs(batch, length, c.d_model)
    doc_ids = torch.tensor([[0, 0, 0, 1, 1, 1, 1], [5, 5, 6, 6, 6, 6, -1]]) if documents else None
    ok = allowed(doc_ids, causal, batch, length)
    mask = ok[:, None] if documents else None
    table = None
    if rope:
        angles = torch.outer(torch.arange(length, dtype=torch.float64),
                             c.rope_base ** (-torch.arange(0, c.head_dim, 2, dtype=torch.float64) / c.head_dim))
        table = angles.cos(), angles.sin()
    with torch.no_grad():
        got = module(x, mask, causal and not documents, table)
    torch.testing.assert_close(got, ref_attention(x, module, c, ok, 0 if rope else None), **TOL)


def test_rope_tables_and_rotation_by_hand():
    """The model's tables and rotation equal the hand rotation, and keep RoPE's defining properties:
    norms are kept, and q.k depends only on the distance between the two positions."""
    from trainer.model import apply_rope, rope_tables

    hd, base = 8, 100.0
    cos, sin = rope_tables(12, hd, base)
    x = inputs(1, 12, hd).float()
    got = apply_rope(x[:, None], cos, sin)[:, 0]
    torch.testing.assert_close(got.double(), ref_rope(x.double(), 0, base), rtol=0, atol=1e-5)
    torch.testing.assert_close(got.norm(dim=-1), x.norm(dim=-1), rtol=1e-5, atol=0)
    q, k = inputs(1, 1, hd, seed=2), inputs(1, 1, hd, seed=3)
    dots = {(m, n): (ref_rope(q, m, base) * ref_rope(k, n, base)).sum().item() for m, n in [(3, 1), (7, 5), (9, 9), (0, 0)]}
    assert dots[(3, 1)] == pytest.approx(dots[(7, 5)], abs=1e-10) and dots[(9, 9)] == pytest.approx(dots[(0, 0)], abs=1e-10)
    assert dots[(3, 1)] != pytest.approx(dots[(0, 0)], abs=1e-3)


def test_sinusoidal_table_by_hand():
    from trainer.model import sinusoidal_table

    torch.testing.assert_close(sinusoidal_table(12, 8).double(), ref_sinusoids(12, 8), rtol=0, atol=1e-6)


@pytest.mark.parametrize("norm_position,norm", list(itertools.product(("pre", "post"), ("layernorm", "rmsnorm"))))
def test_block_formula(norm_position, norm):
    from trainer.model import Block

    c = config(norm_position=norm_position, norm=norm)
    module = redraw(Block(c))
    x = inputs(2, 6, c.d_model)
    ok = allowed(None, True, 2, 6)
    with torch.no_grad():
        got = module(x, None, True)
    torch.testing.assert_close(got, ref_block(x, module, c, ok), **TOL)
    # The other placement gives other numbers on these weights: the check can fail.
    other = ModelConfig(**{**c.__dict__, "norm_position": "post" if norm_position == "pre" else "pre"})
    assert not torch.allclose(got, ref_block(x, module, other, ok), atol=1e-3)


# ---- the whole model, every variant ----------------------------------------------------------------

VARIANTS = list(itertools.product(("decoder", "encoder"), ("layernorm", "rmsnorm"), ("pre", "post"),
                                  ("relu", "gelu", "swiglu"), ("learned", "sinusoidal", "rope")))


@pytest.mark.parametrize("arch,norm,norm_position,ffn,positions", VARIANTS)
def test_every_variant_computes_its_formula(arch, norm, norm_position, ffn, positions):
    """Logits and loss of the whole model against the hand computation, with packed documents
    (doc_ids, padding as -1) and without. Biases on in half of the variants, tying in the other half."""
    index = VARIANTS.index((arch, norm, norm_position, ffn, positions))
    c = config(arch=arch, norm=norm, norm_position=norm_position, ffn=ffn, positions=positions,
               bias=index % 2 == 0, tie_embeddings=index % 4 < 2)
    torch.manual_seed(0)
    model = redraw(Transformer(c), seed=index)
    ids, targets = tokens(2, 10), tokens(2, 10, seed=2)
    targets[0, 3] = targets[1, 8] = IGNORE_INDEX
    doc_ids = torch.tensor([[0] * 4 + [1] * 6, [2] * 7 + [-1] * 3])
    # The sinusoid and rotary tables are float32 buffers (computed before .double()): 1e-7 off.
    atol = 1e-9 if positions == "learned" else 1e-5
    for docs in (None, doc_ids):
        with torch.no_grad():
            out = model(ids, targets, doc_ids=docs)
        logits = ref_logits(model, ref_hidden(model, ids, docs))
        torch.testing.assert_close(out.logits, logits, rtol=0, atol=atol)
        torch.testing.assert_close(out.loss, ref_cross_entropy(logits.flatten(0, 1), targets.flatten()),
                                   rtol=0, atol=atol)


@pytest.mark.parametrize("tie", [True, False])
def test_embeddings_tied_or_not(tie):
    """Tied: the vocabulary projection is the token embedding, so a change to one row of the embedding
    moves that id's logit; untied: the head has its own matrix and the embedding only feeds the input."""
    model = redraw(Transformer(config(tie_embeddings=tie)))
    ids = tokens(1, 6)
    unused = next(i for i in range(VOCAB) if i not in ids)  # a row the input does not read
    with torch.no_grad():
        before = model(ids).logits
        model.wte.weight[unused] += 1.0
        after = model(ids).logits
    changed = (after - before).abs().amax(dim=(0, 1)) > 1e-9
    assert changed.nonzero().flatten().tolist() == ([unused] if tie else [])


def test_loss_sum_and_mlm_gather_by_hand():
    """loss_reduction="sum" is the summed cross-entropy; the encoder's gathered MLM head is BERT's
    transform and tied projection at the masked positions only."""
    model = redraw(Transformer(config(arch="encoder")), seed=3)
    ids, targets = tokens(2, 9), tokens(2, 9, seed=4)
    positions = torch.tensor([1, 4, 9, 17])
    with torch.no_grad():
        summed = model(ids, targets, loss_reduction="sum").loss
        gathered = model(ids, targets, mlm_positions=positions)
    full = ref_logits(model, ref_hidden(model, ids))
    torch.testing.assert_close(summed, ref_cross_entropy(full.flatten(0, 1), targets.flatten(), "sum"), **TOL)
    picked = full.flatten(0, 1)[positions]
    torch.testing.assert_close(gathered.logits, picked, **TOL)
    torch.testing.assert_close(gathered.loss, ref_cross_entropy(picked, targets.flatten()[positions]), **TOL)
    assert torch.equal(gathered.predictions, picked[:, :VOCAB].argmax(-1))
