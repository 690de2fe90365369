/* A metric chunk's columns and chart summary in one pass, compiled: asynctrack.store.sqlite._cchunks.

   chunk_parts() is what _summaries._chunk_rows computes for a chunk of more than a few points with numpy
   (_columns.encode_ints for its steps and timestamps, its values as little-endian doubles,
   _summaries.summary_row for its metric_summaries row), which stays the reference: this code takes
   numpy int64 and float64 arrays of native byte order and answers None for anything else, and
   tests/store_sqlite/test_cchunks.py holds the two to the same rows. Why compiled: the numpy code makes
   some thirty calls per chunk, each with its own fixed cost, so a write cycle of four 400-point chunks
   spent about 0.4 ms there (docs/benchmarks.md, "twelfth session"), and the store's thread holds the
   GIL all that time. For large chunks the passes run with the GIL released.

   The summary records (_summaries.SUMMARY, 72 bytes, little-endian): the NaN-ignoring min and max, the
   last value, the first and last step and timestamp, and the counts of points, NaN, +inf and -inf. A min
   or max over values that compare equal but differ in sign (0.0 and -0.0) may keep the other zero than
   numpy does; nothing reads the sign of a chart's bound. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define BLOCK 64
#define GROUP_BLOCKS 16 /* a group is 1,024 points: 16 blocks */
#define RECORD_SIZE 72
#define FLAG_STEPS_SORTED 1
#define FLAG_TIMES_SORTED 2
/* From this many points the passes run without the GIL (below it, letting the GIL go and taking it back
   would cost a training thread that holds it more than the passes take). */
#define RELEASE_AT 16384

/* A one-dimensional array of 8-byte items: its base and stride. */
typedef struct {
    Py_buffer view;
    const char *base;
    Py_ssize_t stride;
} Column;

static inline int64_t
int_at(const Column *c, Py_ssize_t i)
{
    int64_t v;
    memcpy(&v, c->base + i * c->stride, 8);
    return v;
}

static inline double
float_at(const Column *c, Py_ssize_t i)
{
    double v;
    memcpy(&v, c->base + i * c->stride, 8);
    return v;
}

/* 1: ``obj`` is a 1-D array of n native int64 (kind 'i') or float64 (kind 'f'); 0: not (nothing held). */
static int
column_get(Column *c, PyObject *obj, char kind)
{
    if (PyObject_GetBuffer(obj, &c->view, PyBUF_STRIDES | PyBUF_FORMAT) < 0) {
        PyErr_Clear();
        return 0;
    }
    const char *f = c->view.format ? c->view.format : "B";
    if (*f == '=' || *f == '@' || (*f == '<' && PY_LITTLE_ENDIAN)) {
        f++;
    }
    int ok = c->view.ndim == 1 && c->view.itemsize == 8 && f[1] == '\0' &&
             (kind == 'f' ? f[0] == 'd' : (f[0] == 'q' || (f[0] == 'l' && sizeof(long) == 8)));
    if (!ok) {
        PyBuffer_Release(&c->view);
        return 0;
    }
    c->base = (const char *)c->view.buf;
    c->stride = c->view.strides ? c->view.strides[0] : 8;
    return 1;
}

/* How encode_ints writes an int64 column: 'C' constant, 'A' arithmetic (first, stride), 'R' raw. The
   progression is checked in int64 arithmetic that wraps, as numpy's ``first + stride * arange(n)`` is. */
typedef struct {
    char form;
    int64_t first, stride;
    int sorted; /* never decreasing (read off the form for 'C' and 'A', as _summaries._in_order does) */
    int64_t lo, hi;
} IntForm;

