"""The Transformer family of trainer/model.py: masks, variants, heads, counts, optimizer and sampling."""

import itertools
import math

import pytest
import torch

from trainer.model import IGNORE_INDEX, ModelConfig, Transformer, document_mask, sample_next

torch.set_num_threads(1)

VOCAB = 50  # padded to 64: ids 50..63 exist in the matrices but must never be predicted or sampled
POSITIONS = ("learned", "sinusoidal", "rope")


def build(seed=0, **overrides) -> Transformer:
    settings = dict(vocab_size=VOCAB, n_layer=2, n_head=2, d_model=16, max_seq_len=16, dropout=0.0)
    torch.manual_seed(seed)
    model = Transformer(ModelConfig(**{**settings, **overrides}))
    return model.eval()


def tokens(*shape, seed=1):
    return torch.randint(0, VOCAB, shape, generator=torch.Generator().manual_seed(seed))


def changed_at(x, t):
    y = x.clone()
    y[:, t] = (y[:, t] + 1) % VOCAB
    return y


def test_config_defaults_and_validation():
    assert ModelConfig(arch="decoder").norm_position == "pre"
    assert ModelConfig(arch="encoder").norm_position == "post"
    assert ModelConfig(d_model=768).d_ff == 3072
    assert ModelConfig(d_model=768, ffn="swiglu").d_ff == 2048  # 3 matrices of 2048 = 2 of 3072
    assert ModelConfig(vocab_size=50257).padded_vocab_size == 50304
    assert ModelConfig(vocab_size=30522).padded_vocab_size == 30528
    with pytest.raises(ValueError, match="multiple of n_head"):
        ModelConfig(d_model=100, n_head=12)
    with pytest.raises(ValueError, match="norm_position"):
        ModelConfig(norm_position="sandwich")


@pytest.mark.parametrize("positions", POSITIONS)
def test_decoder_is_causal(positions):
    model = build(positions=positions)
    x = tokens(2, 12)
    with torch.no_grad():
        before, after = model(x).logits, model(changed_at(x, 7)).logits
    torch.testing.assert_close(after[:, :7], before[:, :7], rtol=0, atol=1e-6)
    assert not torch.allclose(after[:, 7:], before[:, 7:])


def test_document_mask_values():
    doc_ids = torch.tensor([[0, 0, 1, 1, 1]])
    same = torch.tensor([[1, 1, 0, 0, 0], [1, 1, 0, 0, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 1], [0, 0, 1, 1, 1]])
    assert torch.equal(document_mask(doc_ids, causal=False)[0, 0], same.bool())
    assert torch.equal(document_mask(doc_ids, causal=True)[0, 0], same.bool().tril())


@pytest.mark.parametrize("arch,positions", list(itertools.product(("decoder", "encoder"), POSITIONS)))
def test_document_masking_blocks_other_documents(arch, positions):
    model = build(arch=arch, positions=positions)
    x = tokens(2, 12)
    doc_ids = torch.tensor([[0] * 5 + [1] * 7, [3] * 8 + [4] * 4])
    cuts = (5, 8)  # first token of each row's second document
    with torch.no_grad():
        base = model(x, doc_ids=doc_ids).logits
        first_changed = model(changed_at(x, 2), doc_ids=doc_ids).logits
        unmasked = model(x).logits, model(changed_at(x, 2)).logits
    for row, cut in enumerate(cuts):
        torch.testing.assert_close(first_changed[row, cut:], base[row, cut:], rtol=0, atol=1e-6)
        # Without doc_ids the second document does see the first: the check above can fail.
        assert not torch.allclose(unmasked[1][row, cut:], unmasked[0][row, cut:])
    if arch == "encoder":
        with torch.no_grad():
            second_changed = model(changed_at(x, 10), doc_ids=doc_ids).logits
        for row, cut in enumerate(cuts):
            torch.testing.assert_close(second_changed[row, :cut], base[row, :cut], rtol=0, atol=1e-6)


