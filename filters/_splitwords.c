/* The per-text loop of filters.words.SpacySplitter.words, compiled.

   split_words(text, tokens, letters, in_context) -> (words, missing, tied)

   The text is split at white space as str.split() splits it. A piece of letters (str.isalpha) is a
   word of its own unless `letters` holds it (the special cases such as "cannot"); any other piece is
   looked up in `tokens`. The values of both dicts are a piece's tokens joined by single spaces.
   - words: the tokens of every piece, in order; a piece that `tokens` lacks stands as itself.
   - missing: the places in `words` of the pieces that `tokens` lacks (not letters), in order, for
     the caller to learn and put their tokens in.
   - tied: whether a piece in `in_context` occurs (its tokens may depend on its neighbours, which
     the caller checks).

   The pure-Python path in filters/words.py gives the same words; tests/test_words.py holds the two
   side by side. No Python code runs per piece, and a known piece of one token is appended as the
   cache's own string, not copied. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* Append the tokens of `joined` to `words`: the value itself when it is one token. */
static int
append_tokens(PyObject *words, PyObject *joined)
{
    if (!PyUnicode_Check(joined)) {
        PyErr_SetString(PyExc_TypeError, "token values must be str");
        return -1;
    }
    Py_ssize_t length = PyUnicode_GET_LENGTH(joined);
    Py_ssize_t space = PyUnicode_FindChar(joined, ' ', 0, length, 1);
    if (space == -2)
        return -1;
    if (space == -1)
        return PyList_Append(words, joined);
    int kind = PyUnicode_KIND(joined);
    const void *data = PyUnicode_DATA(joined);
    Py_ssize_t start = 0;
    for (Py_ssize_t i = space; i <= length; i++) {
        if (i < length && PyUnicode_READ(kind, data, i) != ' ')
            continue;
        if (i > start) {
            PyObject *token = PyUnicode_Substring(joined, start, i);
            if (token == NULL)
                return -1;
            int failed = PyList_Append(words, token);
            Py_DECREF(token);
            if (failed)
                return -1;
        }
        start = i + 1;
    }
    return 0;
}

static inline int
is_space(Py_UCS4 ch)
{
    return Py_UNICODE_ISSPACE(ch);  /* str.split()'s white space */
}

static inline int
is_alpha(Py_UCS4 ch)
{
    if (ch < 128)
        return (ch | 32) - 'a' < 26;
    return Py_UNICODE_ISALPHA(ch);  /* str.isalpha()'s letters */
}

static PyObject *
split_words(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "split_words(text, tokens, letters, in_context)");
        return NULL;
    }
    PyObject *text = args[0], *tokens = args[1], *letters = args[2], *in_context = args[3];
    if (!PyUnicode_Check(text) || !PyDict_Check(tokens) || !PyDict_Check(letters) || !PyDict_Check(in_context)) {
        PyErr_SetString(PyExc_TypeError, "split_words takes a str and three dicts");
        return NULL;
    }
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(text) < 0)  /* a string made by the legacy API (gone in 3.12) */
        return NULL;
#endif
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    PyObject *words = PyList_New(0);
    PyObject *missing = PyList_New(0);
    int tied = 0;
    if (words == NULL || missing == NULL)
        goto error;

    Py_ssize_t i = 0;
    for (;;) {
        while (i < length && is_space(PyUnicode_READ(kind, data, i)))
            i++;
        if (i == length)
            break;
        Py_ssize_t start = i;
        int alpha = 1;
        for (; i < length; i++) {
            Py_UCS4 ch = PyUnicode_READ(kind, data, i);
            if (is_space(ch))
                break;
            if (alpha && !is_alpha(ch))
                alpha = 0;
        }
        PyObject *piece = PyUnicode_Substring(text, start, i);
        if (piece == NULL)
            goto error;
        int failed = 0;
        PyObject *joined = PyDict_GetItemWithError(alpha ? letters : tokens, piece);  /* borrowed */
        if (joined == NULL && PyErr_Occurred()) {
            failed = 1;
        } else if (joined != NULL) {
            if (!alpha && !tied) {
                tied = PyDict_Contains(in_context, piece);
                failed = tied < 0;
            }
            if (!failed)
                failed = append_tokens(words, joined);
        } else {
            if (!alpha) {
                PyObject *place = PyLong_FromSsize_t(PyList_GET_SIZE(words));
                failed = place == NULL || PyList_Append(missing, place);
                Py_XDECREF(place);
            }
            if (!failed)
                failed = PyList_Append(words, piece);
        }
        Py_DECREF(piece);
        if (failed)
            goto error;
    }
    return Py_BuildValue("(NNO)", words, missing, tied ? Py_True : Py_False);

error:
    Py_XDECREF(words);
    Py_XDECREF(missing);
    return NULL;
}

static PyMethodDef methods[] = {
    {"split_words", (PyCFunction)(void (*)(void))split_words, METH_FASTCALL,
     "split_words(text, tokens, letters, in_context) -> (words, places of missing pieces, tied)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_splitwords",
    "The per-text loop of filters.words.SpacySplitter.words, compiled.", -1, methods,
};

PyMODINIT_FUNC
PyInit__splitwords(void)
{
    return PyModule_Create(&module);
}
