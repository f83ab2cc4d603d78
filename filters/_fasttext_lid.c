/* fastText's prediction of one line, with each distinct token's input row ids remembered
   (filters/fasttext_cache.py holds the Python side and the model's parts).

   predict(text, tokens, model) -> (label, probability) or None
   row_ids(token, model) -> bytes

   - text: the line. It is split into tokens at fastText's separators (space, \n, \r, \t, \v, \f,
     NUL), and reading stops after a token "</s>", as fastText's Dictionary::getLine reads.
   - tokens: dict, token -> bytes of its input row ids (int32, native order). A token not in it
     is worked out here (row_ids) and added.
   - model: (words, kept, nwords, bucket, minn, maxn, rows, output, left, right)
     words: dict, word -> its id; kept: int32 array, by bucket, its index among the buckets a
     pruned model keeps (-1 for a dropped one), or None where every bucket is kept; rows: float32
     (n, dim), the input matrix; output: float32 (labels, dim); left, right: int32, the label
     tree's children by node (-1 for a label), as HierarchicalSoftmaxLoss::buildTree makes it.

   A token's row ids are fastText's (Dictionary::getSubwords): the word's id if it is in the
   vocabulary, then the ids of its character n-grams' buckets, hashed as fastText hashes them; none
   for a label ("__label__..."). The hidden vector is summed in fastText's order and float32
   precision, then the tree is walked as HierarchicalSoftmaxLoss::dfs walks it for k=1 and threshold
   0, with the same float and double steps and the same C library functions: the label and the
   probability are fastText's, bit for bit. Built with -ffp-contract=off, so that no product and
   sum is fused into one rounding. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DIM 1024
#define EOS "</s>"
#define LABEL "__label__"

typedef struct {
    PyObject *words;
    Py_buffer kept;  /* buf NULL: no pruning */
    int32_t nwords;
    uint32_t bucket;
    long minn, maxn;
    Py_buffer rows, output, left, right;
    Py_ssize_t dim, labels;
} Model;

static void
release(Model *m)
{
    if (m->kept.buf)
        PyBuffer_Release(&m->kept);
    if (m->rows.buf)
        PyBuffer_Release(&m->rows);
    if (m->output.buf)
        PyBuffer_Release(&m->output);
    if (m->left.buf)
        PyBuffer_Release(&m->left);
    if (m->right.buf)
        PyBuffer_Release(&m->right);
}

static int
typed_buffer(PyObject *obj, Py_buffer *view, int ndim, const char *format, const char *name)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_ND) < 0)
        return -1;
    if (view->ndim != ndim || view->itemsize != 4 || strcmp(view->format, format) != 0) {
        PyErr_Format(PyExc_TypeError, "%s: a C-contiguous %d-d array of %s", name, ndim,
                     format[0] == 'f' ? "float32" : "int32");
        PyBuffer_Release(view);
        view->buf = NULL;
        return -1;
    }
    return 0;
}

static int
unpack_model(PyObject *tuple, Model *m)
{
    memset(m, 0, sizeof(*m));
    PyObject *kept, *rows, *output, *left, *right;
    if (!PyTuple_Check(tuple) || !PyArg_ParseTuple(tuple, "O!OiIllOOOO", &PyDict_Type, &m->words, &kept,
                                                   &m->nwords, &m->bucket, &m->minn, &m->maxn, &rows,
                                                   &output, &left, &right))
        return -1;
    if (kept != Py_None) {
        if (typed_buffer(kept, &m->kept, 1, "i", "kept") < 0)
            goto error;
        if (m->kept.shape[0] != (Py_ssize_t)m->bucket) {
            PyErr_SetString(PyExc_ValueError, "kept: one index per bucket");
            goto error;
        }
    }
    if (typed_buffer(rows, &m->rows, 2, "f", "rows") < 0 || typed_buffer(output, &m->output, 2, "f", "output") < 0
            || typed_buffer(left, &m->left, 1, "i", "left") < 0 || typed_buffer(right, &m->right, 1, "i", "right") < 0)
        goto error;
    m->dim = m->rows.shape[1];
    m->labels = m->output.shape[0];
    if (m->dim > MAX_DIM || m->output.shape[1] != m->dim || m->labels < 1 || m->bucket == 0
            || m->left.shape[0] != 2 * m->labels - 1 || m->right.shape[0] != m->left.shape[0]) {
        PyErr_SetString(PyExc_ValueError, "model: rows, output and tree do not fit together");
        goto error;
    }
    return 0;
error:
    release(m);
    return -1;
}

/* ------------------------------------------------------------------ a token's row ids */

typedef struct {
    int32_t *ids;
    Py_ssize_t size, capacity;
} Ids;