@pytest.mark.parametrize("positions", POSITIONS)
def test_encoder_padding_is_invisible(positions):
    model = build(arch="encoder", positions=positions)
    x = tokens(1, 9)
    padded = torch.cat((x, torch.zeros(1, 5, dtype=x.dtype)), dim=1)
    doc_ids = torch.tensor([[0] * 9 + [-1] * 5])
    with torch.no_grad():
        alone, with_pads = model(x).logits, model(padded, doc_ids=doc_ids).logits
    torch.testing.assert_close(with_pads[:, :9], alone, rtol=0, atol=1e-5)


VARIANTS = list(itertools.product(("decoder", "encoder"), ("layernorm", "rmsnorm"), ("pre", "post"),
                                  ("relu", "gelu", "swiglu"), POSITIONS))


@pytest.mark.parametrize("arch,norm,norm_position,ffn,positions", VARIANTS)
def test_every_variant_trains_a_step(arch, norm, norm_position, ffn, positions):
    model = build(arch=arch, norm=norm, norm_position=norm_position, ffn=ffn, positions=positions,
                  bias=norm == "layernorm", dropout=0.1).train()
    x, y = tokens(2, 16), tokens(2, 16, seed=2)
    doc_ids = torch.tensor([[0] * 10 + [1] * 6] * 2)
    if arch == "encoder":
        out = model(x, y, doc_ids=doc_ids, mlm_positions=torch.tensor([1, 4, 17, 30]))
    else:
        out = model(x, y, doc_ids=doc_ids)
    # At init every id is about equally likely: the loss is near log(padded vocab).
    assert abs(out.loss.item() - math.log(64)) < 1.0
    out.loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_gathered_mlm_head_equals_full_head():
    torch.set_default_dtype(torch.float64)  # to compare at 1e-6 without float32 rounding in the way
    try:
        model = build(arch="encoder", d_model=32, n_head=4)
        x = tokens(3, 16)
        chosen = torch.rand(3, 16, generator=torch.Generator().manual_seed(3)) < 0.2
        targets = torch.where(chosen, tokens(3, 16, seed=4), IGNORE_INDEX)
        with torch.no_grad():
            full = model(x, targets)
            by_index = model(x, targets, mlm_positions=chosen.flatten().nonzero().squeeze(1))
            by_mask = model(x, targets, mlm_positions=chosen)
    finally:
        torch.set_default_dtype(torch.float32)
    assert abs(full.loss.item() - by_index.loss.item()) < 1e-6
    assert abs(full.loss.item() - by_mask.loss.item()) < 1e-6
    torch.testing.assert_close(by_index.logits, full.logits[chosen])
    assert torch.equal(by_index.labels, targets[chosen])
    assert torch.equal(by_index.predictions, full.logits[chosen][:, :VOCAB].argmax(-1))


def test_decoder_refuses_mlm_positions():
    with pytest.raises(ValueError, match="encoder"):
        build()(tokens(1, 4), mlm_positions=torch.tensor([0]))


def test_weight_tying_shares_storage():
    model = build()
    assert model.lm_head.weight is model.wte.weight
    untied = build(tie_embeddings=False)
    assert untied.lm_head.weight.data_ptr() != untied.wte.weight.data_ptr()
    assert untied.num_parameters(non_embedding=False) == model.num_parameters(non_embedding=False) + 64 * 16


def test_gpt2_small_parameter_count():
    config = ModelConfig(vocab_size=50304, n_layer=12, n_head=12, d_model=768, max_seq_len=1024)
    with torch.device("meta"):
        model = Transformer(config)
        no_bias = Transformer(ModelConfig(vocab_size=50304, max_seq_len=1024, bias=False))
    # nanoGPT's GPT-2 124M with its padded vocabulary and biases (HF's gpt2, vocab 50257, has
    # 124,439,808 = this minus 47 * 768 unused rows): 50304*768 token + 1024*768 position embedding,
    # 12 layers of 7,087,872 (two LayerNorms 2*1536, qkv 768*2304+2304, proj 768*768+768,
    # fc 768*3072+3072, proj 3072*768+768), final LayerNorm 1536.
    assert model.num_parameters(non_embedding=False) == 124_475_904
    assert model.num_parameters() == 124_475_904 - 1024 * 768  # nanoGPT's reported 123.69M
    # Without biases: 12 * (6912 linear + 1536 LayerNorm biases) + 768 of the final LayerNorm fewer.
    assert no_bias.num_parameters(non_embedding=False) == 124_475_904 - 12 * (6912 + 1536) - 768