static void
int_form(const Column *c, Py_ssize_t n, IntForm *out)
{
    int64_t first = int_at(c, 0), lo = first, hi = first;
    int sorted = 1;
    for (Py_ssize_t i = 1; i < n; i++) {
        int64_t v = int_at(c, i);
        if (v < lo) {
            lo = v;
        }
        if (v > hi) {
            hi = v;
        }
        if (v < int_at(c, i - 1)) {
            sorted = 0;
        }
    }
    out->first = first;
    out->lo = lo;
    out->hi = hi;
    out->form = 'R';
    out->stride = 0;
    if (n == 1) {
        out->form = 'C';
    }
    else {
        int64_t stride;
        if (!__builtin_sub_overflow(int_at(c, 1), first, &stride)) {
            Py_ssize_t i = 2;
            for (; i < n; i++) {
                uint64_t expected = (uint64_t)first + (uint64_t)stride * (uint64_t)i;
                if ((uint64_t)int_at(c, i) != expected) {
                    break;
                }
            }
            if (i == n) {
                out->form = stride == 0 ? 'C' : 'A';
                out->stride = stride;
            }
        }
    }
    out->sorted = out->form == 'C' ? 1 : out->form == 'A' ? out->stride >= 0 : sorted;
}

static Py_ssize_t
int_blob_size(const IntForm *f, Py_ssize_t n)
{
    return f->form == 'C' ? 9 : f->form == 'A' ? 17 : 1 + 8 * n;
}

static void
int_blob_fill(char *d, const IntForm *f, const Column *c, Py_ssize_t n)
{
    d[0] = f->form;
    if (f->form == 'R') {
        for (Py_ssize_t i = 0; i < n; i++) {
            int64_t v = int_at(c, i);
            memcpy(d + 1 + 8 * i, &v, 8);
        }
        return;
    }
    memcpy(d + 1, &f->first, 8);
    if (f->form == 'A') {
        memcpy(d + 9, &f->stride, 8);
    }
}

/* One summary record, before it is packed. */
typedef struct {
    double min, max, last;
    int64_t s0, s1, t0, t1;
    uint32_t n, nan, pos_inf, neg_inf;
} Summary;

static void
record_pack(char *d, const Summary *s)
{
    memcpy(d, &s->min, 8);
    memcpy(d + 8, &s->max, 8);
    memcpy(d + 16, &s->last, 8);
    memcpy(d + 24, &s->s0, 8);
    memcpy(d + 32, &s->s1, 8);
    memcpy(d + 40, &s->t0, 8);
    memcpy(d + 48, &s->t1, 8);
    memcpy(d + 56, &s->n, 4);
    memcpy(d + 60, &s->nan, 4);
    memcpy(d + 64, &s->pos_inf, 4);
    memcpy(d + 68, &s->neg_inf, 4);
}

/* The record of points [lo, hi) (NaN-ignoring min and max, as numpy's fmin and fmax). */
static void
summarise(const Column *st, const Column *vals, const Column *ts, Py_ssize_t lo, Py_ssize_t hi, Summary *s)
{
    double mn = NAN, mx = NAN;
    uint32_t nan = 0, pos = 0, neg = 0;
    for (Py_ssize_t i = lo; i < hi; i++) {
        double v = float_at(vals, i);
        if (v != v) {
            nan++;
            continue;
        }
        if (v == INFINITY) {
            pos++;
        }
        else if (v == -INFINITY) {
            neg++;
        }
        if (mn != mn || v < mn) {
            mn = v;
        }
        if (mx != mx || v > mx) {
            mx = v;
        }
    }
    s->min = mn;
    s->max = mx;
    s->last = float_at(vals, hi - 1);
    s->s0 = int_at(st, lo);
    s->s1 = int_at(st, hi - 1);
    s->t0 = int_at(ts, lo);
    s->t1 = int_at(ts, hi - 1);
    s->n = (uint32_t)(hi - lo);
    s->nan = nan;
    s->pos_inf = pos;
    s->neg_inf = neg;
}

/* The record of consecutive records (a group's blocks, or a chunk's), as _summaries.combine and _whole
   make it. */
