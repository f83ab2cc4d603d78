/* The per-word facts of filters.text's word columns, compiled: what _Vocabulary works out once for
   each word it meets (the numpy and Python path there gives the same; tests/test_filter_equivalence.py holds
   the two side by side).

   word_facts(words, punctuation, multiplier) -> (lengths, symbol, alpha, hashes, powers)

   - words: a list of str.
   - punctuation: bytes, a bitmap over all code points (bit c % 8 of byte c / 8): the characters of
     filters.text.PUNCTUATION_SET.
   - multiplier: the odd 64-bit multiplier of filters.text's polynomial hashes.
   Each result is bytes, one value per word: lengths (int64, characters), symbol (bool: every
   character is punctuation, as is_symbol_word), alpha (bool: some character is alphabetic, as
   str.isalpha, as has_alpha), hashes (uint64: c1 * m**(k-1) + ... + ck mod 2**64 over the code points,
   surrogates included) and powers (uint64: m**k). */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

static PyObject *
word_facts(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyList_Check(args[0]) || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "word_facts(words: list, punctuation: bytes, multiplier: int)");
        return NULL;
    }
    PyObject *words = args[0];
    const unsigned char *punctuation = (const unsigned char *)PyBytes_AS_STRING(args[1]);
    if (PyBytes_GET_SIZE(args[1]) != (0x10FFFF + 1) / 8) {
        PyErr_SetString(PyExc_ValueError, "punctuation: one bit per code point");
        return NULL;
    }
    uint64_t multiplier = PyLong_AsUnsignedLongLong(args[2]);
    if (multiplier == (uint64_t)-1 && PyErr_Occurred())
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(words);
    PyObject *lengths = PyBytes_FromStringAndSize(NULL, n * 8), *symbol = PyBytes_FromStringAndSize(NULL, n),
             *alpha = PyBytes_FromStringAndSize(NULL, n), *hashes = PyBytes_FromStringAndSize(NULL, n * 8),
             *powers = PyBytes_FromStringAndSize(NULL, n * 8);
    if (!lengths || !symbol || !alpha || !hashes || !powers)
        goto error;
    int64_t *length_of = (int64_t *)PyBytes_AS_STRING(lengths);
    char *symbol_of = PyBytes_AS_STRING(symbol), *alpha_of = PyBytes_AS_STRING(alpha);
    uint64_t *hash_of = (uint64_t *)PyBytes_AS_STRING(hashes), *power_of = (uint64_t *)PyBytes_AS_STRING(powers);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *word = PyList_GET_ITEM(words, i);
        if (!PyUnicode_Check(word)) {
            PyErr_SetString(PyExc_TypeError, "words must be str");
            goto error;
        }
#if PY_VERSION_HEX < 0x030C0000
        if (PyUnicode_READY(word) < 0)
            goto error;
#endif
        Py_ssize_t length = PyUnicode_GET_LENGTH(word);
        int kind = PyUnicode_KIND(word);
        const void *data = PyUnicode_DATA(word);
        int all_punctuation = 1, any_alpha = 0;
        uint64_t hash = 0, power = 1;
        for (Py_ssize_t j = 0; j < length; j++) {
            Py_UCS4 ch = PyUnicode_READ(kind, data, j);
            if (all_punctuation && !(punctuation[ch >> 3] & (1 << (ch & 7))))
                all_punctuation = 0;
            if (!any_alpha && Py_UNICODE_ISALPHA(ch))
                any_alpha = 1;
            hash = hash * multiplier + ch;
            power *= multiplier;
        }
        length_of[i] = length;
        symbol_of[i] = (char)all_punctuation;
        alpha_of[i] = (char)any_alpha;
        hash_of[i] = hash;
        power_of[i] = power;
    }
    return Py_BuildValue("(NNNNN)", lengths, symbol, alpha, hashes, powers);

error:
    Py_XDECREF(lengths);
    Py_XDECREF(symbol);
    Py_XDECREF(alpha);
    Py_XDECREF(hashes);
    Py_XDECREF(powers);
    return NULL;
}

static PyMethodDef methods[] = {
    {"word_facts", (PyCFunction)(void (*)(void))word_facts, METH_FASTCALL,
     "word_facts(words, punctuation, multiplier) -> (lengths, symbol, alpha, hashes, powers) as bytes"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_wordfacts", "The per-word facts of filters.text's word columns, compiled.", -1,
    methods,
};

PyMODINIT_FUNC
PyInit__wordfacts(void)
{
    return PyModule_Create(&module);
}