def test_flops_per_token_by_hand():
    settings = dict(vocab_size=64, n_layer=2, n_head=2, d_model=16, max_seq_len=8, bias=False)
    decoder = Transformer(ModelConfig(**settings))
    # Matmul parameters: tied vocabulary matrix 64*16 = 1024; per layer two LayerNorms 2*16, qkv 16*48,
    # proj 16*16, fc 16*64, proj 64*16 = 3104; final LayerNorm 16. N = 1024 + 2*3104 + 16 = 7248.
    assert decoder.num_parameters() == 7248
    attention = 12 * 2 * 16 * 8  # 12 * n_layer * d_model * T = 3072
    assert decoder.flops_per_token(8) == 6 * 7248 + attention == 46560
    encoder = Transformer(ModelConfig(arch="encoder", **settings))
    # Post-LN: embedding LayerNorm 16 instead of the final one; MLM head 1024 + transform 16*16 + 16.
    head = 1024 + 256 + 16
    assert encoder.num_parameters() == 16 + 2 * 3104 + head == 7520
    assert encoder.flops_per_token(8) == 6 * 7520 + attention
    assert encoder.flops_per_token(8, head_fraction=0.15) == pytest.approx(
        6 * (7520 - head) + 6 * head * 0.15 + attention)


def test_peak_flops_by_device_name():
    from trainer.metrics import device_peak_flops

    assert device_peak_flops("NVIDIA H200", "bf16") == device_peak_flops("NVIDIA H100 80GB HBM3", "bf16") == 989.4e12
    assert device_peak_flops("NVIDIA H200 NVL", "bf16") == device_peak_flops("NVIDIA H100 NVL", "bf16") == 835.5e12
    assert device_peak_flops("NVIDIA H100 PCIe", "bf16") == 756e12
    assert device_peak_flops("NVIDIA A100-SXM4-80GB", "bf16") == 312e12
    # No MFU rather than a wrong one: an unknown device, or fp32.
    assert device_peak_flops("NVIDIA L4", "bf16") is None and device_peak_flops("NVIDIA H200", "fp32") is None


def test_gpt2_init_scales_residual_projections():
    model = build(d_model=128, n_layer=8, n_head=4)
    scaled = 0.02 / math.sqrt(2 * 8)
    for block in model.blocks:
        assert block.attn.proj.weight.std().item() == pytest.approx(scaled, rel=0.05)
        assert block.ffn.proj.weight.std().item() == pytest.approx(scaled, rel=0.05)
        assert block.attn.qkv.weight.std().item() == pytest.approx(0.02, rel=0.05)
        assert not block.attn.qkv.bias.any()


def test_optimizer_groups():
    model = build(arch="encoder")
    optimizer = model.configure_optimizer(weight_decay=0.1, lr=1e-3, betas=(0.9, 0.95), device_type="cpu")
    decay, no_decay = optimizer.param_groups
    names = {id(p): name for name, p in model.named_parameters()}
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() == 2 for p in decay["params"])
    assert not {names[id(p)] for p in decay["params"]} & {"wte.weight", "wpe.weight"}
    assert {"wte.weight", "wpe.weight", "lm_head.bias"} <= {names[id(p)] for p in no_decay["params"]}
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_tiny_decoder_overfits_one_batch():
    model = build(d_model=32, n_head=4).train()
    x, y = tokens(4, 16, seed=5), tokens(4, 16, seed=6)
    optimizer = model.configure_optimizer(weight_decay=0.0, lr=1e-2, betas=(0.9, 0.95), device_type="cpu")
    start = None
    for _ in range(100):
        loss = model(x, y).loss
        start = start or loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1 * start, (start, loss.item())