static void
merge(const Summary *parts, Py_ssize_t count, Summary *s)
{
    *s = parts[0];
    for (Py_ssize_t i = 1; i < count; i++) {
        const Summary *p = &parts[i];
        if (p->min == p->min && (s->min != s->min || p->min < s->min)) {
            s->min = p->min;
        }
        if (p->max == p->max && (s->max != s->max || p->max > s->max)) {
            s->max = p->max;
        }
        s->n += p->n;
        s->nan += p->nan;
        s->pos_inf += p->pos_inf;
        s->neg_inf += p->neg_inf;
    }
    const Summary *end = &parts[count - 1];
    s->last = end->last;
    s->s1 = end->s1;
    s->t1 = end->t1;
}

/* What one chunk needs; the passes (fill()) run with or without the GIL. */
typedef struct {
    Column st, vals, ts;
    Py_ssize_t n, n_blocks, n_groups;
    IntForm st_form, ts_form;
    Summary *blocks; /* n_blocks of them (a chunk of one block: its own record) */
    Summary whole;
    char *st_out, *vals_out, *ts_out, *blocks_out, *groups_out; /* the bytes objects' buffers */
} Work;

static void
scan(Work *w)
{
    int_form(&w->st, w->n, &w->st_form);
    int_form(&w->ts, w->n, &w->ts_form);
}

static void
fill(Work *w)
{
    Py_ssize_t n = w->n;
    int_blob_fill(w->st_out, &w->st_form, &w->st, n);
    int_blob_fill(w->ts_out, &w->ts_form, &w->ts, n);
    for (Py_ssize_t i = 0; i < n; i++) {
        double v = float_at(&w->vals, i);
        memcpy(w->vals_out + 8 * i, &v, 8);
    }
    for (Py_ssize_t b = 0; b < w->n_blocks; b++) {
        Py_ssize_t lo = b * BLOCK, hi = lo + BLOCK < n ? lo + BLOCK : n;
        summarise(&w->st, &w->vals, &w->ts, lo, hi, &w->blocks[b]);
        if (w->blocks_out != NULL) {
            record_pack(w->blocks_out + RECORD_SIZE * b, &w->blocks[b]);
        }
    }
    for (Py_ssize_t g = 0; g < w->n_groups; g++) {
        Py_ssize_t lo = g * GROUP_BLOCKS, count = w->n_blocks - lo < GROUP_BLOCKS ? w->n_blocks - lo : GROUP_BLOCKS;
        Summary s;
        merge(&w->blocks[lo], count, &s);
        record_pack(w->groups_out + RECORD_SIZE * g, &s);
    }
    merge(w->blocks, w->n_blocks, &w->whole);
}

PyDoc_STRVAR(chunk_parts_doc,
"chunk_parts(steps, values, timestamps) -> tuple | None\n\n"
"(steps blob, values blob, timestamps blob, min_step, max_step, min_ts, max_ts, flags, summary,\n"
"groups, blocks) of one chunk, as _summaries._chunk_rows computes them with numpy, for 1-D int64,\n"
"float64 and int64 arrays of one length (at least one point) in native byte order; None for anything\n"
"else.");

