/* The MinHash signature of dedup.minhash.MinHasher, compiled: the same values as its numpy path
   and as datasketch's (tests/test_minhash.py holds the three side by side).

   signature(units, n, multiplier, a, b) -> bytes of len(a) uint32 values

   - units: uint32 array, the hash of each unit (word or character) of the text, in order.
   - n: units a shingle (1 <= n <= len(units)); a shingle's hash is
     ((u1 * multiplier + u2) * multiplier + ...) mod 2**32 over its n units.
   - a, b: uint32 arrays of the permutations (datasketch's "affine32": a odd).
   Each value is the minimum over the shingles of a * fmix32(shingle hash) + b mod 2**32, fmix32
   being MurmurHash3's finalizer. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

static inline uint32_t
fmix32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    return h ^ (h >> 16);
}

static int
uint32_array(PyObject *obj, Py_buffer *view, const char *name)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_ND) < 0)
        return -1;
    if (view->ndim != 1 || view->itemsize != 4) {
        PyErr_Format(PyExc_TypeError, "%s: a contiguous 1-d uint32 array", name);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static PyObject *
signature(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "signature(units, n, multiplier, a, b)");
        return NULL;
    }
    Py_ssize_t n = PyLong_AsSsize_t(args[1]);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    unsigned long multiplier_value = PyLong_AsUnsignedLong(args[2]);
    if (multiplier_value == (unsigned long)-1 && PyErr_Occurred())
        return NULL;
    uint32_t multiplier = (uint32_t)multiplier_value;
    Py_buffer units, a, b;
    if (uint32_array(args[0], &units, "units") < 0)
        return NULL;
    if (uint32_array(args[3], &a, "a") < 0) {
        PyBuffer_Release(&units);
        return NULL;
    }
    if (uint32_array(args[4], &b, "b") < 0) {
        PyBuffer_Release(&units);
        PyBuffer_Release(&a);
        return NULL;
    }
    PyObject *result = NULL;
    uint32_t *mixed = NULL;
    Py_ssize_t count = units.shape[0] - n + 1, perms = a.shape[0];
    if (n < 1 || count < 1 || b.shape[0] != perms) {
        PyErr_SetString(PyExc_ValueError, "signature: 1 <= n <= len(units), and as many a as b");
        goto done;
    }
    const uint32_t *u = units.buf, *pa = a.buf, *pb = b.buf;
    mixed = PyMem_Malloc(count * sizeof(uint32_t));
    if (mixed == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        uint32_t h = u[i];
        for (Py_ssize_t k = 1; k < n; k++)
            h = h * multiplier + u[i + k];
        mixed[i] = fmix32(h);
    }
    result = PyBytes_FromStringAndSize(NULL, perms * (Py_ssize_t)sizeof(uint32_t));
    if (result == NULL)
        goto done;
    uint32_t *out = (uint32_t *)PyBytes_AS_STRING(result);
    for (Py_ssize_t p = 0; p < perms; p++) {
        uint32_t ap = pa[p], bp = pb[p], low = UINT32_MAX;
        for (Py_ssize_t i = 0; i < count; i++) {
            uint32_t v = ap * mixed[i] + bp;
            low = v < low ? v : low;
        }
        out[p] = low;
    }

done:
    PyMem_Free(mixed);
    PyBuffer_Release(&units);
    PyBuffer_Release(&a);
    PyBuffer_Release(&b);
    return result;
}

static PyMethodDef methods[] = {
    {"signature", (PyCFunction)(void (*)(void))signature, METH_FASTCALL,
     "signature(units, n, multiplier, a, b) -> bytes of the minimum per permutation (uint32)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_minhash", "The MinHash signature of dedup.minhash.MinHasher, compiled.", -1, methods,
};

PyMODINIT_FUNC
PyInit__minhash(void)
{
    return PyModule_Create(&module);
}