static int
push(Ids *ids, int32_t id)
{
    if (ids->size == ids->capacity) {
        Py_ssize_t capacity = ids->capacity ? 2 * ids->capacity : 32;
        int32_t *grown = PyMem_Realloc(ids->ids, capacity * sizeof(int32_t));
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        ids->ids = grown;
        ids->capacity = capacity;
    }
    ids->ids[ids->size++] = id;
    return 0;
}

/* Dictionary::hash: FNV-1a over the bytes, each taken as a signed char */
static uint32_t
fnv(const char *s, Py_ssize_t n)
{
    uint32_t h = 2166136261u;
    for (Py_ssize_t i = 0; i < n; i++) {
        h = h ^ (uint32_t)(int8_t)s[i];
        h = h * 16777619u;
    }
    return h;
}

/* Dictionary::pushHash */
static int
push_bucket(const Model *m, Ids *ids, int32_t bucket)
{
    if (m->kept.buf == NULL)
        return push(ids, m->nwords + bucket);
    int32_t index = ((const int32_t *)m->kept.buf)[bucket];
    return index < 0 ? 0 : push(ids, m->nwords + index);  /* < 0: a bucket the pruned model dropped */
}

/* Dictionary::getSubwords(word): the word's id if known, then its n-grams' (none for "</s>") */
static PyObject *
compute_row_ids(const Model *m, PyObject *token)
{
    Py_ssize_t length;
    const char *utf8 = PyUnicode_AsUTF8AndSize(token, &length);
    if (utf8 == NULL)
        return NULL;
    if (length >= (Py_ssize_t)strlen(LABEL) && memcmp(utf8, LABEL, strlen(LABEL)) == 0)
        return PyBytes_FromStringAndSize(NULL, 0);  /* read as a label: adds no row */
    Ids ids = {NULL, 0, 0};
    char *word = NULL;
    PyObject *id = PyDict_GetItemWithError(m->words, token);  /* borrowed */
    if (id == NULL && PyErr_Occurred())
        goto error;
    if (id != NULL) {
        long value = PyLong_AsLong(id);
        if (value == -1 && PyErr_Occurred())
            goto error;
        if (push(&ids, (int32_t)value) < 0)
            goto error;
    }
    if (strcmp(utf8, EOS) != 0 || length != (Py_ssize_t)strlen(EOS)) {
        Py_ssize_t size = length + 2;  /* "<" + token + ">" */
        word = PyMem_Malloc(size);
        if (word == NULL) {
            PyErr_NoMemory();
            goto error;
        }
        word[0] = '<';
        memcpy(word + 1, utf8, length);
        word[size - 1] = '>';
        /* Dictionary::computeSubwords: n-grams of n characters, minn <= n <= maxn */
        for (Py_ssize_t i = 0; i < size; i++) {
            if ((word[i] & 0xC0) == 0x80)
                continue;
            Py_ssize_t j = i;
            for (long n = 1; j < size && n <= m->maxn; n++) {
                j++;
                while (j < size && (word[j] & 0xC0) == 0x80)
                    j++;
                if (n >= m->minn && !(n == 1 && (i == 0 || j == size))) {
                    int32_t bucket = (int32_t)(fnv(word + i, j - i) % m->bucket);
                    if (push_bucket(m, &ids, bucket) < 0)
                        goto error;
                }
            }
        }
    }
    Py_ssize_t nrows = m->rows.shape[0];
    for (Py_ssize_t i = 0; i < ids.size; i++) {
        if (ids.ids[i] < 0 || ids.ids[i] >= nrows) {
            PyErr_Format(PyExc_ValueError, "row id %d outside the model's %zd input rows", ids.ids[i], nrows);
            goto error;
        }
    }
    PyObject *bytes = PyBytes_FromStringAndSize((const char *)ids.ids, ids.size * (Py_ssize_t)sizeof(int32_t));
    PyMem_Free(ids.ids);
    PyMem_Free(word);
    return bytes;
error:
    PyMem_Free(ids.ids);
    PyMem_Free(word);
    return NULL;
}

/* ------------------------------------------------------------------ the prediction */

typedef struct {
    const Model *m;
    const float *hidden;
    int best;
    float best_score;
} Walk;

/* fastText's std_log: the argument a float, the sum and log in double, the result a float */
static float
std_log(float x)
{
    return (float)log(x + 1e-5);
}

static void
dfs(Walk *w, int node, float score)
{
    const int32_t *left = w->m->left.buf, *right = w->m->right.buf;
    if (score < std_log(0.0f))
        return;
    if (w->best >= 0 && score < w->best_score)
        return;
    if (left[node] == -1 && right[node] == -1) {
        /* pushed onto fastText's one-place heap and the smaller popped: on a tie the newcomer stays */
        w->best = node;
        w->best_score = score;
        return;
    }
    const float *row = (const float *)w->m->output.buf + (node - w->m->labels) * w->m->dim;
    float f = 0.0f;
    for (Py_ssize_t j = 0; j < w->m->dim; j++)  /* DenseMatrix::dotRow */
        f += row[j] * w->hidden[j];
    f = (float)(1. / (1 + expf(-f)));
    dfs(w, left[node], score + std_log((float)(1.0 - f)));
    dfs(w, right[node], score + std_log(f));
}

