"""fastText's prediction for lid.176 (a supervised model with a hierarchical softmax and no word
n-grams), with each distinct token's input row ids remembered: the fastText library's labels and
probabilities, bit for bit, in a fraction of its time.

fastText predicts a line by reading it token by token: for each token it hashes the token and each
of its character 2- to 4-grams, looks each up, and adds the rows found to the hidden vector; then it
walks the tree of labels. Text repeats its tokens, so a compiled loop (filters/_fasttext_lid.c)
works out a token's row ids once, remembers them, and per line adds the rows up in fastText's order
and float32 precision and walks the tree as fastText does. The model's matrices come from the
fastText library where it gives them out; the two parts it keeps to itself for a quantized model
(the pruned model's kept buckets and the output matrix) are read from the model file, checked
against what the library reports.

Where the package was built without a C compiler, or for a model of another kind, `for_model`
returns None and the library predicts. tests/test_langid_cache.py holds the two side by side.
"""

import struct
import threading

import numpy as np

try:
    from filters._fasttext_lid import predict as _compiled_predict, row_ids as _compiled_row_ids
except ImportError:  # built without a C compiler: the fastText library predicts every line
    _compiled_predict = _compiled_row_ids = None

LABEL = "__label__"
_MAGIC, _VERSION = 793712314, 12  # FASTTEXT_FILEFORMAT_MAGIC_INT32, FASTTEXT_VERSION
# Args::save: dim ws epoch minCount neg wordNgrams loss model bucket minn maxn lrUpdateRate, then t
_ARGS = struct.Struct("<12id")
_DICT = struct.Struct("<iiiqq")  # Dictionary::save: size nwords nlabels ntokens pruneidx_size
_HS, _SUPERVISED = 1, 3  # loss_name::hs, model_name::sup


class UnsupportedModel(ValueError):
    pass


def read_model_parts(path: str, dim: int, labels: int) -> tuple[np.ndarray | None, np.ndarray]:
    """(by bucket, its index among the buckets a pruned model keeps, -1 for a dropped one, or None
    where the model keeps every bucket; the output matrix, labels x dim float32). UnsupportedModel
    for a file that is not a model this reproduces."""
    with open(path, "rb") as f:
        raw = f.read()
    magic, version = struct.unpack_from("<ii", raw, 0)
    if (magic, version) != (_MAGIC, _VERSION):
        raise UnsupportedModel(f"{path}: fastText file version {version}, not {_VERSION}")
    args = _ARGS.unpack_from(raw, 8)
    if args[0] != dim or args[5] != 1 or args[6] != _HS or args[7] != _SUPERVISED:
        raise UnsupportedModel(f"{path}: not a supervised model with a hierarchical softmax and no word n-grams")
    at = 8 + _ARGS.size
    size, nwords, nlabels, _, prune_size = _DICT.unpack_from(raw, at)
    at += _DICT.size
    for _ in range(size):  # entries: the word, NUL, its count (int64), its type (int8)
        at = raw.index(b"\0", at) + 1 + 9
    kept = None
    if prune_size >= 0:  # Dictionary::pruneidx_: (bucket, index) pairs
        pairs = np.frombuffer(raw, np.int32, 2 * prune_size, at).reshape(-1, 2)
        kept = np.full(args[8], -1, np.int32)
        kept[pairs[:, 0]] = pairs[:, 1]
    output_bytes = labels * dim * 4
    quantized_output = raw[len(raw) - output_bytes - 17]  # the qout flag just before the output matrix
    shape = struct.unpack_from("<qq", raw, len(raw) - output_bytes - 16)
    if nlabels != labels or quantized_output != 0 or shape != (labels, dim):
        raise UnsupportedModel(f"{path}: the output matrix is not a plain {labels} x {dim} matrix at the file's end")
    output = np.frombuffer(raw, np.float32, labels * dim, len(raw) - output_bytes).reshape(labels, dim).copy()
    return kept, output


def label_tree(counts: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(left, right) children by node of fastText's Huffman tree of labels
    (HierarchicalSoftmaxLoss::buildTree): nodes below len(counts) are the labels (children -1),
    the root is the last node."""
    osz = len(counts)
    count = list(counts) + [10 ** 15] * (osz - 1)
    left, right = [-1] * (2 * osz - 1), [-1] * (2 * osz - 1)
    leaf, node = osz - 1, osz
    for i in range(osz, 2 * osz - 1):
        pair = []
        for _ in range(2):  # the two smallest: the next label (counts fall) or the next inner node
            if leaf >= 0 and count[leaf] < count[node]:
                pair.append(leaf)
                leaf -= 1
            else:
                pair.append(node)
                node += 1
        left[i], right[i] = pair
        count[i] = count[pair[0]] + count[pair[1]]
    return np.array(left, np.int32), np.array(right, np.int32)


class CachedPredictor:
    """`predict(line) -> (label index, probability)`, or None for a line fastText finds no input in.
    Safe to share between threads (the compiled loop runs under the GIL)."""

    LIMIT = 500_000  # distinct tokens remembered (about 150 bytes each) before starting again

    def __init__(self, model, path: str):
        args = model.f.getArgs()
        labels, counts = model.get_labels(include_freq=True)
        self.labels = [label[len(LABEL):] for label in labels]
        dim = model.get_dimension()
        kept, output = read_model_parts(path, dim, len(labels))
        words = model.get_words()
        if model.is_quantized():  # the library decodes each row of the product-quantized matrix
            rows = len(words) + (int(kept.max(initial=-1)) + 1 if kept is not None else args.bucket)
            matrix = np.empty((rows, dim), np.float32)
            for i in range(rows):
                matrix[i] = model.get_input_vector(i)
        else:
            matrix = np.ascontiguousarray(model.get_input_matrix(), np.float32)
        left, right = label_tree([int(c) for c in counts])
        self._model = (dict(zip(words, range(len(words)))), kept, len(words), args.bucket, args.minn, args.maxn,
                       matrix, output, left, right)
        self._tokens: dict[str, bytes] = {}
        self._lock = threading.Lock()

    @classmethod
    def for_model(cls, model, path: str):
        """A predictor, or None where the compiled loop is not built or the model is not one this
        reproduces (see read_model_parts)."""
        if _compiled_predict is None:
            return None
        try:
            return cls(model, path)
        except UnsupportedModel:
            return None

    def predict(self, line: str) -> tuple[int, float] | None:
        if len(self._tokens) > self.LIMIT:
            with self._lock:
                if len(self._tokens) > self.LIMIT:
                    self._tokens = {}
        return _compiled_predict(line, self._tokens, self._model)

    def row_ids(self, token: str) -> list[int]:
        """The token's input row ids, as the compiled loop works them out."""
        return np.frombuffer(_compiled_row_ids(token, self._model), np.int32).tolist()
