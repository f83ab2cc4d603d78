/* The n-gram rules of filters.gopher_repetition, compiled: the same hashes, the same answers as its
   numpy path (tests/test_filter_equivalence.py holds the two side by side).

   ngram_chars(ids, hashes, powers, lengths, top, dup, multiplier) -> (tops, dups)

   - ids: the text's word ids (8-byte integers, as filters.text.word_columns gives them); hashes and
     powers: each word's character hash and MULTIPLIER**its length (8-byte, mod 2**64); lengths:
     each word's characters (8-byte).
   - top: the n of each "top n-gram" rule. The n-grams are words joined by spaces, hashed over word
     ids: h = ((id1 * m + id2) * m + id3) ... mod 2**64. Its answer is the characters of the most
     frequent n-gram (the first to occur among the most frequent) plus its n - 1 spaces, times its
     count; None for a text of fewer than n words.
   - dup: the n of each "repeated n-gram" rule. The n-grams are the words' characters joined without
     spaces, hashed over characters (a word's hash times the next word's power plus the next's hash).
     Its answer is the characters in n-grams seen before, a repeat skipping its n words and leaving
     them unseen, as datatrove's find_all_duplicate walks.
   Two different n-grams share a 64-bit hash with probability about 2**-64, as in the numpy path. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    uint64_t *keys;
    uint32_t *stamp;  /* a slot is in use when its stamp is the table's generation */
    int64_t *count, *first;
    size_t mask;
    uint32_t generation;
} Table;

