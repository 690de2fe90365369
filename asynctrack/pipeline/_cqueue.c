/* The calls a training step makes, compiled: asynctrack.pipeline._cqueue.

   put_metric_at(), put_points_at() and put_dict_at() are OpQueue's methods of the same names
   (pipeline/_queue.py), which stay the reference: these functions take their common case, scalar
   metrics written into the queue file (_ring.py), and hand anything else to the Python method unchanged
   (an in-memory queue, a key not yet checked and interned, a value that is not a float, a full ring or
   queue, the wrong arguments; put_dict_at: a dict not like the last one). They write exactly the bytes
   the Python code writes (METRIC_RECORD: "<13sqIIdqq3xQ"), commit word last, and
   tests/pipeline/test_compiled.py holds them to it. LogMetric is fluent.log_metric with its asynchronous
   path to the active run compiled the same way: the Python function's checks in its order, every other
   call handed to that function. Why compiled: after a training step has evicted the caches, the
   interpreter's own code and data for these calls cost more than the work they do (measured:
   docs/benchmarks.md, "tenth session" and "eleventh session").

   Every Python object these functions read is gathered before a slot is taken from the ring: once a slot
   is taken it is always written (or handed to the Python code that voids it on failure), so no error
   leaves a hole that the worker would wait for. The GIL is held throughout: the worker cannot read a
   record half-written by this code, and a process killed half-way leaves a record whose commit word does
   not match, which readers skip (as for the Python code). */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#if PY_LITTLE_ENDIAN && !defined(Py_GIL_DISABLED)
#define CQUEUE_AVAILABLE 1
#else
#define CQUEUE_AVAILABLE 0 /* records are little-endian; slots are handed out under the GIL */
#endif

/* Set by bind(): the RunOperations type and the Python methods that take everything else. */
static PyObject *run_operations = NULL;
static PyObject *py_put_metric_at = NULL;
static PyObject *py_put_points_at = NULL;
static PyObject *py_put_dict_at = NULL;

static PyObject *s_ring, *s_name_ids, *s_wake_limit, *s_wake, *s_capacity, *s_make_room;
static PyObject *s_put_metric_slow, *s_issued, *s_prefix, *s_data, *s_mask, *s_bound, *s_taken;
static PyObject *s_reserve, *s_slots, *s_void_all, *s_write_metric;

/* Keep the error being raised while a cleanup call runs (PyErr_GetRaisedException is 3.12's). */
typedef struct {
    PyObject *type, *value, *traceback;
} SavedError;

static inline void
error_save(SavedError *e)
{
    PyErr_Fetch(&e->type, &e->value, &e->traceback);
}

static inline void
error_restore(SavedError *e)
{
    PyErr_Restore(e->type, e->value, e->traceback);
}

#define RECORD 64
#define PREFIX_SIZE 13

