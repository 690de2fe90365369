/* The calls a training step makes, compiled: asynctrack.pipeline._cqueue.

   put_metric_at(), put_points_at() and put_dict_at() are OpQueue's methods of the same names
   (pipeline/_queue.py), which stay the reference: these functions take their common case, scalar
   metrics written into the queue file (_ring.py), and hand anything else to the Python method unchanged
   (an in-memory queue, a key not yet checked and interned, a value that is not a float, a full ring or
   queue, the wrong arguments; put_dict_at: a dict not like the last one). They write exactly the bytes
   the Python code writes (METRIC_RECORD: "<13sqIIdqq3xQ"), commit word last, and
   tests/pipeline/test_compiled.py holds them to it. LogMetric is fluent.log_metric with its asynchronous
   path to the active run compiled the same way: the Python function's checks in its order, every other
   call handed to that function; LogMetrics is fluent.log_metrics's, for a dict of keys it has queued
   before (put_dict_at). Why compiled: after a training step has evicted the caches, the
   interpreter's own code and data for these calls cost more than the work they do (measured:
   docs/benchmarks.md, "tenth session" to "twelfth session").

   Every Python object these functions read is gathered before a slot is taken from the ring: once a slot
   is taken it is always written (or handed to the Python code that voids it on failure, or voided here
   when that code raises for an earlier slot), so no error leaves a hole that the worker would wait for. The GIL is held throughout: the worker cannot read a
   record half-written by this code, and a process killed half-way leaves a record whose commit word does
   not match, which readers skip (as for the Python code). */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <structmember.h>

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

static PyObject *s_wake, *s_make_room, *s_put_metric_slow, *s_void_all, *s_write_metric;

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

/* -- the state the calls share with the Python classes ----------------------------------------------

   OpQueue, QueueFile and Producer derive from these three types, so the fields a training step's call
   reads and writes live in C structs: the Python code reads and assigns them as attributes (member
   descriptors), and these calls read them with a load, not an attribute lookup. Why: after a step has
   evicted the caches, each attribute lookup (the type's method cache, then the instance dict's keys and
   values) costs several cache misses; callgrind counted 101 data-cache misses a log_metric call with the
   lookups, 44 without (docs/benchmarks.md, "twelfth session"). Where this extension is not in use,
   pipeline/_native.py gives the same names as plain Python classes. */

/* OpQueue's: the queue file (or None), the intern table, the wake threshold and the capacity. */
typedef struct {
    PyObject_HEAD
    PyObject *ring;
    PyObject *name_ids;
    PyObject *wake_limit; /* ints, like issued below: as objects, Python's reads of them stay its fast ones */
    PyObject *capacity;
} QueueCore;

/* QueueFile's: the ring's mask, the fast path's bound, what the worker has taken, the slot counter, and
   the ring's bytes (held from _attach() to _detach(), which the queue file calls before it unmaps). */
typedef struct {
    PyObject_HEAD
    long long mask, bound, taken, next;
    Py_buffer buf; /* buf.obj is NULL while detached */
} RingCore;

/* Producer's: the last sequence number handed out, and the head of its metric records. */
typedef struct {
    PyObject_HEAD
    PyObject *issued;
    PyObject *prefix;
} ProducerCore;

static PyTypeObject QueueCoreType, RingCoreType, ProducerCoreType;

static int
queue_core_traverse(QueueCore *self, visitproc visit, void *arg)
{
    Py_VISIT(self->ring);
    Py_VISIT(self->name_ids);
    Py_VISIT(self->wake_limit);
    Py_VISIT(self->capacity);
    return 0;
}

static int
queue_core_clear(QueueCore *self)
{
    Py_CLEAR(self->ring);
    Py_CLEAR(self->name_ids);
    Py_CLEAR(self->wake_limit);
    Py_CLEAR(self->capacity);
    return 0;
}

