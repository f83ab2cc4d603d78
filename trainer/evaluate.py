"""Bits per byte of a causal language model on fixed texts: a measure that does not depend on the tokenizer.

    bits_per_byte(model, tokenizer, texts) -> {"bits_per_byte", "nats", "tokens", "bytes", "token_ppl", ...}

Each text is encoded without special tokens and preceded by `<|endoftext|>` (id 0, the packer's
separator), so that its first token is predicted too; every token of the text is then predicted exactly
once. A text longer than the model's window is scored in consecutive windows of `window` targets, each
window's context starting at its own first token (no token is scored twice, none skipped). The loss is the
cross-entropy over the tokenizer's real vocabulary (the model's padded logits past `vocab_size` are left
out), summed in float64. Then

    bits per byte = sum of token NLL (nats) / ln 2 / UTF-8 bytes of the texts

and perplexity is exp(nats / tokens) (per token, so comparable only between models of one tokenizer).
The tokenizer must be lossless on the texts (byte-level BPE is): a text whose tokens do not decode back to
it is an error, since its bytes would not be the bytes scored.
"""

import math

import torch
import torch.nn.functional as F

SEPARATOR_ID = 0
IGNORE = -100


def windows(ids: list[int], window: int, separator: int = SEPARATOR_ID) -> list[tuple[list[int], list[int]]]:
    """(inputs, targets) pairs covering every token of `ids` once as a target: the sequence
    [separator] + ids cut into runs of `window` targets, each input the tokens just before its targets."""
    sequence = [separator, *ids]
    out = []
    for start in range(0, len(sequence) - 1, window):
        targets = sequence[start + 1:start + window + 1]
        out.append((sequence[start:start + len(targets)], targets))
    return out


@torch.no_grad()
def score_ids(model, documents: list[list[int]], window: int, vocab_size: int, batch_size: int = 16,
              separator: int = SEPARATOR_ID) -> tuple[float, int]:
    """(summed NLL in nats, tokens scored) over token-id documents."""
    pieces = [piece for ids in documents for piece in windows(ids, window, separator) if piece[1]]
    pieces.sort(key=lambda p: -len(p[1]))  # similar lengths together: less padding
    total, count = 0.0, 0
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(pieces), batch_size):
            chunk = pieces[start:start + batch_size]
            width = max(len(t) for _, t in chunk)
            inputs = torch.full((len(chunk), width), separator, dtype=torch.long)
            targets = torch.full((len(chunk), width), IGNORE, dtype=torch.long)
            for row, (x, y) in enumerate(chunk):
                inputs[row, :len(x)] = torch.tensor(x)
                targets[row, :len(y)] = torch.tensor(y)
            logits = model(inputs).logits[..., :vocab_size].float()  # causal: padding after a row changes nothing
            loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE, reduction="sum")
            total += float(loss.double())
            count += int((targets != IGNORE).sum())
    finally:
        model.train(was_training)
    return total, count


def bits_per_byte(model, tokenizer, texts: list[str], window: int | None = None, batch_size: int = 16) -> dict:
    """Bits per UTF-8 byte (and per-token perplexity) of `texts` under `model` (a trainer.model.Transformer
    decoder) with `tokenizer` (a tokenizers.Tokenizer)."""
    window = window or model.config.max_seq_len
    documents, n_bytes = [], 0
    for text in texts:
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        if tokenizer.decode(ids, skip_special_tokens=False) != text:
            raise ValueError(f"the tokenizer does not encode this text losslessly: {text[:60]!r}")
        documents.append(ids)
        n_bytes += len(text.encode("utf-8"))
    if n_bytes == 0:
        raise ValueError("no bytes to score")
    nats, tokens = score_ids(model, documents, window, tokenizer.get_vocab_size(), batch_size)
    return {"bits_per_byte": nats / math.log(2) / n_bytes, "token_ppl": math.exp(nats / max(tokens, 1)),
            "nats": nats, "tokens": tokens, "bytes": n_bytes, "documents": len(texts)}