/* An int attribute as a C long long; -1 with an exception set on failure. */
static int
get_ll(PyObject *obj, PyObject *name, long long *out)
{
    PyObject *v = PyObject_GetAttr(obj, name);
    if (v == NULL) {
        return -1;
    }
    int overflow = 0;
    *out = PyLong_AsLongLongAndOverflow(v, &overflow);
    Py_DECREF(v);
    if (overflow) {
        PyErr_Format(PyExc_OverflowError, "%U does not fit 64 bits", name);
        return -1;
    }
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

/* An exact int in [lo, hi], or 0 (not one: the caller falls back to Python). */
static int
exact_ll(PyObject *v, long long lo, long long hi, long long *out)
{
    if (!PyLong_CheckExact(v)) {
        return 0;
    }
    int overflow = 0;
    *out = PyLong_AsLongLongAndOverflow(v, &overflow);
    return !overflow && *out >= lo && *out <= hi;
}

static inline void
put_u64(char *d, uint64_t v)
{
    memcpy(d, &v, 8);
}

static inline void
put_u32(char *d, uint32_t v)
{
    memcpy(d, &v, 4);
}

/* One scalar metric record in its 64-byte slot, as METRIC_RECORD.pack_into writes it: the producer's
   13-byte prefix, seq, run, key, value, timestamp, step, 3 zero bytes, then the commit word h + 1, stored
   last and with release order so no compiler or CPU moves it before the fields. */
static void
pack_record(char *d, const char *prefix, long long seq, uint32_t run, uint32_t key, double value,
            long long ts, long long step, long long h)
{
    memcpy(d, prefix, PREFIX_SIZE);
    put_u64(d + 13, (uint64_t)seq);
    put_u32(d + 21, run);
    put_u32(d + 25, key);
    memcpy(d + 29, &value, 8);
    put_u64(d + 37, (uint64_t)ts);
    put_u64(d + 45, (uint64_t)step);
    memset(d + 53, 0, 3);
    __atomic_store_n((uint64_t *)(d + 56), (uint64_t)(h + 1), __ATOMIC_RELEASE);
}

/* What a call needs from its queue file and producer, read before any slot is taken. */
typedef struct {
    PyObject *ring;
    PyObject *prefix; /* bytes of PREFIX_SIZE */
    Py_buffer buf;    /* the ring's data, writable */
    long long mask, bound, issued;
} Target;

static void
target_release(Target *t)
{
    if (t->buf.obj != NULL) {
        PyBuffer_Release(&t->buf);
    }
    Py_CLEAR(t->prefix);
    Py_CLEAR(t->ring);
}

/* The ring's data into t->buf, writable: 0; -1 when the ring has no ``data``, -2 when its buffer cannot
   be had (released: the queue file is closed), each with the exception set and t->buf left empty. */
static int
ring_buffer(Target *t)
{
    PyObject *data = PyObject_GetAttr(t->ring, s_data);
    if (data == NULL) {
        return -1;
    }
    int got = PyObject_GetBuffer(data, &t->buf, PyBUF_WRITABLE);
    Py_DECREF(data);
    if (got < 0) {
        t->buf.obj = NULL;
        return -2;
    }
    return 0;
}

static int target_fill(Target *t, PyObject *queue, PyObject *p);

/* 1: ready; 0: not this code's case (an in-memory queue, an odd prefix, a closed queue file): fall back;
   -1: an error. Anything but 1 leaves nothing to release. */
static int
target_get(Target *t, PyObject *queue, PyObject *p)
{
    int ready = target_fill(t, queue, p);
    if (ready != 1) {
        target_release(t);
    }
    return ready;
}

static int
target_fill(Target *t, PyObject *queue, PyObject *p)
{
    memset(t, 0, sizeof(*t));
    t->ring = PyObject_GetAttr(queue, s_ring);
    if (t->ring == NULL) {
        return -1;
    }
    if (t->ring == Py_None) {
        return 0;
    }
    t->prefix = PyObject_GetAttr(p, s_prefix);
    if (t->prefix == NULL) {
        return -1;
    }
    if (!PyBytes_CheckExact(t->prefix) || PyBytes_GET_SIZE(t->prefix) != PREFIX_SIZE) {
        return 0;
    }
    if (get_ll(p, s_issued, &t->issued) < 0 || get_ll(t->ring, s_mask, &t->mask) < 0 ||
        get_ll(t->ring, s_bound, &t->bound) < 0) {
        return -1;
    }
    int got = ring_buffer(t);
    if (got == -2) {
        /* Released: the queue file is closed. The Python code refuses the call as it should. */
        PyErr_Clear();
        return 0;
    }
    return got < 0 ? -1 : 1;
}

/* The slot at logical position h, or NULL (a bug: h & mask always leaves room for a record). */
static char *
slot_at(Target *t, long long h)
{
    long long off = h & t->mask;
    if (off < 0 || off + RECORD > t->buf.len) {
        return NULL;
    }
    return (char *)t->buf.buf + off;
}

/* 0 with RuntimeError set until bind() has run (the module is only ever used through _queue.py, which
   binds it on import). */
static int
is_bound(void)
{
    if (run_operations == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "asynctrack.pipeline._cqueue is not bound (bind())");
        return 0;
    }
    return 1;
}

/* The arguments both queue calls share, (queue, p, r, ..., ..., timestamp, step): 1 when r is an intern
   index and the timestamp and step are int64s of the fast path's range, 0 for anything else (the Python
   method decides), -1 before bind(). */