@pytest.mark.parametrize("positions", POSITIONS)
def test_generate_with_cache_equals_without(positions):
    model = build(positions=positions, max_seq_len=12).double()
    prompt = tokens(16, 5)
    # 5 + 15 > 12 tokens: the window slides past max_seq_len.
    cached = model.generate(prompt, 15, temperature=0)
    uncached = model.generate(prompt, 15, temperature=0, use_cache=False)
    assert torch.equal(cached, uncached)
    assert torch.equal(cached[:, 5], model(prompt).logits[:, -1, :VOCAB].argmax(-1))


@pytest.mark.parametrize("positions", POSITIONS)
def test_kv_cache_matches_full_forward(positions):
    model = build(positions=positions).double()
    x = tokens(2, 10)
    with torch.no_grad():
        full = model.hidden_states(x)
        caches = [{} for _ in model.blocks]
        steps = [model.hidden_states(x[:, :4], caches=caches)]
        steps += [model.hidden_states(x[:, t:t + 1], caches=caches, start=t) for t in range(4, 10)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, rtol=0, atol=1e-12)


def test_generate_never_samples_padded_ids():
    model = build()
    with torch.no_grad():
        # Hidden states summing to about d_model (a final-norm bias of 1) against rows of 10: the
        # padded ids' logits are about 160, so they would win every draw if allowed.
        model.final_norm.bias.fill_(1.0)
        model.lm_head.weight[VOCAB:] = 10.0
    out = model.generate(tokens(4, 3), 20, temperature=1.0, generator=torch.Generator().manual_seed(0))
    assert out.max().item() < VOCAB


def test_sampling_filters():
    logits = torch.randn(8, VOCAB, generator=torch.Generator().manual_seed(7))
    greedy = logits.argmax(-1, keepdim=True)
    rng = torch.Generator().manual_seed(8)
    assert torch.equal(sample_next(logits, top_k=1, generator=rng), greedy)
    assert torch.equal(sample_next(logits, top_p=1e-9, generator=rng), greedy)
    top3 = logits.topk(3).indices
    draws = torch.cat([sample_next(logits, top_k=3, generator=rng) for _ in range(50)], dim=1)
    assert all(set(draws[row].tolist()) <= set(top3[row].tolist()) for row in range(8))


def test_mlm_predictions_only_in_eval_mode():
    """The argmax over [M, V] is evaluation's (accuracy): a training step does not compute it."""
    model = build(arch="encoder")
    x, y = tokens(2, 8), tokens(2, 8, seed=2)
    positions = torch.tensor([1, 4, 9])
    assert model(x, y, mlm_positions=positions).predictions is not None
    assert model.train()(x, y, mlm_positions=positions).predictions is None


@pytest.mark.parametrize("arch,positions,length", [("decoder", "learned", 24), ("decoder", "rope", 200),
                                                   ("encoder", "learned", 200), ("encoder", "rope", 24)])
def test_flex_document_attention_equals_the_dense_mask(arch, positions, length):
    """FlexAttention's block mask (document plus causal), the CUDA path, against the dense [B,1,T,T]
    mask, the CPU path and reference: the same outputs to 1e-5. On CPU flex runs torch's eager (unfused)
    implementation of the same mask semantics the CUDA kernel is compiled from; it has no backward on
    CPU (torch 2.13), so gradients are compared on a GPU only (bench/gpu.sh trains through it)."""
    model = build(arch=arch, positions=positions, max_seq_len=256, d_model=32, n_head=4)
    x = tokens(2, length)
    cuts = [0, 5, length // 2, length - 3]
    doc_ids = torch.stack([torch.bucketize(torch.arange(length), torch.tensor(cuts), right=True),
                           torch.cat([torch.full((length - 4,), 7), torch.full((4,), -1)])])  # padding as -1
    results = {}
    with torch.no_grad():
        for attention in ("dense", "flex"):
            model.document_attention = attention
            results[attention] = model(x, doc_ids=doc_ids).logits
        model.document_attention = "dense"
        unmasked = model(x).logits
    torch.testing.assert_close(results["flex"], results["dense"], rtol=0, atol=1e-5)
    assert not torch.allclose(unmasked, results["dense"], atol=1e-3)  # the mask matters here