static int
is_separator(Py_UCS4 ch)
{
    return ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t' || ch == '\v' || ch == '\f' || ch == 0;
}

/* Adds the token's rows to acc in order (Vector::addRow of each id), learning its ids if new. */
static int
add_token(const Model *m, PyObject *tokens, PyObject *token, float *acc, Py_ssize_t *count)
{
    PyObject *ids = PyDict_GetItemWithError(tokens, token);  /* borrowed */
    if (ids == NULL) {
        if (PyErr_Occurred())
            return -1;
        ids = compute_row_ids(m, token);
        if (ids == NULL)
            return -1;
        int failed = PyDict_SetItem(tokens, token, ids);
        Py_DECREF(ids);  /* the dict holds it */
        if (failed)
            return -1;
    } else if (!PyBytes_Check(ids)) {
        PyErr_SetString(PyExc_TypeError, "tokens: values must be bytes");
        return -1;
    }
    Py_ssize_t n = PyBytes_GET_SIZE(ids) / (Py_ssize_t)sizeof(int32_t);
    const char *data = PyBytes_AS_STRING(ids);
    for (Py_ssize_t i = 0; i < n; i++) {
        int32_t id;
        memcpy(&id, data + i * sizeof(int32_t), sizeof(int32_t));
        const float *row = (const float *)m->rows.buf + (Py_ssize_t)id * m->dim;
        for (Py_ssize_t j = 0; j < m->dim; j++)
            acc[j] += row[j];
    }
    *count += n;
    return 0;
}

static PyObject *
predict(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyUnicode_Check(args[0]) || !PyDict_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "predict(text: str, tokens: dict, model: tuple)");
        return NULL;
    }
    PyObject *text = args[0], *tokens = args[1];
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(text) < 0)
        return NULL;
#endif
    Model m;
    if (unpack_model(args[2], &m) < 0)
        return NULL;
    PyObject *result = NULL;
    float acc[MAX_DIM] = {0};  /* Vector::zero */
    Py_ssize_t count = 0;
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    PyObject *eos = PyUnicode_FromString(EOS);
    if (eos == NULL)
        goto done;
    Py_ssize_t i = 0;
    for (;;) {
        while (i < length && is_separator(PyUnicode_READ(kind, data, i)))
            i++;
        if (i == length)
            break;
        Py_ssize_t start = i;
        while (i < length && !is_separator(PyUnicode_READ(kind, data, i)))
            i++;
        PyObject *token = PyUnicode_Substring(text, start, i);
        if (token == NULL)
            goto done;
        int is_eos = PyUnicode_Compare(token, eos) == 0;
        int failed = is_eos ? 0 : add_token(&m, tokens, token, acc, &count);
        Py_DECREF(token);
        if (failed)
            goto done;
        if (is_eos)
            break;  /* getLine stops at "</s>"; its rows are added below, as the line's end adds them */
    }
    if (add_token(&m, tokens, eos, acc, &count) < 0)
        goto done;
    if (count == 0) {  /* FastText::predict finds no input */
        result = Py_NewRef(Py_None);
        goto done;
    }
    float scale = (float)(1.0 / count);  /* Vector::mul(1.0 / input.size()) */
    for (Py_ssize_t j = 0; j < m.dim; j++)
        acc[j] *= scale;
    Walk walk = {&m, acc, -1, 0.0f};
    dfs(&walk, (int)(2 * m.labels - 2), 0.0f);
    if (walk.best < 0)
        result = Py_NewRef(Py_None);
    else  /* FastText::predictLine: std::exp of the float score */
        result = Py_BuildValue("(id)", walk.best, (double)expf(walk.best_score));
done:
    Py_XDECREF(eos);
    release(&m);
    return result;
}

static PyObject *
row_ids(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyUnicode_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "row_ids(token: str, model: tuple)");
        return NULL;
    }
    Model m;
    if (unpack_model(args[1], &m) < 0)
        return NULL;
    PyObject *result = compute_row_ids(&m, args[0]);
    release(&m);
    return result;
}

static PyMethodDef methods[] = {
    {"predict", (PyCFunction)(void (*)(void))predict, METH_FASTCALL,
     "predict(text, tokens, model) -> (label, probability) or None"},
    {"row_ids", (PyCFunction)(void (*)(void))row_ids, METH_FASTCALL,
     "row_ids(token, model) -> bytes of the token's input row ids (int32)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fasttext_lid",
    "fastText's prediction of one line, with each distinct token's row ids remembered.", -1, methods,
};

PyMODINIT_FUNC
PyInit__fasttext_lid(void)
{
    return PyModule_Create(&module);
}