static int
point_args(PyObject *const *args, Py_ssize_t nargs, long long *run, long long *ts, long long *step)
{
    if (!is_bound()) {
        return -1;
    }
    return nargs == 7 && exact_ll(args[2], 0, UINT32_MAX, run) && exact_ll(args[5], 0, INT64_MAX, ts) &&
           exact_ll(args[6], INT64_MIN, INT64_MAX, step);
}

/* ``name(*argv[1:])`` on argv[0], with a new int ``seq`` at argv[seq_at]: the Python code that takes a
   slot past the fast path's bound (it waits for room or refuses, and voids the slot if it raises). */
static PyObject *
call_with_seq(PyObject *name, PyObject **argv, size_t nargs, size_t seq_at, long long seq)
{
    PyObject *seq_obj = PyLong_FromLongLong(seq);
    if (seq_obj == NULL) {
        return NULL;
    }
    argv[seq_at] = seq_obj;
    PyObject *r = PyObject_VectorcallMethod(name, argv, nargs, NULL);
    Py_DECREF(seq_obj);
    return r;
}

/* After the records: the producer's last seq, the wake check, the call's RunOperations. */
static PyObject *
finish(PyObject *queue, PyObject *p, PyObject *ring, long long first, long long last, long long end)
{
    long long taken, wake_limit;
    if (get_ll(ring, s_taken, &taken) < 0) {
        return NULL;
    }
    PyObject *first_obj = PyLong_FromLongLong(first);
    PyObject *last_obj = first == last ? Py_NewRef(first_obj) : PyLong_FromLongLong(last);
    if (first_obj == NULL || last_obj == NULL || PyObject_SetAttr(p, s_issued, last_obj) < 0) {
        goto error;
    }
    long long n = (end - taken) >> 6;
    if (get_ll(queue, s_wake_limit, &wake_limit) < 0) {
        goto error;
    }
    if (n + (last - first) >= wake_limit) {
        PyObject *r = PyObject_CallMethodNoArgs(queue, s_wake);
        if (r == NULL) {
            goto error;
        }
        Py_DECREF(r);
    }
    PyObject *argv[3] = {p, first_obj, last_obj};
    PyObject *ops = PyObject_Vectorcall(run_operations, argv, 3, NULL);
    Py_DECREF(first_obj);
    Py_DECREF(last_obj);
    return ops;
error:
    Py_XDECREF(first_obj);
    Py_XDECREF(last_obj);
    return NULL;
}

PyDoc_STRVAR(put_metric_at_doc,
"put_metric_at(queue, p, r, key, value, timestamp, step) -> RunOperations\n\n"
"OpQueue.put_metric_at, compiled for a checked key and a float value written into the queue file;\n"
"anything else goes to the Python method.");