static PyObject *
chunk_parts(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "chunk_parts() takes 3 arguments");
        return NULL;
    }
    Work w;
    memset(&w, 0, sizeof(w));
    int got = column_get(&w.st, args[0], 'i');
    if (got && !(got = column_get(&w.vals, args[1], 'f'))) {
        PyBuffer_Release(&w.st.view);
    }
    if (got && !(got = column_get(&w.ts, args[2], 'i'))) {
        PyBuffer_Release(&w.st.view);
        PyBuffer_Release(&w.vals.view);
    }
    if (!got) {
        Py_RETURN_NONE;
    }
    PyObject *result = NULL, *st_blob = NULL, *vals_blob = NULL, *ts_blob = NULL, *blocks = NULL;
    PyObject *groups = NULL, *whole = NULL;
    Py_ssize_t n = w.st.view.shape[0];
    if (n < 1 || w.vals.view.shape[0] != n || w.ts.view.shape[0] != n || n > (Py_ssize_t)UINT32_MAX) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    w.n = n;
    w.n_blocks = (n + BLOCK - 1) / BLOCK;
    w.n_groups = n > BLOCK * GROUP_BLOCKS ? (w.n_blocks + GROUP_BLOCKS - 1) / GROUP_BLOCKS : 0;
    w.blocks = PyMem_Malloc(sizeof(Summary) * w.n_blocks);
    if (w.blocks == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    int release = n >= RELEASE_AT;
    if (release) {
        Py_BEGIN_ALLOW_THREADS scan(&w);
        Py_END_ALLOW_THREADS
    }
    else {
        scan(&w);
    }
    st_blob = PyBytes_FromStringAndSize(NULL, int_blob_size(&w.st_form, n));
    ts_blob = PyBytes_FromStringAndSize(NULL, int_blob_size(&w.ts_form, n));
    vals_blob = PyBytes_FromStringAndSize(NULL, 8 * n);
    whole = PyBytes_FromStringAndSize(NULL, RECORD_SIZE);
    if (n > BLOCK) {
        blocks = PyBytes_FromStringAndSize(NULL, RECORD_SIZE * w.n_blocks);
    }
    if (w.n_groups > 0) {
        groups = PyBytes_FromStringAndSize(NULL, RECORD_SIZE * w.n_groups);
    }
    if (st_blob == NULL || ts_blob == NULL || vals_blob == NULL || whole == NULL ||
        (n > BLOCK && blocks == NULL) || (w.n_groups > 0 && groups == NULL)) {
        goto done;
    }
    w.st_out = PyBytes_AS_STRING(st_blob);
    w.ts_out = PyBytes_AS_STRING(ts_blob);
    w.vals_out = PyBytes_AS_STRING(vals_blob);
    w.blocks_out = blocks != NULL ? PyBytes_AS_STRING(blocks) : NULL;
    w.groups_out = groups != NULL ? PyBytes_AS_STRING(groups) : NULL;
    if (release) {
        Py_BEGIN_ALLOW_THREADS fill(&w);
        Py_END_ALLOW_THREADS
    }
    else {
        fill(&w);
    }
    /* The chunk's own record: its first and last step and timestamp, whatever the order. */
    record_pack(PyBytes_AS_STRING(whole), &w.whole);
    int flags = (w.st_form.sorted ? FLAG_STEPS_SORTED : 0) | (w.ts_form.sorted ? FLAG_TIMES_SORTED : 0);
    result = Py_BuildValue(
        "(OOOLLLLiOOO)", st_blob, vals_blob, ts_blob,
        (long long)(w.st_form.sorted ? w.st_form.first : w.st_form.lo),
        (long long)(w.st_form.sorted ? int_at(&w.st, n - 1) : w.st_form.hi),
        (long long)(w.ts_form.sorted ? w.ts_form.first : w.ts_form.lo),
        (long long)(w.ts_form.sorted ? int_at(&w.ts, n - 1) : w.ts_form.hi), flags, whole,
        groups != NULL ? groups : Py_None, blocks != NULL ? blocks : Py_None);
done:
    PyMem_Free(w.blocks);
    Py_XDECREF(st_blob);
    Py_XDECREF(vals_blob);
    Py_XDECREF(ts_blob);
    Py_XDECREF(whole);
    Py_XDECREF(blocks);
    Py_XDECREF(groups);
    PyBuffer_Release(&w.st.view);
    PyBuffer_Release(&w.vals.view);
    PyBuffer_Release(&w.ts.view);
    return result;
}

static PyMethodDef methods[] = {
    {"chunk_parts", (PyCFunction)(void (*)(void))chunk_parts, METH_FASTCALL, chunk_parts_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "asynctrack.store.sqlite._cchunks",
    "A metric chunk's columns and chart summary in one pass (see _cchunks.c).", -1, methods,
};

PyMODINIT_FUNC
PyInit__cchunks(void)
{
    return PyModule_Create(&module_def);
}