static void
queue_core_dealloc(QueueCore *self)
{
    PyObject_GC_UnTrack(self);
    queue_core_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMemberDef queue_core_members[] = {
    {"_ring", T_OBJECT_EX, offsetof(QueueCore, ring), 0, "the queue file, or None (the frames in memory)"},
    {"_name_ids", T_OBJECT_EX, offsetof(QueueCore, name_ids), 0, "the intern table: name -> index"},
    {"_wake_limit", T_OBJECT_EX, offsetof(QueueCore, wake_limit), 0, "queued operations that wake the worker"},
    {"_capacity", T_OBJECT_EX, offsetof(QueueCore, capacity), 0, "operations the queue takes; 0 once closed"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject QueueCoreType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "asynctrack.pipeline._cqueue.QueueCore",
    .tp_basicsize = sizeof(QueueCore),
    .tp_dealloc = (destructor)queue_core_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = PyDoc_STR("OpQueue's fields that the compiled calls read, in C (see _cqueue.c)."),
    .tp_traverse = (traverseproc)queue_core_traverse,
    .tp_clear = (inquiry)queue_core_clear,
    .tp_members = queue_core_members,
    .tp_new = PyType_GenericNew,
};

static void
ring_core_detach_buffer(RingCore *self)
{
    if (self->buf.obj != NULL) {
        PyBuffer_Release(&self->buf);
        self->buf.obj = NULL;
    }
}

static void
ring_core_dealloc(RingCore *self)
{
    ring_core_detach_buffer(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
ring_core_reserve(RingCore *self, PyObject *Py_UNUSED(ignored))
{
    long long h = self->next;
    self->next = h + RECORD;
    return PyLong_FromLongLong(h);
}

static PyObject *
ring_core_reserve_many(RingCore *self, PyObject *arg)
{
    Py_ssize_t k = PyLong_AsSsize_t(arg);
    if (k < 0) {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_ValueError, "reserve_many() needs a count >= 0, not %zd", k);
        }
        return NULL;
    }
    PyObject *slots = PyList_New(k);
    if (slots == NULL) {
        return NULL;
    }
    long long h = self->next;
    for (Py_ssize_t i = 0; i < k; i++) {
        PyObject *v = PyLong_FromLongLong(h + (long long)i * RECORD);
        if (v == NULL) {
            Py_DECREF(slots);
            return NULL;
        }
        PyList_SET_ITEM(slots, i, v);
    }
    self->next = h + (long long)k * RECORD; /* only now: an error above took no slot */
    return slots;
}

static PyObject *
ring_core_attach(RingCore *self, PyObject *data)
{
    ring_core_detach_buffer(self);
    if (PyObject_GetBuffer(data, &self->buf, PyBUF_WRITABLE) < 0) {
        self->buf.obj = NULL;
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
ring_core_detach(RingCore *self, PyObject *Py_UNUSED(ignored))
{
    ring_core_detach_buffer(self);
    Py_RETURN_NONE;
}

static PyObject *
ring_core_head(RingCore *self, void *Py_UNUSED(closure))
{
    return PyLong_FromLongLong(self->next);
}

static PyMethodDef ring_core_methods[] = {
    {"reserve", (PyCFunction)ring_core_reserve, METH_NOARGS,
     "reserve() -> int\n\nThe next slot's logical position (atomic under the GIL: no Python code runs)."},
    {"reserve_many", (PyCFunction)ring_core_reserve_many, METH_O,
     "reserve_many(k) -> list[int]\n\nThe positions of k consecutive slots, in one call."},
    {"_attach", (PyCFunction)ring_core_attach, METH_O,
     "_attach(data)\n\nHold the ring's writable bytes for the compiled calls."},
    {"_detach", (PyCFunction)ring_core_detach, METH_NOARGS,
     "_detach()\n\nLet the ring's bytes go (before they are unmapped); the calls then take the Python path."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef ring_core_members[] = {
    {"mask", T_LONGLONG, offsetof(RingCore, mask), 0, "the ring's size - 1"},
    {"bound", T_LONGLONG, offsetof(RingCore, bound), 0, "the fast path writes a slot below this position"},
    {"taken", T_LONGLONG, offsetof(RingCore, taken), 0, "logical end of what the worker has taken"},
    {NULL, 0, 0, 0, NULL},
};

static PyGetSetDef ring_core_getset[] = {
    {"head", (getter)ring_core_head, NULL, "logical end of the slots handed out so far", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject RingCoreType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "asynctrack.pipeline._cqueue.RingCore",
    .tp_basicsize = sizeof(RingCore),
    .tp_dealloc = (destructor)ring_core_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = PyDoc_STR("QueueFile's slot counter and the fields the compiled calls read, in C."),
    .tp_methods = ring_core_methods,
    .tp_members = ring_core_members,
    .tp_getset = ring_core_getset,
    .tp_new = PyType_GenericNew,
};

static void
producer_core_dealloc(ProducerCore *self)
{
    Py_CLEAR(self->issued);
    Py_CLEAR(self->prefix);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMemberDef producer_core_members[] = {
    {"issued", T_OBJECT_EX, offsetof(ProducerCore, issued), 0, "the last sequence number handed out"},
    {"prefix", T_OBJECT_EX, offsetof(ProducerCore, prefix), 0, "the head of this producer's metric records"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject ProducerCoreType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "asynctrack.pipeline._cqueue.ProducerCore",
    .tp_basicsize = sizeof(ProducerCore),
    .tp_dealloc = (destructor)producer_core_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = PyDoc_STR("Producer's fields that the compiled calls read and write, in C."),
    .tp_members = producer_core_members,
    .tp_new = PyType_GenericNew,
};

/* An exact int in [lo, hi], or 0 (not one: the caller falls back to Python). */
static int
exact_ll(PyObject *v, long long lo, long long hi, long long *out)
{
    if (v == NULL || !PyLong_CheckExact(v)) {
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

/* What a call works on: the queue and producer (borrowed: the caller's arguments keep them alive), and
   the queue file and the producer's prefix as they were when the call began (held until it ends, so
   Python code that runs in between cannot take them away). */
typedef struct {
    QueueCore *q;
    RingCore *r;
    ProducerCore *p;
    PyObject *prefix;
    long long issued; /* the producer's last sequence number when the call began */
} Target;

/* 1: ready, with the queue file and prefix held (target_release); 0: not this code's case (objects of
   other types, an in-memory queue, an odd prefix, a closed queue file): the Python method takes the
   call. */
static int
target_get(Target *t, PyObject *queue, PyObject *p)
{
    if (!PyObject_TypeCheck(queue, &QueueCoreType) || !PyObject_TypeCheck(p, &ProducerCoreType)) {
        return 0;
    }
    t->q = (QueueCore *)queue;
    t->p = (ProducerCore *)p;
    PyObject *ring = t->q->ring, *prefix = t->p->prefix;
    if (ring == NULL || !PyObject_TypeCheck(ring, &RingCoreType) || ((RingCore *)ring)->buf.obj == NULL ||
        prefix == NULL || !PyBytes_CheckExact(prefix) || PyBytes_GET_SIZE(prefix) != PREFIX_SIZE ||
        !exact_ll(t->p->issued, 0, INT64_MAX - UINT32_MAX, &t->issued)) {
        return 0;
    }
    t->r = (RingCore *)Py_NewRef(ring);
    t->prefix = Py_NewRef(prefix);
    return 1;
}

/* Returns ``result``, after letting go of what target_get() held. */
static PyObject *
target_release(Target *t, PyObject *result)
{
    Py_DECREF(t->r);
    Py_DECREF(t->prefix);
    return result;
}

/* The slot at logical position h below the bound, or NULL: past the bound, or the queue file detached
   (closed) while Python code ran. Asked again after any call into Python code. */
static char *
slot_at(Target *t, long long h)
{
    RingCore *r = t->r;
    long long off = h & r->mask;
    if (h >= r->bound || r->buf.obj == NULL || off < 0 || off + RECORD > r->buf.len) {
        return NULL;
    }
    return (char *)r->buf.buf + off;
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

/* ``name(*argv[1:])`` on argv[0], with a new int ``seq`` at argv[seq_at] and the slot's position at
   argv[h_at]: the Python code that writes a slot past the fast path's bound (it waits for room or
   refuses, and voids the slot if it raises). */
static PyObject *
call_with_slot(PyObject *name, PyObject **argv, size_t nargs, size_t seq_at, long long seq, size_t h_at,
               long long h)
{
    PyObject *seq_obj = PyLong_FromLongLong(seq);
    PyObject *h_obj = PyLong_FromLongLong(h);
    PyObject *r = NULL;
    if (seq_obj != NULL && h_obj != NULL) {
        argv[seq_at] = seq_obj;
        argv[h_at] = h_obj;
        r = PyObject_VectorcallMethod(name, argv, nargs, NULL);
    }
    Py_XDECREF(seq_obj);
    Py_XDECREF(h_obj);
    return r;
}

/* The producer's last sequence number, now ``seq`` (an int object the caller made). */
static void
set_issued(Target *t, PyObject *seq)
{
    Py_XSETREF(t->p->issued, Py_NewRef(seq));
}

/* After the records: the producer's last seq, the wake check, the call's RunOperations. */
static PyObject *
finish(Target *t, long long first, long long last, long long end)
{
    PyObject *first_obj = PyLong_FromLongLong(first);
    PyObject *last_obj = first == last ? Py_XNewRef(first_obj) : PyLong_FromLongLong(last);
    PyObject *ops = NULL;
    long long wake_limit;
    if (first_obj == NULL || last_obj == NULL) {
        goto done;
    }
    set_issued(t, last_obj);
    /* Not an int (never, but for a subclass's doing): wake, which costs a wake-up, never a stall. */
    if (!exact_ll(t->q->wake_limit, INT64_MIN, INT64_MAX, &wake_limit) ||
        ((end - t->r->taken) >> 6) + (last - first) >= wake_limit) {
        PyObject *r = PyObject_CallMethodNoArgs((PyObject *)t->q, s_wake);
        if (r == NULL) {
            goto done;
        }
        Py_DECREF(r);
    }
    PyObject *argv[3] = {(PyObject *)t->p, first_obj, last_obj};
    ops = PyObject_Vectorcall(run_operations, argv, 3, NULL);
done:
    Py_XDECREF(first_obj);
    Py_XDECREF(last_obj);
    return ops;
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
    Target t;
    if (!target_get(&t, args[0], args[1])) {
        goto fallback;
    }
    /* The intern table doubles as the cache of valid keys: a key not in it goes to Python's checks. */
    PyObject *names = t.q->name_ids;
    PyObject *k_obj = names != NULL && PyDict_CheckExact(names) ? PyDict_GetItemWithError(names, args[3])
                                                                : NULL;
    if (k_obj == NULL || !exact_ll(k_obj, 0, UINT32_MAX, &k)) {
        if (PyErr_Occurred()) {
            return target_release(&t, NULL);
        }
        target_release(&t, NULL);
        goto fallback;
    }
    long long h = t.r->next; /* the slot: from here on it must be written */
    t.r->next = h + RECORD;
    long long seq = t.issued + 1;
    char *d = slot_at(&t, h);
    if (d != NULL) {
        pack_record(d, PyBytes_AS_STRING(t.prefix), seq, (uint32_t)run, (uint32_t)k,
                    PyFloat_AS_DOUBLE(args[4]), ts, step, h);
    }
    else {
        /* Past the bound (a full queue or ring): the Python code waits or refuses, and voids the slot if
           it raises. */
        PyObject *argv[10] = {args[0], (PyObject *)t.r, NULL, args[1], NULL, args[2], k_obj, args[4],
                              args[5], args[6]};
        PyObject *r = call_with_slot(s_put_metric_slow, argv, 10, 4, seq, 2, h);
        if (r == NULL) {
            return target_release(&t, NULL);
        }
        Py_DECREF(r);
    }
    return target_release(&t, finish(&t, seq, seq, h));
fallback:
    return PyObject_Vectorcall(py_put_metric_at, args, nargs, NULL);
}

/* ``slots`` as a list of ints: count positions from first, for the Python code that gives them back. */
static PyObject *
slot_list(long long first, Py_ssize_t count)
{
    PyObject *slots = PyList_New(count);
    for (Py_ssize_t i = 0; slots != NULL && i < count; i++) {
        PyObject *v = PyLong_FromLongLong(first + (long long)i * RECORD);
        if (v == NULL) {
            Py_CLEAR(slots);
            break;
        }
        PyList_SET_ITEM(slots, i, v);
    }
    return slots;
}

/* Give back (void) the count slots from first, keeping the error being raised. */
static void
void_slots(Target *t, long long first, Py_ssize_t count)
{
    SavedError e;
    error_save(&e);
    PyObject *slots = slot_list(first, count);
    if (slots != NULL) {
        PyObject *r = PyObject_CallMethodOneArg((PyObject *)t->r, s_void_all, slots);
        Py_XDECREF(r);
        Py_DECREF(slots);
    }
    PyErr_Clear();
    error_restore(&e);
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
    PyObject *keys = args[3], *values = args[4];
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
    if (!target_get(&t, args[0], args[1])) {
        goto fallback;
    }
    /* Every slot at once, consecutive: no Python code runs until they are all taken. */
    long long first_h = t.r->next, last_h = first_h + (long long)(count - 1) * RECORD;
    t.r->next = last_h + RECORD;
    long long capacity;
    if (!exact_ll(t.q->capacity, INT64_MIN, INT64_MAX, &capacity)) {
        capacity = 0; /* not an int: the Python code decides, as for a closed queue */
    }
    if (last_h >= t.r->bound && ((last_h - t.r->taken) >> 6) >= capacity) {
        /* The queue is full: wait for room or refuse, as the Python code does. */
        PyObject *h0 = PyLong_FromLongLong(first_h);
        PyObject *r = h0 == NULL ? NULL : PyObject_CallMethodOneArg(args[0], s_make_room, h0);
        Py_XDECREF(h0);
        if (r == NULL) {
            void_slots(&t, first_h, count);
            return target_release(&t, NULL);
        }
        Py_DECREF(r);
    }
    const char *prefix = PyBytes_AS_STRING(t.prefix);
    long long first = t.issued + 1, seq = first;
    for (Py_ssize_t i = 0; i < count; i++, seq++) {
        long long h = first_h + (long long)i * RECORD;
        PyObject *k_obj = PySequence_Fast_GET_ITEM(keys, i);
        PyObject *v_obj = PySequence_Fast_GET_ITEM(values, i);
        char *d = slot_at(&t, h);
        if (d != NULL) {
            pack_record(d, prefix, seq, (uint32_t)run, (uint32_t)PyLong_AsLongLong(k_obj),
                        PyFloat_AS_DOUBLE(v_obj), ts, step, h);
            continue;
        }
        /* No room in the ring yet for this one: QueueFile.write_metric waits for it (and voids the slot if
           it raises). If it raises, the points before it are in, and as in the Python code the numbers
           used stay used and the slots after it are given back. */
        PyObject *argv[9] = {(PyObject *)t.r, NULL, t.prefix, NULL, args[2], k_obj, v_obj, args[5], args[6]};
        PyObject *r = call_with_slot(s_write_metric, argv, 9, 3, seq, 1, h);
        if (r == NULL) {
            SavedError e;
            error_save(&e);
            PyObject *used = PyLong_FromLongLong(seq - 1);
            if (used != NULL) {
                set_issued(&t, used);
                Py_DECREF(used);
            }
            PyErr_Clear();
            error_restore(&e);
            if (i + 1 < count) {
                void_slots(&t, h + RECORD, count - i - 1);
            }
            return target_release(&t, NULL);
        }
        Py_DECREF(r);
    }
    return target_release(&t, finish(&t, first, first + count - 1, last_h));
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
    /* The last calling thread's ``state.top``, kept while no thread's top has changed since (fluent calls
       top_changed() whenever it sets one): a thread-local attribute read costs several cache misses after
       a training step, a thread id and a counter compared cost none. Thread state ids are never reused. */
    uint64_t cached_thread, cached_generation;
    PyObject *cached_top;
    /* LogMetrics only (NULL in a LogMetric): fluent's ``_dict_shapes``, a one-item list holding
       ``(queue, {key tuple: seen})``, the key tuples of dicts log_metrics has queued on that queue. */
    PyObject *shapes;
} LogMetric;

/* Counts changes of any thread's ``top`` (fluent._set_top): a LogMetric's cached top is good while this
   is what it was when the top was read. Read and written under the GIL. */
static uint64_t top_generation = 1;

PyDoc_STRVAR(top_changed_doc,
"top_changed()\n\n"
"Tell the compiled log_metric that a thread's active run changed (fluent._set_top calls it after it sets\n"
"one), so that no cached top outlives it.");

static PyObject *
top_changed(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    top_generation++;
    Py_RETURN_NONE;
}

/* The calling thread's ``state.top`` (a new reference), from the cache when it holds this thread's. */
static PyObject *
current_top(LogMetric *self)
{
    uint64_t thread = PyThreadState_GetID(PyThreadState_Get());
    if (self->cached_top != NULL && self->cached_thread == thread &&
        self->cached_generation == top_generation) {
        return Py_NewRef(self->cached_top);
    }
    uint64_t generation = top_generation; /* read first: a change while reading makes the next call look */
    PyObject *top = PyObject_GetAttr(self->state, s_top);
    if (top != NULL) {
        Py_XSETREF(self->cached_top, Py_NewRef(top));
        self->cached_thread = thread;
        self->cached_generation = generation;
    }
    return top;
}

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
bind_arguments(PyObject *const *args, size_t nargsf, PyObject *kwnames, PyObject **out, PyObject **names,
               Py_ssize_t n)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs > n) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        out[i] = i < nargs ? args[i] : NULL;
    }
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t j = 0; j < nkw; j++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, j);
        Py_ssize_t at = -1;
        for (Py_ssize_t i = 0; i < n && at < 0; i++) {
            if (name == names[i]) {
                at = i;
            }
        }
        for (Py_ssize_t i = 0; i < n && at < 0; i++) {
            if (PyUnicode_Compare(name, names[i]) == 0) {
                at = i;
            }
        }
        if (at < 0 || out[at] != NULL) {
            PyErr_Clear();
            return 0;
        }
        out[at] = args[nargs + j];
    }
    return 1;
}

static inline int
given(PyObject *arg)
{
    return arg != NULL && arg != Py_None;
}

/* The fast path's first checks, in the Python function's order: 1 with ``*top`` (a new reference: the
   calling thread's active run) to go on; 0 for the Python function (an active model may be linked to the
   points); -1 with an exception set. */
static int
fast_top(LogMetric *self, PyObject **top)
{
    PyObject *flag = PyObject_GetAttr(self->active_model, s_maybe_active);
    int model_active = flag == NULL ? -1 : PyObject_IsTrue(flag);
    Py_XDECREF(flag);
    if (model_active != 0) {
        return model_active < 0 ? -1 : 0;
    }
    *top = current_top(self);
    return *top == NULL ? -1 : 1;
}

/* Whether a call waits: its ``synchronous`` argument, else ``not is_async_logging_enabled()``, as fluent
   decides; 1, 0, or -1 with an exception set. */
static int
is_synchronous(LogMetric *self, PyObject *synchronous)
{
    if (given(synchronous)) {
        return PyObject_IsTrue(synchronous);
    }
    PyObject *on = PyObject_CallNoArgs(self->async_enabled);
    int waits = on == NULL ? -1 : PyObject_Not(on);
    Py_XDECREF(on);
    return waits;
}

/* fluent.log_metric: the active run's asynchronous point, here; everything else, the Python function.
   The checks run in the Python function's order, so an argument whose truth raises raises the same. */
static PyObject *
log_metric_call(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    LogMetric *self = (LogMetric *)callable;
    PyObject *a[N_PARAMS];
    if (!bind_arguments(args, nargsf, kwnames, a, param_names, N_PARAMS) || a[P_KEY] == NULL ||
        a[P_VALUE] == NULL || given(a[P_MODEL_ID]) || given(a[P_DATASET]) || given(a[P_RUN_ID])) {
        goto python;
    }
    PyObject *top = NULL;
    int fast = fast_top(self, &top);
    if (fast <= 0) {
        if (fast < 0) {
            return NULL;
        }
        goto python;
    }
    PyObject *ts = NULL, *ops = NULL;
    int has_ts = given(a[P_TIMESTAMP]) ? PyObject_IsTrue(a[P_TIMESTAMP]) : 0;
    if (has_ts < 0 || (ts = has_ts ? Py_NewRef(a[P_TIMESTAMP]) : now_ms()) == NULL) {
        goto done;
    }
    int synchronous = is_synchronous(self, a[P_SYNCHRONOUS]);
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

/* The parameters of asynctrack.fluent.log_metrics, in order. */
enum { M_METRICS, M_STEP, M_SYNCHRONOUS, M_RUN_ID, M_TIMESTAMP, M_MODEL_ID, M_DATASET, N_MPARAMS };
static PyObject *mparam_names[N_MPARAMS];

/* fluent.log_metrics: an exact dict of keys it has queued before on the active run's queue (the key
   tuple found in fluent's shapes), asynchronously, here, through put_dict_at; everything else (a first
   dict, a timestamp, another run, values put_dict_at declines) goes to the Python function, which makes
   the checked pass and learns the dict's keys. The checks run in the Python function's order. */
static PyObject *
log_metrics_call(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    LogMetric *self = (LogMetric *)callable;
    PyObject *a[N_MPARAMS];
    if (!bind_arguments(args, nargsf, kwnames, a, mparam_names, N_MPARAMS) || a[M_METRICS] == NULL ||
        given(a[M_MODEL_ID]) || given(a[M_DATASET])) {
        goto python;
    }
    PyObject *top = NULL;
    int fast = fast_top(self, &top);
    if (fast <= 0) {
        if (fast < 0) {
            return NULL;
        }
        goto python;
    }
    int synchronous = is_synchronous(self, a[M_SYNCHRONOUS]);
    if (synchronous < 0) {
        Py_DECREF(top);
        return NULL;
    }
    PyObject *metrics = a[M_METRICS], *step = a[M_STEP];
    if (synchronous || given(a[M_RUN_ID]) || !PyTuple_CheckExact(top) || PyTuple_GET_SIZE(top) != 3 ||
        given(a[M_TIMESTAMP]) || !PyDict_CheckExact(metrics) || (given(step) && !PyLong_CheckExact(step)) ||
        self->shapes == NULL || !PyList_CheckExact(self->shapes) || PyList_GET_SIZE(self->shapes) != 1) {
        Py_DECREF(top);
        goto python;
    }
    /* (queue, {key tuple: seen}), held: hashing the key tuple may run Python code, which could replace it */
    PyObject *entry = Py_NewRef(PyList_GET_ITEM(self->shapes, 0));
    PyObject *queue = PyTuple_GET_ITEM(top, 0), *ops = NULL, *keys = NULL, *zero = NULL;
    if (!PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 2 || PyTuple_GET_ITEM(entry, 0) != queue ||
        !PyDict_CheckExact(PyTuple_GET_ITEM(entry, 1)) || (keys = PySequence_Tuple(metrics)) == NULL) {
        goto decline;
    }
    PyObject *seen = PyDict_GetItemWithError(PyTuple_GET_ITEM(entry, 1), keys);
    if (seen == NULL) {
        if (PyErr_Occurred()) {
            goto done;
        }
        goto decline;
    }
    Py_INCREF(seen);
    zero = given(step) ? NULL : PyLong_FromLong(0);
    PyObject *put_args[6] = {queue, PyTuple_GET_ITEM(top, 1), PyTuple_GET_ITEM(top, 2), seen, metrics,
                             given(step) ? step : zero};
    if (put_args[5] != NULL) {
        ops = put_dict_at(NULL, put_args, 6);
    }
    Py_DECREF(seen);
    if (ops == Py_None) {
        Py_CLEAR(ops);
        goto decline;
    }
    goto done;
decline:
    PyErr_Clear();
    Py_XDECREF(keys);
    Py_XDECREF(zero);
    Py_DECREF(entry);
    Py_DECREF(top);
    goto python;
done:
    Py_XDECREF(keys);
    Py_XDECREF(zero);
    Py_DECREF(entry);
    Py_DECREF(top);
    return ops;
python:
    return PyObject_Vectorcall(self->python, args, nargsf, kwnames);
}

/* A LogMetric or LogMetrics holding its arguments, calling through ``call``. */
static PyObject *
compiled_function(PyTypeObject *type, PyObject *python, PyObject *state, PyObject *active_model,
                  PyObject *async_enabled, PyObject *shapes, vectorcallfunc call)
{
    LogMetric *self = (LogMetric *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->python = Py_NewRef(python);
    self->state = Py_NewRef(state);
    self->active_model = Py_NewRef(active_model);
    self->async_enabled = Py_NewRef(async_enabled);
    self->shapes = Py_XNewRef(shapes);
    self->vectorcall = call;
    return (PyObject *)self;
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
    return compiled_function(type, python, state, active_model, async_enabled, NULL, log_metric_call);
}

static PyObject *
log_metrics_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *python, *state, *active_model, *async_enabled, *shapes;
    static char *names[] = {"python", "state", "active_model", "async_enabled", "shapes", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOOO!:LogMetrics", names, &python, &state, &active_model,
                                     &async_enabled, &PyList_Type, &shapes)) {
        return NULL;
    }
    return compiled_function(type, python, state, active_model, async_enabled, shapes, log_metrics_call);
}

static int
log_metric_traverse(LogMetric *self, visitproc visit, void *arg)
{
    Py_VISIT(self->dict);
    Py_VISIT(self->python);
    Py_VISIT(self->state);
    Py_VISIT(self->active_model);
    Py_VISIT(self->async_enabled);
    Py_VISIT(self->cached_top);
    Py_VISIT(self->shapes);
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
    Py_CLEAR(self->cached_top);
    Py_CLEAR(self->shapes);
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

/* The two compiled fluent functions share their layout and everything but the constructor and doc. */
#define COMPILED_FUNCTION_TYPE(NAME, DOC, NEW)                                                               \
    {                                                                                                        \
        PyVarObject_HEAD_INIT(NULL, 0).tp_name = "asynctrack.pipeline._cqueue." NAME,                        \
        .tp_basicsize = sizeof(LogMetric), .tp_dealloc = (destructor)log_metric_dealloc,                     \
        .tp_vectorcall_offset = offsetof(LogMetric, vectorcall), .tp_repr = (reprfunc)log_metric_repr,       \
        .tp_call = PyVectorcall_Call,                                                                        \
        .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,                    \
        .tp_doc = PyDoc_STR(DOC), .tp_traverse = (traverseproc)log_metric_traverse,                          \
        .tp_clear = (inquiry)log_metric_clear, .tp_getset = log_metric_getset,                               \
        .tp_dictoffset = offsetof(LogMetric, dict), .tp_new = NEW,                                           \
    }

static PyTypeObject LogMetricType = COMPILED_FUNCTION_TYPE(
    "LogMetric",
    "LogMetric(python, state, active_model, async_enabled)\n\n"
    "fluent.log_metric with its asynchronous path to the active run compiled; every other call goes to "
    "``python``, the function as written in Python.",
    log_metric_new);

static PyTypeObject LogMetricsType = COMPILED_FUNCTION_TYPE(
    "LogMetrics",
    "LogMetrics(python, state, active_model, async_enabled, shapes)\n\n"
    "fluent.log_metrics with its asynchronous path to the active run compiled for a dict of keys found in "
    "``shapes``; every other call goes to ``python``, the function as written in Python.",
    log_metrics_new);

/* -- RunOperations.combine's common case ------------------------------------------------------------ */

/* Where RunOperations (a msgspec Struct) keeps its fields: their member descriptors' offsets, read at
   bind(); -1 until then, or when the type does not have them as plain object members. */
enum { F_PRODUCER, F_FIRST, F_LAST, F_REST, N_FIELDS };
static Py_ssize_t field_at[N_FIELDS] = {-1, -1, -1, -1};

static void
find_fields(PyObject *type)
{
    static const char *names[N_FIELDS] = {"_producer", "_first", "_last", "_rest"};
    for (int i = 0; i < N_FIELDS; i++) {
        field_at[i] = -1;
    }
    Py_ssize_t at[N_FIELDS];
    if (!PyType_Check(type)) {
        return;
    }
    for (int i = 0; i < N_FIELDS; i++) {
        PyObject *d = PyDict_GetItemString(((PyTypeObject *)type)->tp_dict, names[i]);
        if (d == NULL || !Py_IS_TYPE(d, &PyMemberDescr_Type)) {
            return;
        }
        PyMemberDef *m = ((PyMemberDescrObject *)d)->d_member;
        if (m->type != T_OBJECT_EX && m->type != T_OBJECT) {
            return;
        }
        at[i] = m->offset;
    }
    memcpy(field_at, at, sizeof(at)); /* all or none */
}

static inline PyObject *
field(PyObject *ops, int i)
{
    return *(PyObject **)((char *)ops + field_at[i]);
}

PyDoc_STRVAR(combine_doc,
"combine(operations: list) -> RunOperations | None | NotImplemented\n\n"
"RunOperations.combine's common case, an epoch's results of one thread in order: None entries skipped,\n"
"one producer, each range starting inside or right after the ranges before it. NotImplemented for\n"
"anything else (the Python method merges it).");

static PyObject *
combine(PyObject *module, PyObject *list)
{
    if (run_operations == NULL || field_at[F_REST] < 0 || !PyList_CheckExact(list)) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    PyObject *p = NULL, *lo_obj = NULL, *hi_obj = NULL;
    long long lo = 0, hi = 0;
    /* No Python code runs in this loop (no allocation, no comparison of Python objects), so the list
       cannot change under it. */
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); i++) {
        PyObject *ops = PyList_GET_ITEM(list, i);
        if (ops == Py_None) {
            continue;
        }
        if (Py_TYPE(ops) != (PyTypeObject *)run_operations) {
            Py_RETURN_NOTIMPLEMENTED;
        }
        PyObject *producer = field(ops, F_PRODUCER), *first_obj = field(ops, F_FIRST);
        PyObject *last_obj = field(ops, F_LAST), *rest = field(ops, F_REST);
        long long first, last;
        if (producer == NULL || rest == NULL || !PyTuple_CheckExact(rest) || PyTuple_GET_SIZE(rest) != 0 ||
            first_obj == NULL || last_obj == NULL || !exact_ll(first_obj, INT64_MIN, INT64_MAX - 1, &first) ||
            !exact_ll(last_obj, INT64_MIN, INT64_MAX - 1, &last)) {
            PyErr_Clear();
            Py_RETURN_NOTIMPLEMENTED;
        }
        if (p == NULL) {
            p = producer;
            lo_obj = first_obj;
            hi_obj = last_obj;
            lo = first;
            hi = last;
            continue;
        }
        if (producer != p || first < lo || first > hi + 1) {
            Py_RETURN_NOTIMPLEMENTED;
        }
        if (last > hi) {
            hi = last;
            hi_obj = last_obj;
        }
    }
    if (p == NULL) {
        Py_RETURN_NONE; /* nothing but None entries, or none at all */
    }
    PyObject *argv[3] = {p, lo_obj, hi_obj};
    return PyObject_Vectorcall(run_operations, argv, 3, NULL);
}

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
    find_fields(run_operations);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"put_metric_at", (PyCFunction)(void (*)(void))put_metric_at, METH_FASTCALL, put_metric_at_doc},
    {"put_points_at", (PyCFunction)(void (*)(void))put_points_at, METH_FASTCALL, put_points_at_doc},
    {"put_dict_at", (PyCFunction)(void (*)(void))put_dict_at, METH_FASTCALL, put_dict_at_doc},
    {"bind", (PyCFunction)(void (*)(void))bind, METH_FASTCALL, bind_doc},
    {"combine", (PyCFunction)combine, METH_O, combine_doc},
    {"top_changed", (PyCFunction)top_changed, METH_NOARGS, top_changed_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "asynctrack.pipeline._cqueue",
    "The calls a training step makes (OpQueue's put_metric_at, put_points_at and put_dict_at, fluent's\n"
    "log_metric and log_metrics, RunOperations.combine's common case), compiled, and the C structs they\n"
    "share with the Python classes (see _cqueue.c).",
    -1, methods,
};

PyMODINIT_FUNC
PyInit__cqueue(void)
{
    struct {
        PyObject **slot;
        const char *text;
    } names[] = {
        {&s_wake, "_wake"}, {&s_make_room, "_make_room"}, {&s_put_metric_slow, "_put_metric_slow"},
        {&s_void_all, "void_all"}, {&s_write_metric, "write_metric"}, {&s_top, "top"},
        {&s_maybe_active, "maybe_active"}, {&param_names[P_KEY], "key"}, {&param_names[P_VALUE], "value"},
        {&param_names[P_STEP], "step"}, {&param_names[P_SYNCHRONOUS], "synchronous"},
        {&param_names[P_TIMESTAMP], "timestamp"}, {&param_names[P_RUN_ID], "run_id"},
        {&param_names[P_MODEL_ID], "model_id"}, {&param_names[P_DATASET], "dataset"},
        {&mparam_names[M_METRICS], "metrics"}, {&mparam_names[M_STEP], "step"},
        {&mparam_names[M_SYNCHRONOUS], "synchronous"}, {&mparam_names[M_RUN_ID], "run_id"},
        {&mparam_names[M_TIMESTAMP], "timestamp"}, {&mparam_names[M_MODEL_ID], "model_id"},
        {&mparam_names[M_DATASET], "dataset"},
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
        PyModule_AddObjectRef(m, "LogMetric", (PyObject *)&LogMetricType) < 0 ||
        PyType_Ready(&LogMetricsType) < 0 ||
        PyModule_AddObjectRef(m, "LogMetrics", (PyObject *)&LogMetricsType) < 0 ||
        PyModule_AddType(m, &QueueCoreType) < 0 || PyModule_AddType(m, &RingCoreType) < 0 ||
        PyModule_AddType(m, &ProducerCoreType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