static PyObject *
put_metric_at(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    long long run, ts, step, k;
    int usual = point_args(args, nargs, &run, &ts, &step);
    if (usual < 0) {
        return NULL;
    }
    if (!usual || !PyUnicode_CheckExact(args[3]) || !PyFloat_CheckExact(args[4])) {
        goto fallback;
    }
    PyObject *queue = args[0], *p = args[1], *key = args[3], *value = args[4];
    /* The intern table doubles as the cache of valid keys: a key not in it goes to Python's checks. */
    PyObject *names = PyObject_GetAttr(queue, s_name_ids);
    if (names == NULL) {
        return NULL;
    }
    PyObject *k_obj = PyDict_CheckExact(names) ? PyDict_GetItemWithError(names, key) : NULL;
    int known = k_obj != NULL && exact_ll(k_obj, 0, UINT32_MAX, &k);
    Py_DECREF(names);
    if (!known) {
        if (PyErr_Occurred()) {
            return NULL;
        }
        goto fallback;
    }
    Target t;
    int ready = target_get(&t, queue, p);
    if (ready < 0) {
        return NULL;
    }
    if (ready == 0) {
        goto fallback;
    }
    PyObject *reserve = PyObject_GetAttr(t.ring, s_reserve);
    if (reserve == NULL) {
        target_release(&t);
        return NULL;
    }
    PyObject *h_obj = PyObject_CallNoArgs(reserve); /* the slot: from here on it must be written */
    Py_DECREF(reserve);
    if (h_obj == NULL) {
        target_release(&t);
        return NULL;
    }
    long long h = PyLong_AsLongLong(h_obj);
    long long seq = t.issued + 1;
    char *d = h < t.bound ? slot_at(&t, h) : NULL;
    if (d != NULL) {
        pack_record(d, PyBytes_AS_STRING(t.prefix), seq, (uint32_t)run, (uint32_t)k,
                    PyFloat_AS_DOUBLE(value), ts, step, h);
    }
    else {
        /* Past the bound (a full queue or ring): the Python code waits or refuses, and voids the slot
           if it raises. */
        PyBuffer_Release(&t.buf);
        t.buf.obj = NULL;
        PyObject *argv[10] = {queue, t.ring, h_obj, p, NULL, args[2], k_obj, value, args[5], args[6]};
        PyObject *r = call_with_seq(s_put_metric_slow, argv, 10, 4, seq);
        if (r == NULL) {
            Py_DECREF(h_obj);
            target_release(&t);
            return NULL;
        }
        Py_DECREF(r);
    }
    Py_DECREF(h_obj);
    PyObject *ops = finish(queue, p, t.ring, seq, seq, h);
    target_release(&t);
    return ops;
fallback:
    return PyObject_Vectorcall(py_put_metric_at, args, nargs, NULL);
}

PyDoc_STRVAR(put_points_at_doc,
"put_points_at(queue, p, r, keys, values, timestamp, step) -> RunOperations\n\n"
"OpQueue.put_points_at, compiled for lists or tuples of key indexes and floats written into the queue\n"
"file; anything else goes to the Python method.");

static PyObject *
put_points_at(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    long long run, ts, step, k;
    int usual = point_args(args, nargs, &run, &ts, &step);
    if (usual < 0) {
        return NULL;
    }
    if (!usual) {
        goto fallback;
    }
    PyObject *queue = args[0], *p = args[1], *keys = args[3], *values = args[4];
    if (!(PyList_CheckExact(keys) || PyTuple_CheckExact(keys)) ||
        !(PyList_CheckExact(values) || PyTuple_CheckExact(values))) {
        goto fallback;
    }
    Py_ssize_t count = PySequence_Fast_GET_SIZE(keys);
    if (count == 0 || count != PySequence_Fast_GET_SIZE(values)) {
        goto fallback;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        if (!exact_ll(PySequence_Fast_GET_ITEM(keys, i), 0, UINT32_MAX, &k) ||
            !PyFloat_CheckExact(PySequence_Fast_GET_ITEM(values, i))) {
            goto fallback;
        }
    }
    Target t;
    int ready = target_get(&t, queue, p);
    if (ready < 0) {
        return NULL;
    }
    if (ready == 0) {
        goto fallback;
    }
    long long capacity;
    PyObject *slots_iter = PyObject_GetAttr(t.ring, s_slots);
    if (slots_iter == NULL || get_ll(queue, s_capacity, &capacity) < 0) {
        Py_XDECREF(slots_iter);
        target_release(&t);
        return NULL;
    }
    /* Every slot at once, as reserve_many() takes them: consecutive next() calls on the ring's counter,
       atomic together because nothing here releases the GIL. */
    PyObject *slots = PyList_New(0);
    if (slots == NULL) {
        Py_DECREF(slots_iter);
        target_release(&t);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *h = PyIter_Next(slots_iter);
        int kept = h == NULL ? -1 : PyList_Append(slots, h);
        Py_XDECREF(h);
        if (kept < 0) {
            /* Not possible for an itertools.count: the slots taken so far are given back. */
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_RuntimeError, "the queue file's slot counter ended");
            }
            Py_DECREF(slots_iter);
            goto void_all;
        }
    }
    Py_DECREF(slots_iter);
    long long last_h = PyLong_AsLongLong(PyList_GET_ITEM(slots, count - 1));
    if (last_h >= t.bound) {
        long long taken;
        if (get_ll(t.ring, s_taken, &taken) < 0) {
            goto void_all;
        }
        if (((last_h - taken) >> 6) >= capacity) {
            /* The queue is full: wait for room or refuse, as the Python code does. */
            PyBuffer_Release(&t.buf);
            t.buf.obj = NULL;
            PyObject *r = PyObject_CallMethodOneArg(queue, s_make_room, PyList_GET_ITEM(slots, 0));
            if (r == NULL) {
                goto void_all;
            }
            Py_DECREF(r);
            if (ring_buffer(&t) < 0) {
                goto void_all;
            }
        }
    }
    const char *prefix = PyBytes_AS_STRING(t.prefix);
    long long seq = t.issued + 1;
    for (Py_ssize_t i = 0; i < count; i++, seq++) {
        PyObject *h_obj = PyList_GET_ITEM(slots, i);
        long long h = PyLong_AsLongLong(h_obj);
        PyObject *k_obj = PySequence_Fast_GET_ITEM(keys, i);
        PyObject *v_obj = PySequence_Fast_GET_ITEM(values, i);
        char *d = h < t.bound ? slot_at(&t, h) : NULL;
        if (d != NULL) {
            pack_record(d, prefix, seq, (uint32_t)run, (uint32_t)PyLong_AsLongLong(k_obj),
                        PyFloat_AS_DOUBLE(v_obj), ts, step, h);
            continue;
        }
        /* No room in the ring yet for this one: QueueFile.write_metric waits for it (and voids the slot if
           it raises, as the Python code does). */
        PyObject *argv[9] = {t.ring, h_obj, t.prefix, NULL, args[2], k_obj, v_obj, args[5], args[6]};
        PyObject *r = call_with_seq(s_write_metric, argv, 9, 3, seq);
        if (r == NULL) {
            Py_DECREF(slots);
            target_release(&t);
            return NULL;
        }
        Py_DECREF(r);
    }
    Py_DECREF(slots);
    long long first = t.issued + 1;
    PyObject *ops = finish(queue, p, t.ring, first, first + count - 1, last_h);
    target_release(&t);
    return ops;