static int
table_init(Table *t, Py_ssize_t items)
{
    size_t size = 16;
    while (size < (size_t)items * 2)
        size <<= 1;
    t->keys = PyMem_Malloc(size * sizeof(uint64_t));
    t->stamp = PyMem_Calloc(size, sizeof(uint32_t));
    t->count = PyMem_Malloc(size * sizeof(int64_t));
    t->first = PyMem_Malloc(size * sizeof(int64_t));
    t->mask = size - 1;
    t->generation = 0;
    if (!t->keys || !t->stamp || !t->count || !t->first) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static void
table_free(Table *t)
{
    PyMem_Free(t->keys);
    PyMem_Free(t->stamp);
    PyMem_Free(t->count);
    PyMem_Free(t->first);
}

/* The slot of `key`, claimed (count 0) if it is not in the table. */
static size_t
slot(Table *t, uint64_t key)
{
    size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & t->mask;
    while (t->stamp[i] == t->generation && t->keys[i] != key)
        i = (i + 1) & t->mask;
    if (t->stamp[i] != t->generation) {
        t->stamp[i] = t->generation;
        t->keys[i] = key;
        t->count[i] = 0;
    }
    return i;
}

static int
words_buffer(PyObject *obj, Py_buffer *view, const char *name)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_ND) < 0)
        return -1;
    if (view->ndim != 1 || view->itemsize != 8) {
        PyErr_Format(PyExc_TypeError, "%s: a contiguous 1-d array of 8-byte integers", name);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static PyObject *
ngram_chars(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 7 || !PyTuple_Check(args[4]) || !PyTuple_Check(args[5])) {
        PyErr_SetString(PyExc_TypeError, "ngram_chars(ids, hashes, powers, lengths, top: tuple, dup: tuple, multiplier)");
        return NULL;
    }
    uint64_t multiplier = PyLong_AsUnsignedLongLong(args[6]);
    if (multiplier == (uint64_t)-1 && PyErr_Occurred())
        return NULL;
    Py_buffer views[4];
    const char *names[4] = {"ids", "hashes", "powers", "lengths"};
    int held = 0;
    for (; held < 4; held++)
        if (words_buffer(args[held], &views[held], names[held]) < 0)
            break;
    PyObject *result = NULL, *tops = NULL, *dups = NULL;
    uint64_t *rolling = NULL;
    int64_t *prefix = NULL;
    Table table = {0};
    if (held < 4)
        goto done;
    Py_ssize_t n_words = views[0].shape[0];
    if (views[1].shape[0] != n_words || views[2].shape[0] != n_words || views[3].shape[0] != n_words) {
        PyErr_SetString(PyExc_ValueError, "ngram_chars: one value per word in each array");
        goto done;
    }
    const uint64_t *ids = views[0].buf, *hashes = views[1].buf, *powers = views[2].buf;
    const int64_t *lengths = views[3].buf;
    rolling = PyMem_Malloc((n_words + 1) * sizeof(uint64_t));
    prefix = PyMem_Malloc((n_words + 1) * sizeof(int64_t));
    if (rolling == NULL || prefix == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    prefix[0] = 0;
    for (Py_ssize_t i = 0; i < n_words; i++)
        prefix[i + 1] = prefix[i] + lengths[i];
    if (table_init(&table, n_words) < 0)
        goto done;
    Py_ssize_t n_top = PyTuple_GET_SIZE(args[4]), n_dup = PyTuple_GET_SIZE(args[5]);
    tops = PyTuple_New(n_top);
    dups = PyTuple_New(n_dup);
    if (tops == NULL || dups == NULL)
        goto done;

    for (int family = 0; family < 2; family++) {  /* top n-grams over ids, then repeats over characters */
        PyObject *ns = args[4 + family], *out = family == 0 ? tops : dups;
        Py_ssize_t level = 0;  /* rolling[i] holds the hash of the `level` words from i */
        for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(ns); k++) {
            Py_ssize_t n = PyLong_AsSsize_t(PyTuple_GET_ITEM(ns, k));
            if (n == -1 && PyErr_Occurred())
                goto done;
            if (n < 1) {
                PyErr_SetString(PyExc_ValueError, "ngram_chars: n must be at least 1");
                goto done;
            }
            if (n < level || level == 0) {
                for (Py_ssize_t i = 0; i < n_words; i++)
                    rolling[i] = family == 0 ? ids[i] : hashes[i];
                level = 1;
            }
            for (; level < n; level++)
                for (Py_ssize_t i = 0; i + level < n_words; i++)
                    rolling[i] = family == 0 ? rolling[i] * multiplier + ids[i + level]
                                             : rolling[i] * powers[i + level] + hashes[i + level];
            Py_ssize_t starts = n_words - n + 1;
            PyObject *value;
            table.generation++;
            if (family == 0) {
                if (starts <= 0) {
                    value = Py_NewRef(Py_None);
                } else {
                    int64_t best = 1, start = 0;  /* nothing repeats: the first n-gram */
                    for (Py_ssize_t i = 0; i < starts; i++) {
                        size_t s = slot(&table, rolling[i]);
                        if (table.count[s]++ == 0)
                            table.first[s] = i;
                        int64_t c = table.count[s];
                        if (c > best || (c == best && c > 1 && table.first[s] < start)) {
                            best = c;
                            start = table.first[s];
                        }
                    }
                    value = PyLong_FromLongLong((prefix[start + n] - prefix[start] + n - 1) * best);
                }
            } else {
                int64_t chars = 0;
                for (Py_ssize_t i = 0; i < starts; i++) {
                    size_t s = slot(&table, rolling[i]);
                    if (table.count[s]++ > 0) {  /* seen before: a repeat, its words skipped */
                        table.count[s]--;
                        chars += prefix[i + n] - prefix[i];
                        i += n - 1;
                    }
                }
                value = PyLong_FromLongLong(chars);
            }
            if (value == NULL)
                goto done;
            PyTuple_SET_ITEM(out, k, value);
        }
    }
    result = PyTuple_Pack(2, tops, dups);

done:
    for (int i = 0; i < held; i++)
        PyBuffer_Release(&views[i]);
    Py_XDECREF(tops);
    Py_XDECREF(dups);
    PyMem_Free(rolling);
    PyMem_Free(prefix);
    table_free(&table);
    return result;
}

static PyMethodDef methods[] = {
    {"ngram_chars", (PyCFunction)(void (*)(void))ngram_chars, METH_FASTCALL,
     "ngram_chars(ids, hashes, powers, lengths, top, dup, multiplier) -> (tops, dups)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_repetition", "The n-gram rules of filters.gopher_repetition, compiled.", -1, methods,
};

PyMODINIT_FUNC
PyInit__repetition(void)
{
    return PyModule_Create(&module);
}