void_all: {
    /* Every slot taken is given back (voided), keeping the error being raised. */
    SavedError e;
    error_save(&e);
    if (PyList_GET_SIZE(slots) > 0) {
        PyObject *r = PyObject_CallMethodOneArg(t.ring, s_void_all, slots);
        Py_XDECREF(r);
    }
    error_restore(&e);
    Py_DECREF(slots);
    target_release(&t);
    return NULL;
}
fallback:
    return PyObject_Vectorcall(py_put_points_at, args, nargs, NULL);
}

PyDoc_STRVAR(put_dict_at_doc,
"put_dict_at(queue, p, r, seen, metrics, step) -> RunOperations | None\n\n"
"OpQueue.put_dict_at, compiled for an exact dict with seen's keys in order (exact str), exact float or\n"
"int values and an int64 step; anything else goes to the Python method.");

static PyObject *now_ms(void);

/* A training step's dict of metrics (the integrations' hot path): its values packed by put_points_at's
   code. Decides only the common case; every other (a key that differs or is not an exact str, a value of
   another type or an int past float's range, another step type) is the Python method's, which answers
   None for what it does not take either. */
static PyObject *
put_dict_at(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (!is_bound()) {
        return NULL;
    }
    if (nargs != 6) {
        goto fallback;
    }
    PyObject *seen = args[3], *metrics = args[4];
    long long step;
    if (!PyDict_CheckExact(metrics) || !PyTuple_CheckExact(seen) || PyTuple_GET_SIZE(seen) != 2 ||
        !exact_ll(args[5], INT64_MIN, INT64_MAX, &step)) {
        goto fallback;
    }
    PyObject *names = PyTuple_GET_ITEM(seen, 0), *keys = PyTuple_GET_ITEM(seen, 1);
    Py_ssize_t count = PyDict_GET_SIZE(metrics);
    if (!PyTuple_CheckExact(names) || PyTuple_GET_SIZE(names) != count || count == 0) {
        goto fallback;
    }
    PyObject *values = PyList_New(count);
    if (values == NULL) {
        return NULL;
    }
    Py_ssize_t pos = 0, i = 0;
    PyObject *k, *v;
    /* Only exact str keys are compared here (no Python code runs, so the dict cannot change under us). */
    while (PyDict_Next(metrics, &pos, &k, &v)) {
        if (i >= count) {
            goto decline;
        }
        PyObject *name = PyTuple_GET_ITEM(names, i);
        if (k != name && !(PyUnicode_CheckExact(k) && PyUnicode_CheckExact(name) &&
                           PyUnicode_Compare(k, name) == 0)) {
            goto decline;
        }
        PyObject *f;
        if (PyFloat_CheckExact(v)) {
            f = Py_NewRef(v);
        }
        else if (PyLong_CheckExact(v)) {
            double d = PyLong_AsDouble(v);
            if (d == -1.0 && PyErr_Occurred()) {
                PyErr_Clear(); /* past float's range: the Python method's */
                goto decline;
            }
            f = PyFloat_FromDouble(d);
            if (f == NULL) {
                Py_DECREF(values);
                return NULL;
            }
        }
        else {
            goto decline;
        }
        PyList_SET_ITEM(values, i, f);
        i++;
    }
    if (i != count) {
        goto decline;
    }
    PyObject *ts = now_ms();
    if (ts == NULL) {
        Py_DECREF(values);
        return NULL;
    }
    PyObject *argv[7] = {args[0], args[1], args[2], keys, values, ts, args[5]};
    PyObject *ops = put_points_at(module, argv, 7);
    Py_DECREF(ts);
    Py_DECREF(values);
    return ops;
decline:
    Py_DECREF(values);
fallback:
    return PyObject_Vectorcall(py_put_dict_at, args, nargs, NULL);
}

/* -- fluent log_metric's asynchronous path -------------------------------------------------------- */

/* The parameters of asynctrack.fluent.log_metric, in order. */
enum { P_KEY, P_VALUE, P_STEP, P_SYNCHRONOUS, P_TIMESTAMP, P_RUN_ID, P_MODEL_ID, P_DATASET, N_PARAMS };
static PyObject *param_names[N_PARAMS];
static PyObject *s_top, *s_maybe_active;

typedef struct {
    PyObject_HEAD
    PyObject *dict; /* __doc__, __wrapped__, __name__ ...: the Python function's, for help and inspect */
    PyObject *python;        /* fluent.log_metric as written in Python: every case but the fast one */
    PyObject *state;         /* fluent's thread-local state: .top is (queue, producer, run index) or None */
    PyObject *active_model;  /* asynctrack._active_model: .maybe_active */
    PyObject *async_enabled; /* asynctrack.config.is_async_logging_enabled */
    vectorcallfunc vectorcall;
} LogMetric;

/* time.time_ns() // 1_000_000, as fluent computes a missing timestamp. */
static PyObject *
now_ms(void)
{
    struct timespec t;
    if (clock_gettime(CLOCK_REALTIME, &t) != 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyLong_FromLongLong((long long)t.tv_sec * 1000 + t.tv_nsec / 1000000);
}

/* 1: the arguments are in ``out`` (borrowed, NULL where not given); 0: anything unusual (an unknown or
   repeated keyword, too many arguments), which the Python function reports. */
static int
bind_arguments(PyObject *const *args, size_t nargsf, PyObject *kwnames, PyObject **out)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs > N_PARAMS) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < N_PARAMS; i++) {
        out[i] = i < nargs ? args[i] : NULL;
    }
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t j = 0; j < nkw; j++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, j);
        Py_ssize_t at = -1;
        for (Py_ssize_t i = 0; i < N_PARAMS && at < 0; i++) {
            if (name == param_names[i]) {
                at = i;
            }
        }
        for (Py_ssize_t i = 0; i < N_PARAMS && at < 0; i++) {
            if (PyUnicode_Compare(name, param_names[i]) == 0) {
                at = i;
            }
        }
        if (at < 0 || out[at] != NULL) {
            PyErr_Clear();
            return 0;
        }
        out[at] = args[nargs + j];
    }
    return out[P_KEY] != NULL && out[P_VALUE] != NULL;
}

static inline int
given(PyObject *arg)
{
    return arg != NULL && arg != Py_None;
}

/* fluent.log_metric: the active run's asynchronous point, here; everything else, the Python function.
   The checks run in the Python function's order, so an argument whose truth raises raises the same. */
static PyObject *
log_metric_call(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    LogMetric *self = (LogMetric *)callable;
    PyObject *a[N_PARAMS];
    if (!bind_arguments(args, nargsf, kwnames, a) || given(a[P_MODEL_ID]) || given(a[P_DATASET]) ||
        given(a[P_RUN_ID])) {
        goto python;
    }
    PyObject *flag = PyObject_GetAttr(self->active_model, s_maybe_active);
    int model_active = flag == NULL ? -1 : PyObject_IsTrue(flag);
    Py_XDECREF(flag);
    if (model_active != 0) {
        if (model_active < 0) {
            return NULL;
        }
        goto python;
    }
    PyObject *top = PyObject_GetAttr(self->state, s_top);
    if (top == NULL) {
        return NULL;
    }
    PyObject *ts = NULL, *ops = NULL;
    int has_ts = given(a[P_TIMESTAMP]) ? PyObject_IsTrue(a[P_TIMESTAMP]) : 0;
    if (has_ts < 0 || (ts = has_ts ? Py_NewRef(a[P_TIMESTAMP]) : now_ms()) == NULL) {
        goto done;
    }
    int synchronous;
    if (given(a[P_SYNCHRONOUS])) {
        synchronous = PyObject_IsTrue(a[P_SYNCHRONOUS]);
    }
    else {
        PyObject *on = PyObject_CallNoArgs(self->async_enabled);
        synchronous = on == NULL ? -1 : PyObject_Not(on);
        Py_XDECREF(on);
    }
    if (synchronous < 0) {
        goto done;
    }
    if (synchronous || !PyTuple_CheckExact(top) || PyTuple_GET_SIZE(top) != 3) {
        Py_DECREF(ts);
        Py_DECREF(top);
        goto python;
    }
    int has_step = given(a[P_STEP]) ? PyObject_IsTrue(a[P_STEP]) : 0;
    if (has_step < 0) {
        goto done;
    }
    PyObject *zero = has_step ? NULL : PyLong_FromLong(0);
    PyObject *put_args[7] = {PyTuple_GET_ITEM(top, 0), PyTuple_GET_ITEM(top, 1), PyTuple_GET_ITEM(top, 2),
                             a[P_KEY], a[P_VALUE], ts, has_step ? a[P_STEP] : zero};
    if (put_args[6] != NULL) {
        ops = put_metric_at(NULL, put_args, 7);
    }
    Py_XDECREF(zero);
done:
    Py_XDECREF(ts);
    Py_DECREF(top);
    return ops;
python:
    return PyObject_Vectorcall(self->python, args, nargsf, kwnames);
}

static PyObject *
log_metric_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *python, *state, *active_model, *async_enabled;
    static char *names[] = {"python", "state", "active_model", "async_enabled", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOO:LogMetric", names, &python, &state, &active_model,
                                     &async_enabled)) {
        return NULL;
    }
    LogMetric *self = (LogMetric *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->python = Py_NewRef(python);
    self->state = Py_NewRef(state);
    self->active_model = Py_NewRef(active_model);
    self->async_enabled = Py_NewRef(async_enabled);
    self->vectorcall = log_metric_call;
    return (PyObject *)self;
}

static int
log_metric_traverse(LogMetric *self, visitproc visit, void *arg)
{
    Py_VISIT(self->dict);
    Py_VISIT(self->python);
    Py_VISIT(self->state);
    Py_VISIT(self->active_model);
    Py_VISIT(self->async_enabled);
    return 0;
}

static int
log_metric_clear(LogMetric *self)
{
    Py_CLEAR(self->dict);
    Py_CLEAR(self->python);
    Py_CLEAR(self->state);
    Py_CLEAR(self->active_model);
    Py_CLEAR(self->async_enabled);
    return 0;
}

static void
log_metric_dealloc(LogMetric *self)
{
    PyObject_GC_UnTrack(self);
    log_metric_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
log_metric_repr(LogMetric *self)
{
    return PyUnicode_FromFormat("<compiled %R>", self->python);
}

static PyGetSetDef log_metric_getset[] = {
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject LogMetricType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "asynctrack.pipeline._cqueue.LogMetric",
    .tp_basicsize = sizeof(LogMetric),
    .tp_dealloc = (destructor)log_metric_dealloc,
    .tp_vectorcall_offset = offsetof(LogMetric, vectorcall),
    .tp_repr = (reprfunc)log_metric_repr,
    .tp_call = PyVectorcall_Call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = PyDoc_STR("LogMetric(python, state, active_model, async_enabled)\n\n"
                        "fluent.log_metric with its asynchronous path to the active run compiled; every "
                        "other call goes to ``python``, the function as written in Python."),
    .tp_traverse = (traverseproc)log_metric_traverse,
    .tp_clear = (inquiry)log_metric_clear,
    .tp_getset = log_metric_getset,
    .tp_dictoffset = offsetof(LogMetric, dict),
    .tp_new = log_metric_new,
};

PyDoc_STRVAR(bind_doc,
"bind(run_operations, put_metric_at, put_points_at, put_dict_at)\n\n"
"The RunOperations type the calls return and the Python methods that take every other case.");

static PyObject *
bind(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "bind() takes 4 arguments");
        return NULL;
    }
    Py_XSETREF(run_operations, Py_NewRef(args[0]));
    Py_XSETREF(py_put_metric_at, Py_NewRef(args[1]));
    Py_XSETREF(py_put_points_at, Py_NewRef(args[2]));
    Py_XSETREF(py_put_dict_at, Py_NewRef(args[3]));
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"put_metric_at", (PyCFunction)(void (*)(void))put_metric_at, METH_FASTCALL, put_metric_at_doc},
    {"put_points_at", (PyCFunction)(void (*)(void))put_points_at, METH_FASTCALL, put_points_at_doc},
    {"put_dict_at", (PyCFunction)(void (*)(void))put_dict_at, METH_FASTCALL, put_dict_at_doc},
    {"bind", (PyCFunction)(void (*)(void))bind, METH_FASTCALL, bind_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "asynctrack.pipeline._cqueue",
    "OpQueue's put_metric_at, put_points_at and put_dict_at, compiled (see _cqueue.c).", -1, methods,
};

PyMODINIT_FUNC
PyInit__cqueue(void)
{
    struct {
        PyObject **slot;
        const char *text;
    } names[] = {
        {&s_ring, "_ring"}, {&s_name_ids, "_name_ids"}, {&s_wake_limit, "_wake_limit"},
        {&s_wake, "_wake"}, {&s_capacity, "_capacity"}, {&s_make_room, "_make_room"},
        {&s_put_metric_slow, "_put_metric_slow"}, {&s_issued, "issued"}, {&s_prefix, "prefix"},
        {&s_data, "data"}, {&s_mask, "mask"}, {&s_bound, "bound"}, {&s_taken, "taken"},
        {&s_reserve, "reserve"}, {&s_slots, "_slots"}, {&s_void_all, "void_all"},
        {&s_write_metric, "write_metric"}, {&s_top, "top"}, {&s_maybe_active, "maybe_active"},
        {&param_names[P_KEY], "key"}, {&param_names[P_VALUE], "value"}, {&param_names[P_STEP], "step"},
        {&param_names[P_SYNCHRONOUS], "synchronous"}, {&param_names[P_TIMESTAMP], "timestamp"},
        {&param_names[P_RUN_ID], "run_id"}, {&param_names[P_MODEL_ID], "model_id"},
        {&param_names[P_DATASET], "dataset"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (*names[i].slot == NULL && (*names[i].slot = PyUnicode_InternFromString(names[i].text)) == NULL) {
            return NULL;
        }
    }
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL) {
        return NULL;
    }
    if (PyModule_AddIntConstant(m, "AVAILABLE", CQUEUE_AVAILABLE) < 0 || PyType_Ready(&LogMetricType) < 0 ||
        PyModule_AddObjectRef(m, "LogMetric", (PyObject *)&LogMetricType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
