/*
 * _native: the two byte-parsing hot paths of the blob tables, in C.
 *
 * Why it exists: per session, the migration transcodes the legacy mYm `peh` blob into the new
 * dj0 blob (pehfast.transcode_peh) and reads that blob's event columns into LOAD DATA lines
 * (eventload._fast_text). In Python each spends about 190 us per session walking bytes with
 * `struct`; here that walk and the assembly of the result are done in one pass over the bytes.
 *
 * It is optional: setup declares it with optional=True, and engine/native.py loads it when it was
 * built (and BRODY_NATIVE is not 0). The Python code is the reference for behaviour. Each
 * function here returns exactly what the Python path returns for the same input, or None
 * ("decline") for anything unusual or malformed, and the caller then runs the Python path, which
 * produces the result or the rejection it always has. So this file only has to be right about
 * what it accepts; it declines rather than guess.
 *
 * Safety: every read is checked against the end of the input before it happens, and every size
 * taken from the input is checked for overflow before it is multiplied or added. Memory comes
 * from PyMem_* and is released on every path.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <string.h>

/* What every reader returns. DECLINE: not a shape handled here (the caller returns None).
 * FAILED: a Python exception is set (out of memory). */
enum { OK = 0, DECLINE = 1, FAILED = -1 };

#define DOUBLE_CLASS 6 /* MATLAB / DataJoint class id of float64 arrays */
#define CHAR_CLASS 4   /* MATLAB class id of char arrays (UTF-16 units) */
#define EVENT_TYPE_MAX 16 /* events.EVENT_TYPE_MAX (a test keeps them equal) */
#define EVENT_NAME_MAX 32 /* events.EVENT_NAME_MAX */
#define MAX_NAME_BLOCKS 64 /* distinct sub-struct name lists in one session (more: decline) */
#define MAX_FIELDS 4096    /* fields of the trial struct (more: decline) */

/* --- bytes in --------------------------------------------------------------------------------- */

typedef struct {
    const unsigned char *at;
    size_t size;
} Input;

/* A run of bytes: a name inside the input or the arena. */
typedef struct {
    const unsigned char *at;
    size_t len;
} Span;

/* Whether `count` bytes starting at `p` lie inside the input (for any p and count). */
static int has(const Input *in, size_t p, size_t count)
{
    return p <= in->size && count <= in->size - p;
}

static uint32_t le32(const unsigned char *s)
{
    return (uint32_t)s[0] | (uint32_t)s[1] << 8 | (uint32_t)s[2] << 16 | (uint32_t)s[3] << 24;
}

static uint64_t le64(const unsigned char *s)
{
    return (uint64_t)le32(s) | (uint64_t)le32(s + 4) << 32;
}

static double le_double(const unsigned char *s)
{
    uint64_t bits = le64(s);
    double value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

static int is_ascii(Span s)
{
    for (size_t i = 0; i < s.len; i++) {
        if (s.at[i] >= 0x80)
            return 0;
    }
    return 1;
}

/* --- bytes out -------------------------------------------------------------------------------- */

static unsigned char *put_u32(unsigned char *w, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        *w++ = (unsigned char)(v >> (8 * i));
    return w;
}

static unsigned char *put_u64(unsigned char *w, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        *w++ = (unsigned char)(v >> (8 * i));
    return w;
}

/* `*total += more`, declining past what a bytes or str object can hold. */
static int add_size(size_t *total, size_t more)
{
    if (more > (size_t)PY_SSIZE_T_MAX - *total)
        return DECLINE;
    *total += more;
    return OK;
}

/* Room for `need` items of `size` bytes in a PyMem array. */
static int grow(void **items, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return OK;
    size_t larger = *cap ? *cap : 16;
    while (larger < need) {
        if (larger > SIZE_MAX / 4) {
            PyErr_NoMemory();
            return FAILED;
        }
        larger *= 2;
    }
    if (larger > (size_t)PY_SSIZE_T_MAX / size) {
        PyErr_NoMemory();
        return FAILED;
    }
    void *moved = PyMem_Realloc(*items, larger * size);
    if (moved == NULL) {
        PyErr_NoMemory();
        return FAILED;
    }
    *items = moved;
    *cap = larger;
    return OK;
}

/* A growing text (the event lines) or byte string (the key items). */
typedef struct {
    char *at;
    size_t len, cap;
} Text;

static int text_reserve(Text *t, size_t more)
{
    if (more > (size_t)PY_SSIZE_T_MAX - t->len)
        return DECLINE;
    return grow((void **)&t->at, &t->cap, t->len + more, 1);
}

static int text_add(Text *t, const void *s, size_t len)
{
    int r = len ? text_reserve(t, len) : OK;
    if (r == OK && len) {
        memcpy(t->at + t->len, s, len);
        t->len += len;
    }
    return r;
}

/* --- a set of byte strings, numbered in insertion order (open addressing, FNV-1a) ------------ */

typedef struct {
    Span *spans;
    size_t count, cap;
    int32_t *table; /* index into spans, or -1; mask + 1 entries (a power of two) */
    size_t mask;
} SpanSet;

static uint64_t span_hash(Span s)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < s.len; i++)
        h = (h ^ s.at[i]) * 1099511628211ULL;
    return h;
}

static int span_equal(Span a, Span b)
{
    return a.len == b.len && memcmp(a.at, b.at, a.len) == 0;
}

static int spanset_rehash(SpanSet *set, size_t slots)
{
    if (slots > (size_t)PY_SSIZE_T_MAX / sizeof(int32_t)) {
        PyErr_NoMemory();
        return FAILED;
    }
    int32_t *table = PyMem_Malloc(slots * sizeof *table);
    if (table == NULL) {
        PyErr_NoMemory();
        return FAILED;
    }
    for (size_t i = 0; i < slots; i++)
        table[i] = -1;
    for (size_t i = 0; i < set->count; i++) {
        size_t h = (size_t)span_hash(set->spans[i]) & (slots - 1);
        while (table[h] >= 0)
            h = (h + 1) & (slots - 1);
        table[h] = (int32_t)i;
    }
    PyMem_Free(set->table);
    set->table = table;
    set->mask = slots - 1;
    return OK;
}

/* The index of `s` in the set; it is added at the end if new (then *added is 1). */
static int spanset_add(SpanSet *set, Span s, size_t *index, int *added)
{
    if (set->table == NULL || 2 * (set->count + 1) > set->mask + 1) {
        size_t slots = set->table == NULL ? 64 : 2 * (set->mask + 1);
        int r = spanset_rehash(set, slots);
        if (r != OK)
            return r;
    }
    size_t h = (size_t)span_hash(s) & set->mask;
    while (set->table[h] >= 0) {
        if (span_equal(set->spans[set->table[h]], s)) {
            *index = (size_t)set->table[h];
            *added = 0;
            return OK;
        }
        h = (h + 1) & set->mask;
    }
    if (set->count >= INT32_MAX)
        return DECLINE;
    int r = grow((void **)&set->spans, &set->cap, set->count + 1, sizeof(Span));
    if (r != OK)
        return r;
    set->spans[set->count] = s;
    set->table[h] = (int32_t)set->count;
    *index = set->count++;
    *added = 1;
    return OK;
}

static void spanset_free(SpanSet *set)
{
    PyMem_Free(set->spans);
    PyMem_Free(set->table);
}

/* ============================================================================================= */
/* peh_dj0: legacy mYm `peh` -> the dj0 bytes pehfast.transcode_peh writes (before compression)  */
/* ============================================================================================= */

/* A value to write as a dj0 item. Its data stays in the input (both formats are column-major). */
enum { ITEM_FLOAT, ITEM_VECTOR, ITEM_MATRIX, ITEM_STRING };

typedef struct {
    int kind;
    size_t data;         /* where the doubles or the UTF-16 units start in the input */
    size_t n;            /* how many doubles or units */
    uint32_t rows, cols; /* ITEM_MATRIX */
    size_t chars;        /* ITEM_STRING: the characters kept (DataJoint drops NULs) */
} Item;

/* The field names of a sub-struct, remembered by their raw block: every trial repeats them. */
typedef struct {
    Span raw; /* `count` NUL-terminated names */
    uint32_t count;
    Span *names;
} Names;

/* One trial's value of one field: a plain value (block -1, items[item]) or a 1x1 sub-struct
 * whose fields, named by blocks[block], are items[item], items[item + 1], ... */
typedef struct {
    int block;
    size_t item;
} Slot;

/* A column of the records: a field, or one sub-key of a field (`field__key`). */
typedef struct {
    uint32_t field;
    size_t key;           /* SIZE_MAX for the field itself, else an index into the field's keys */
    size_t item, item_len; /* the column name's dj0 string item, in `keys` */
} Column;

typedef struct {
    Input in;
    uint32_t fields;
    uint64_t trials;
    Span *field_names;
    Slot *slots; /* trials x fields */
    Item *items;
    size_t n_items, cap_items;
    Names blocks[MAX_NAME_BLOCKS];
    int n_blocks;
    int32_t **position; /* [field * n_blocks + block][key]: the key's index in the block, or -1 */
    Column *columns;
    size_t n_columns, cap_columns;
    Text keys; /* the columns' name items, back to back */
} Peh;

static void peh_free(Peh *peh)
{
    PyMem_Free(peh->field_names);
    PyMem_Free(peh->slots);
    PyMem_Free(peh->items);
    for (int b = 0; b < peh->n_blocks; b++)
        PyMem_Free(peh->blocks[b].names);
    if (peh->position != NULL) {
        for (size_t i = 0; i < (size_t)peh->fields * (size_t)peh->n_blocks; i++)
            PyMem_Free(peh->position[i]);
        PyMem_Free(peh->position);
    }
    PyMem_Free(peh->columns);
    PyMem_Free(peh->keys.at);
}

/* `count` struct field names at p: each NUL-terminated, non-empty, ASCII; all distinct. */
static int read_names(const Input *in, size_t p, uint32_t count, Span **out, size_t *end)
{
    if (count == 0 || count > in->size / 2) /* a name takes at least two bytes */
        return DECLINE;
    Span *names = PyMem_Malloc(count * sizeof *names);
    if (names == NULL) {
        PyErr_NoMemory();
        return FAILED;
    }
    SpanSet seen = {0};
    int r = OK;
    for (uint32_t k = 0; k < count && r == OK; k++) {
        const unsigned char *start = in->at + p;
        const unsigned char *stop = p < in->size ? memchr(start, 0, in->size - p) : NULL;
        if (stop == NULL || stop == start) {
            r = DECLINE; /* no terminator, or an empty name */
            break;
        }
        names[k] = (Span){start, (size_t)(stop - start)};
        size_t index;
        int added;
        r = is_ascii(names[k]) ? spanset_add(&seen, names[k], &index, &added) : DECLINE;
        if (r == OK && !added)
            r = DECLINE; /* a duplicate name */
        p += names[k].len + 1;
    }
    spanset_free(&seen);
    if (r != OK) {
        PyMem_Free(names);
        return r;
    }
    *out = names;
    *end = p;
    return OK;
}

/* The names of a sub-struct at p: a block seen before in this session, or a new one. */
static int sub_names(Peh *peh, size_t p, uint32_t count, int *block, size_t *end)
{
    for (int b = 0; b < peh->n_blocks; b++) {
        Names *known = &peh->blocks[b];
        if (known->count == count && has(&peh->in, p, known->raw.len)
            && memcmp(peh->in.at + p, known->raw.at, known->raw.len) == 0) {
            *block = b;
            *end = p + known->raw.len;
            return OK;
        }
    }
    if (peh->n_blocks == MAX_NAME_BLOCKS)
        return DECLINE;
    Names *fresh = &peh->blocks[peh->n_blocks];
    int r = read_names(&peh->in, p, count, &fresh->names, end);
    if (r != OK)
        return r;
    fresh->raw = (Span){peh->in.at + p, *end - p};
    fresh->count = count;
    *block = peh->n_blocks++;
    return OK;
}

/* An mYm 'A' value at p (after the type byte): uint32 ndims (2), rows, cols, class, complex;
 * then the data, column-major. Taken: real doubles, and char rows (UTF-16 units, ASCII). */
static int read_array(Peh *peh, size_t p, size_t *end)
{
    const Input *in = &peh->in;
    if (!has(in, p, 20) || le32(in->at + p) != 2)
        return DECLINE;
    uint32_t rows = le32(in->at + p + 4), cols = le32(in->at + p + 8);
    uint32_t cls = le32(in->at + p + 12), complex = le32(in->at + p + 16);
    p += 20;
    uint64_t n = (uint64_t)rows * cols;
    size_t room = in->size - p;
    Item item = {0};
    if (complex)
        return DECLINE;
    if (cls == DOUBLE_CLASS) {
        if (n > room / 8)
            return DECLINE;
        item.kind = n == 1 ? ITEM_FLOAT : (rows == 1 || cols == 1) ? ITEM_VECTOR : ITEM_MATRIX;
        *end = p + 8 * (size_t)n;
    }
    else if (cls == CHAR_CLASS && (rows == 1 || n == 0)) {
        if (n > room / 2)
            return DECLINE;
        for (size_t i = 0; i < (size_t)n; i++) {
            unsigned char low = in->at[p + 2 * i]; /* DataJoint keeps the low byte of each unit */
            if (low >= 0x80)
                return DECLINE;
            item.chars += low != 0;
        }
        item.kind = ITEM_STRING;
        *end = p + 2 * (size_t)n;
    }
    else {
        return DECLINE;
    }
    item.data = p;
    item.n = (size_t)n;
    item.rows = rows;
    item.cols = cols;
    int r = grow((void **)&peh->items, &peh->cap_items, peh->n_items + 1, sizeof(Item));
    if (r == OK)
        peh->items[peh->n_items++] = item;
    return r;
}

/* A 1x1 mYm 'S' value at p (after the type byte): uint32 ndims (2), rows, cols, field count;
 * the names; then per field a uint32 length and an 'A' value of that length. */
static int read_sub(Peh *peh, size_t p, Slot *slot, size_t *end)
{
    const Input *in = &peh->in;
    if (!has(in, p, 16) || le32(in->at + p) != 2)
        return DECLINE;
    uint64_t elements = (uint64_t)le32(in->at + p + 4) * le32(in->at + p + 8);
    uint32_t count = le32(in->at + p + 12);
    if (elements != 1 || count == 0)
        return DECLINE;
    int r = sub_names(peh, p + 16, count, &slot->block, &p);
    if (r != OK)
        return r;
    slot->item = peh->n_items;
    for (uint32_t k = 0; k < count; k++) {
        size_t stop;
        if (!has(in, p, 25) || in->at[p + 4] != 'A')
            return DECLINE;
        r = read_array(peh, p + 5, &stop);
        if (r != OK)
            return r;
        if (stop - p - 4 != le32(in->at + p))
            return DECLINE;
        p = stop;
    }
    *end = p;
    return OK;
}

/* The trials: an mYm 'S' value after "mYm\0": uint32 ndims (2), rows, cols, field count; the
 * names; then per trial (in storage order) and field a uint32 length and an 'A' or 'S' value. */
static int read_trials(Peh *peh)
{
    const Input *in = &peh->in;
    size_t p = 4;
    if (!has(in, p, 17) || in->at[p] != 'S' || le32(in->at + p + 1) != 2)
        return DECLINE;
    uint64_t trials = (uint64_t)le32(in->at + p + 5) * le32(in->at + p + 9);
    uint32_t fields = le32(in->at + p + 13);
    if (fields == 0 || fields > MAX_FIELDS)
        return DECLINE;
    int r = read_names(in, p + 17, fields, &peh->field_names, &p);
    if (r != OK)
        return r;
    if (trials > (in->size - p) / 4 / fields) /* each value has at least its length field */
        return DECLINE;
    peh->fields = fields;
    peh->trials = trials;
    peh->slots = PyMem_Calloc((size_t)trials * fields + 1, sizeof(Slot));
    if (peh->slots == NULL) {
        PyErr_NoMemory();
        return FAILED;
    }
    for (size_t i = 0; i < (size_t)trials * fields; i++) {
        Slot *slot = &peh->slots[i];
        size_t stop = 0;
        if (!has(in, p, 5))
            return DECLINE;
        uint32_t length = le32(in->at + p);
        p += 4;
        if (in->at[p] == 'S') {
            r = read_sub(peh, p + 1, slot, &stop);
        }
        else if (in->at[p] == 'A') {
            slot->block = -1;
            slot->item = peh->n_items;
            r = read_array(peh, p + 1, &stop);
        }
        else {
            return DECLINE;
        }
        if (r != OK)
            return r;
        if (stop - p != length)
            return DECLINE;
        p = stop;
    }
    return p == in->size ? OK : DECLINE;
}

/* Adds a column: its name (`field` or `field__key`) as a dj0 string item in `keys`. */
static int add_column(Peh *peh, uint32_t field, size_t key, Span sub_key)
{
    Span name = peh->field_names[field];
    size_t len = name.len + (key == SIZE_MAX ? 0 : 2 + sub_key.len);
    unsigned char head[17];
    unsigned char *w = put_u64(head, (uint64_t)len + 9);
    *w++ = 0x05;
    put_u64(w, len);
    int r = grow((void **)&peh->columns, &peh->cap_columns, peh->n_columns + 1, sizeof(Column));
    if (r != OK)
        return r;
    Column *column = &peh->columns[peh->n_columns];
    column->field = field;
    column->key = key;
    column->item = peh->keys.len;
    column->item_len = 17 + len;
    r = text_add(&peh->keys, head, 17);
    if (r == OK)
        r = text_add(&peh->keys, name.at, name.len);
    if (r == OK && key != SIZE_MAX) {
        r = text_add(&peh->keys, "__", 2);
        if (r == OK)
            r = text_add(&peh->keys, sub_key.at, sub_key.len);
    }
    if (r == OK)
        peh->n_columns++;
    return r;
}

/* The columns of a field that is a sub-struct in every trial: one per sub-key, in order of first
 * appearance; and, per name block the field uses, where each key sits in the block. */
static int add_sub_columns(Peh *peh, uint32_t field)
{
    SpanSet keys = {0};
    char used[MAX_NAME_BLOCKS] = {0};
    size_t index;
    int added, r = OK;
    for (uint64_t t = 0; t < peh->trials && r == OK; t++) {
        int b = peh->slots[t * peh->fields + field].block;
        if (used[b])
            continue;
        used[b] = 1;
        for (uint32_t k = 0; k < peh->blocks[b].count && r == OK; k++)
            r = spanset_add(&keys, peh->blocks[b].names[k], &index, &added);
    }
    for (size_t j = 0; j < keys.count && r == OK; j++)
        r = add_column(peh, field, j, keys.spans[j]);
    for (int b = 0; b < peh->n_blocks && r == OK; b++) {
        if (!used[b])
            continue;
        int32_t *position = PyMem_Malloc(keys.count * sizeof *position);
        if (position == NULL) {
            PyErr_NoMemory();
            r = FAILED;
            break;
        }
        peh->position[(size_t)field * (size_t)peh->n_blocks + (size_t)b] = position;
        for (size_t j = 0; j < keys.count; j++)
            position[j] = -1;
        for (uint32_t k = 0; k < peh->blocks[b].count && r == OK; k++) {
            r = spanset_add(&keys, peh->blocks[b].names[k], &index, &added);
            position[index] = (int32_t)k;
        }
    }
    spanset_free(&keys);
    return r;
}

/* The columns, as transcode_peh builds them, and the check that their names are distinct. */
static int build_columns(Peh *peh)
{
    size_t tables = (size_t)peh->fields * (size_t)peh->n_blocks;
    peh->position = PyMem_Calloc(tables + 1, sizeof(int32_t *));
    if (peh->position == NULL) {
        PyErr_NoMemory();
        return FAILED;
    }
    int r = OK;
    for (uint32_t f = 0; f < peh->fields && r == OK; f++) {
        uint64_t subs = 0;
        for (uint64_t t = 0; t < peh->trials; t++)
            subs += peh->slots[t * peh->fields + f].block >= 0;
        if (peh->trials && subs == peh->trials)
            r = add_sub_columns(peh, f);
        else if (subs)
            r = DECLINE; /* a field that is a sub-struct in some trials only */
        else
            r = add_column(peh, f, SIZE_MAX, (Span){NULL, 0});
    }
    SpanSet names = {0};
    for (size_t c = 0; c < peh->n_columns && r == OK; c++) {
        const Column *column = &peh->columns[c];
        Span name = {(const unsigned char *)peh->keys.at + column->item + 17, column->item_len - 17};
        size_t index;
        int added;
        r = spanset_add(&names, name, &index, &added);
        if (r == OK && !added)
            r = DECLINE; /* clashing column names */
    }
    spanset_free(&names);
    return r;
}

/* The item of column `c` in trial `t`; NULL for a sub-key this trial lacks (written as None). */
static const Item *value_of(const Peh *peh, uint64_t t, const Column *column)
{
    const Slot *slot = &peh->slots[t * peh->fields + column->field];
    if (column->key == SIZE_MAX)
        return &peh->items[slot->item];
    size_t table = (size_t)column->field * (size_t)peh->n_blocks + (size_t)slot->block;
    int32_t k = peh->position[table][column->key];
    return k < 0 ? NULL : &peh->items[slot->item + (size_t)k];
}

/* The length of an item as written: uint64 length + its packed bytes. */
static size_t item_size(const Item *item)
{
    if (item == NULL)
        return 9; /* None */
    switch (item->kind) {
    case ITEM_FLOAT:
        return 17;
    case ITEM_VECTOR:
        return 33 + 8 * item->n;
    case ITEM_MATRIX:
        return 41 + 8 * item->n;
    default:
        return 17 + item->chars;
    }
}

/* A dj0 item (uint64 length, then the packed value): None, a float (0x0d), an 'A' float64 array
 * of 1 dim (n) or 2 dims (rows, cols) with class 6 and not complex, or a str (0x05). */
static unsigned char *write_item(unsigned char *w, const Peh *peh, const Item *item)
{
    if (item == NULL) {
        w = put_u64(w, 1);
        *w++ = 0xff;
        return w;
    }
    const unsigned char *data = peh->in.at + item->data;
    switch (item->kind) {
    case ITEM_FLOAT:
        w = put_u64(w, 9);
        *w++ = 0x0d;
        memcpy(w, data, 8);
        return w + 8;
    case ITEM_VECTOR:
    case ITEM_MATRIX:
        if (item->kind == ITEM_VECTOR) {
            w = put_u64(w, 25 + 8 * (uint64_t)item->n);
            *w++ = 'A';
            w = put_u64(w, 1);
            w = put_u64(w, item->n);
        }
        else {
            w = put_u64(w, 33 + 8 * (uint64_t)item->n);
            *w++ = 'A';
            w = put_u64(w, 2);
            w = put_u64(w, item->rows);
            w = put_u64(w, item->cols);
        }
        w = put_u32(w, DOUBLE_CLASS);
        w = put_u32(w, 0);
        memcpy(w, data, 8 * item->n);
        return w + 8 * item->n;
    default:
        w = put_u64(w, 9 + (uint64_t)item->chars);
        *w++ = 0x05;
        w = put_u64(w, item->chars);
        for (size_t i = 0; i < item->n; i++) {
            if (data[2 * i])
                *w++ = data[2 * i];
        }
        return w;
    }
}

/* One record (a dict: 0x04, uint64 column count, then key item and value item per column), its
 * length first. `record` is the length without that prefix. */
static unsigned char *write_record(unsigned char *w, const Peh *peh, uint64_t t, size_t record)
{
    w = put_u64(w, record);
    *w++ = 0x04;
    w = put_u64(w, peh->n_columns);
    for (size_t c = 0; c < peh->n_columns; c++) {
        const Column *column = &peh->columns[c];
        memcpy(w, peh->keys.at + column->item, column->item_len);
        w = write_item(w + column->item_len, peh, value_of(peh, t, column));
    }
    return w;
}

/* "dj0\0", then a list (0x02, uint64 count) of one record per trial. */
static PyObject *write_peh(const Peh *peh)
{
    size_t *records = PyMem_Malloc(((size_t)peh->trials + 1) * sizeof *records);
    if (records == NULL)
        return PyErr_NoMemory();
    size_t total = 13;
    int r = OK;
    for (uint64_t t = 0; t < peh->trials && r == OK; t++) {
        size_t record = 9;
        for (size_t c = 0; c < peh->n_columns && r == OK; c++) {
            const Column *column = &peh->columns[c];
            r = add_size(&record, column->item_len);
            if (r == OK)
                r = add_size(&record, item_size(value_of(peh, t, column)));
        }
        records[t] = record;
        if (r == OK)
            r = add_size(&total, 8);
        if (r == OK)
            r = add_size(&total, record);
    }
    PyObject *blob = r == OK ? PyBytes_FromStringAndSize(NULL, (Py_ssize_t)total) : NULL;
    if (blob != NULL) {
        unsigned char *start = (unsigned char *)PyBytes_AS_STRING(blob);
        unsigned char *w = start;
        memcpy(w, "dj0\0\x02", 5);
        w = put_u64(w + 5, peh->trials);
        for (uint64_t t = 0; t < peh->trials; t++)
            w = write_record(w, peh, t, records[t]);
        if ((size_t)(w - start) != total) {
            Py_CLEAR(blob);
            PyErr_SetString(PyExc_SystemError, "_native.peh_dj0: size mismatch");
        }
    }
    PyMem_Free(records);
    if (r == DECLINE)
        Py_RETURN_NONE;
    return blob;
}

PyDoc_STRVAR(peh_dj0_doc,
"peh_dj0(buf: bytes) -> bytes | None\n--\n\n"
"The dj0 blob pehfast.transcode_peh builds (before compression) from the unwrapped legacy mYm\n"
"payload `buf` (starting b'mYm\\0'), byte for byte; None for anything it does not handle.");

static PyObject *peh_dj0(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 1 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "peh_dj0() takes one bytes argument");
        return NULL;
    }
    Peh peh = {0};
    peh.in.at = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    peh.in.size = (size_t)PyBytes_GET_SIZE(args[0]);
    if (peh.in.size < 4 || memcmp(peh.in.at, "mYm\0", 4) != 0)
        Py_RETURN_NONE; /* not an unwrapped mYm payload */
    int r = read_trials(&peh);
    if (r == OK)
        r = build_columns(&peh);
    PyObject *result = r == OK ? write_peh(&peh) : NULL;
    peh_free(&peh);
    if (r == DECLINE)
        Py_RETURN_NONE;
    return result;
}

/* ============================================================================================= */
/* event_text: dj0 `peh` -> the LOAD DATA lines eventload._fast_text writes                       */
/* ============================================================================================= */

/* A float64 array of one trial's column: its doubles in the input (column-major). */
typedef struct {
    size_t data;
    uint64_t rows, cols;
    size_t next; /* the column's array of the next trial (SIZE_MAX: none) */
} EvArray;

/* A column (dict key) in order of first appearance. `live` is Python's "not None": the column
 * was a float64 array in every trial so far. */
typedef struct {
    Span key;
    int live;
    uint64_t arrays; /* arrays kept so far */
    uint64_t seen_in; /* 1 + the last trial holding this key (duplicate keys are declined) */
    size_t first, last;
} EvColumn;

typedef struct {
    Input in;
    SpanSet keys; /* column index by key */
    EvColumn *columns;
    size_t cap_columns;
    EvArray *arrays;
    size_t n_arrays, cap_arrays;
} Events;

/* One dict value at p: uint64 length, then the item. A float64 array ('A', uint64 ndim; ndim 1:
 * uint64 n; ndim 2: uint64 rows, cols; uint32 class 6, complex 0; an even number of doubles) is
 * kept in *array; any other item is skipped by its length (*is_array 0). */
static int read_value(const Input *in, size_t p, EvArray *array, int *is_array, size_t *stop)
{
    if (!has(in, p, 17))
        return DECLINE;
    uint64_t length = le64(in->at + p), ndim = le64(in->at + p + 9);
    if (length > in->size - p - 8)
        return DECLINE;
    *stop = p + 8 + (size_t)length;
    *is_array = 0;
    if (in->at[p + 8] != 'A')
        return OK;
    uint64_t rows, cols = 1;
    uint32_t cls, complex;
    size_t q;
    if (ndim == 1 && has(in, p, 33)) {
        rows = le64(in->at + p + 17);
        cls = le32(in->at + p + 25);
        complex = le32(in->at + p + 29);
        q = p + 33;
    }
    else if (ndim == 2 && has(in, p, 41)) {
        rows = le64(in->at + p + 17);
        cols = le64(in->at + p + 25);
        cls = le32(in->at + p + 33);
        complex = le32(in->at + p + 37);
        q = p + 41;
    }
    else {
        return DECLINE;
    }
    if (cls != DOUBLE_CLASS || complex || (cols && rows > UINT64_MAX / cols))
        return DECLINE;
    uint64_t n = rows * cols;
    if (n % 2 || q > *stop || (*stop - q) % 8 || (*stop - q) / 8 != n)
        return DECLINE;
    array->data = q;
    array->rows = rows;
    array->cols = cols;
    array->next = SIZE_MAX;
    *is_array = 1;
    return OK;
}

/* Keeps trial `t`'s array of a live column. */
static int keep_array(Events *ev, EvColumn *column, const EvArray *array)
{
    int r = grow((void **)&ev->arrays, &ev->cap_arrays, ev->n_arrays + 1, sizeof(EvArray));
    if (r != OK)
        return r;
    ev->arrays[ev->n_arrays] = *array;
    if (column->arrays == 0)
        column->first = ev->n_arrays;
    else
        ev->arrays[column->last].next = ev->n_arrays;
    column->last = ev->n_arrays++;
    column->arrays++;
    return OK;
}

/* One key of trial `t` at *p: a str item (uint64 9 + size, 0x05, uint64 size, ASCII bytes),
 * then its value; the column bookkeeping of _read_columns. */
static int read_key(Events *ev, uint64_t t, size_t *p)
{
    const Input *in = &ev->in;
    if (!has(in, *p, 17))
        return DECLINE;
    uint64_t item_len = le64(in->at + *p), len = le64(in->at + *p + 9);
    if (in->at[*p + 8] != 0x05 || len > in->size || item_len != 9 + len || !has(in, *p + 17, len))
        return DECLINE;
    Span key = {in->at + *p + 17, (size_t)len};
    if (!is_ascii(key))
        return DECLINE;
    *p += 17 + (size_t)len;
    size_t index;
    int added;
    int r = spanset_add(&ev->keys, key, &index, &added);
    if (r != OK)
        return r;
    if (added) {
        r = grow((void **)&ev->columns, &ev->cap_columns, index + 1, sizeof(EvColumn));
        if (r != OK)
            return r;
        ev->columns[index] = (EvColumn){.key = key, .live = 0, .arrays = 0, .seen_in = 0};
    }
    EvColumn *column = &ev->columns[index];
    if (column->seen_in == t + 1)
        return DECLINE; /* a duplicate key */
    column->seen_in = t + 1;
    EvArray array;
    int is_array;
    size_t stop;
    r = read_value(in, *p, &array, &is_array, &stop);
    if (r != OK)
        return r;
    *p = stop;
    if (added)
        column->live = is_array && t == 0;
    else if (column->live && !is_array)
        column->live = 0;
    if (column->live)
        return keep_array(ev, column, &array);
    return OK;
}

/* One trial at *p: uint64 length, then a dict (0x04, uint64 key count, the keys and values). */
static int read_trial(Events *ev, uint64_t t, size_t *p)
{
    const Input *in = &ev->in;
    if (!has(in, *p, 17))
        return DECLINE;
    uint64_t length = le64(in->at + *p);
    if (length > in->size - *p - 8 || in->at[*p + 8] != 0x04)
        return DECLINE;
    size_t end = *p + 8 + (size_t)length;
    uint64_t keys = le64(in->at + *p + 9);
    *p += 17;
    for (uint64_t k = 0; k < keys; k++) {
        int r = read_key(ev, t, p);
        if (r != OK)
            return r;
    }
    if (*p != end)
        return DECLINE;
    for (size_t c = 0; c < ev->keys.count; c++) {
        if (ev->columns[c].live && ev->columns[c].arrays != t + 1)
            ev->columns[c].live = 0; /* absent from this trial */
    }
    return OK;
}

/* The whole blob after "dj0\0": a list (0x02, uint64 count) of trials, and nothing after. */
static int read_events(Events *ev)
{
    size_t p = 4;
    if (!has(&ev->in, p, 9) || ev->in.at[p] != 0x02)
        return DECLINE;
    uint64_t trials = le64(ev->in.at + p + 1);
    p += 9;
    for (uint64_t t = 0; t < trials; t++) { /* each trial takes 17 bytes or more: bounded */
        int r = read_trial(ev, t, &p);
        if (r != OK)
            return r;
    }
    return p == ev->in.size ? OK : DECLINE;
}

static size_t write_decimal(char *w, uint64_t v)
{
    char digits[20];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        w[i] = digits[n - 1 - i];
    return n;
}

/* `s` as LOAD DATA reads it back (escaped by '\'); at most 2 * len bytes. */
static size_t write_escaped(char *w, Span s)
{
    size_t n = 0;
    for (size_t i = 0; i < s.len; i++) {
        char c = (char)s.at[i];
        const char *escape = c == '\\' ? "\\\\" : c == '\t' ? "\\t" : c == '\n' ? "\\n"
                           : c == '\r' ? "\\r" : c == '\0' ? "\\0" : NULL;
        if (escape != NULL) {
            w[n++] = escape[0];
            w[n++] = escape[1];
        }
        else {
            w[n++] = c;
        }
    }
    return n;
}

/* A time as Python's repr writes it; NaN as NULL. */
static int write_time(Text *text, double value)
{
    if (isnan(value))
        return text_add(text, "\\N", 2);
    char *repr = PyOS_double_to_string(value, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    if (repr == NULL)
        return FAILED;
    int r = text_add(text, repr, strlen(repr));
    PyMem_Free(repr);
    return r;
}

/* "\t<type>\t<name>\t" of a column: its key split at the first "__", escaped; DECLINE when a
 * part is longer than its database column. */
static int column_middle(Span key, char *middle, size_t *len)
{
    size_t cut = key.len;
    for (size_t i = 0; i + 1 < key.len; i++) {
        if (key.at[i] == '_' && key.at[i + 1] == '_') {
            cut = i;
            break;
        }
    }
    Span type = {key.at, cut};
    Span name = {key.at + cut, 0};
    if (cut < key.len)
        name = (Span){key.at + cut + 2, key.len - cut - 2};
    if (type.len > EVENT_TYPE_MAX || name.len > EVENT_NAME_MAX)
        return DECLINE;
    size_t n = 0;
    middle[n++] = '\t';
    n += write_escaped(middle + n, type);
    middle[n++] = '\t';
    n += write_escaped(middle + n, name);
    middle[n++] = '\t';
    *len = n;
    return OK;
}

/* The lines of one trial's array: events pair consecutive values, read row-major. */
static int write_array(Text *text, const Input *in, const EvArray *array, Span head,
                       uint64_t trial, const char *middle, size_t middle_len, uint64_t *number)
{
    uint64_t n = array->rows * array->cols;
    int transposed = array->rows > 1 && array->cols > 1; /* stored column-major */
    for (uint64_t k = 0; k < n; k += 2) {
        double time[2];
        for (int e = 0; e < 2; e++) {
            uint64_t m = k + (uint64_t)e;
            uint64_t at = transposed ? (m % array->cols) * array->rows + m / array->cols : m;
            time[e] = le_double(in->at + array->data + 8 * (size_t)at);
        }
        if (isinf(time[0]) || isinf(time[1]))
            return DECLINE; /* the reference rejects the session */
        int r = text_reserve(text, head.len + middle_len + 64);
        if (r != OK)
            return r;
        char *w = text->at + text->len;
        memcpy(w, head.at, head.len);
        w += head.len;
        *w++ = '\t';
        w += write_decimal(w, ++*number);
        *w++ = '\t';
        w += write_decimal(w, trial);
        memcpy(w, middle, middle_len);
        w += middle_len;
        w += write_decimal(w, k / 2 + 1);
        *w++ = '\t';
        text->len = (size_t)(w - text->at);
        r = write_time(text, time[0]);
        if (r == OK)
            r = text_add(text, "\t", 1);
        if (r == OK)
            r = write_time(text, time[1]);
        if (r == OK)
            r = text_add(text, "\n", 1);
        if (r != OK)
            return r;
    }
    return OK;
}

/* All lines: per live column in order of first appearance, per trial, per event. */
static int write_events(const Events *ev, Span head, Text *text, uint64_t *number)
{
    char middle[3 + 2 * (EVENT_TYPE_MAX + EVENT_NAME_MAX)];
    for (size_t c = 0; c < ev->keys.count; c++) {
        const EvColumn *column = &ev->columns[c];
        if (!column->live)
            continue;
        size_t middle_len;
        int r = column_middle(column->key, middle, &middle_len);
        uint64_t trial = 1;
        for (size_t a = column->first; r == OK && a != SIZE_MAX; a = ev->arrays[a].next)
            r = write_array(text, &ev->in, &ev->arrays[a], head, trial++, middle, middle_len, number);
        if (r != OK)
            return r;
    }
    return OK;
}

PyDoc_STRVAR(event_text_doc,
"event_text(sessid, buf: bytes) -> tuple[str, int] | None\n--\n\n"
"What eventload._fast_text(sessid, blob) returns for the unwrapped dj0 payload `buf`\n"
"(starting b'dj0\\0'): the LOAD DATA lines and their count; None for anything it does not handle.");

static PyObject *event_text(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 2 || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "event_text() takes sessid and a bytes argument");
        return NULL;
    }
    Events ev = {0};
    ev.in.at = (const unsigned char *)PyBytes_AS_STRING(args[1]);
    ev.in.size = (size_t)PyBytes_GET_SIZE(args[1]);
    if (ev.in.size < 4 || memcmp(ev.in.at, "dj0\0", 4) != 0)
        Py_RETURN_NONE; /* not an unwrapped dj0 payload */
    PyObject *sessid = PyObject_Format(args[0], NULL); /* f"{sessid}" */
    if (sessid == NULL)
        return NULL;
    Py_ssize_t sessid_len;
    const char *sessid_text = PyUnicode_AsUTF8AndSize(sessid, &sessid_len);
    Text text = {0};
    uint64_t number = 0;
    int r = sessid_text == NULL ? FAILED : PyUnicode_IS_ASCII(sessid) ? OK : DECLINE;
    if (r == OK)
        r = read_events(&ev);
    if (r == OK) {
        Span head = {(const unsigned char *)sessid_text, (size_t)sessid_len};
        r = write_events(&ev, head, &text, &number);
    }
    PyObject *result = NULL;
    if (r == OK) {
        PyObject *lines = PyUnicode_New((Py_ssize_t)text.len, 127);
        PyObject *count = lines == NULL ? NULL : PyLong_FromUnsignedLongLong(number);
        if (count != NULL) {
            if (text.len) /* (no lines: text.at is NULL) */
                memcpy(PyUnicode_1BYTE_DATA(lines), text.at, text.len);
            result = PyTuple_Pack(2, lines, count);
        }
        Py_XDECREF(lines);
        Py_XDECREF(count);
    }
    Py_DECREF(sessid);
    PyMem_Free(text.at);
    PyMem_Free(ev.columns);
    PyMem_Free(ev.arrays);
    spanset_free(&ev.keys);
    if (r == DECLINE)
        Py_RETURN_NONE;
    return result;
}

/* --- the module --------------------------------------------------------------------------- */

static PyMethodDef methods[] = {
    {"peh_dj0", (PyCFunction)(void (*)(void))peh_dj0, METH_FASTCALL, peh_dj0_doc},
    {"event_text", (PyCFunction)(void (*)(void))event_text, METH_FASTCALL, event_text_doc},
    {NULL, NULL, 0, NULL},
};

static int add_constants(PyObject *module)
{
    if (PyModule_AddIntConstant(module, "EVENT_TYPE_MAX", EVENT_TYPE_MAX) < 0)
        return -1;
    return PyModule_AddIntConstant(module, "EVENT_NAME_MAX", EVENT_NAME_MAX);
}

static PyModuleDef_Slot slots[] = {
    {Py_mod_exec, (void *)add_constants},
    {0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "brody_assets.migration.engine._native",
    .m_doc = "C versions of the blob tables' two hot paths (pehfast.transcode_peh's parse and "
             "eventload._fast_text); optional, the Python code is the reference. See _native.c.",
    .m_size = 0,
    .m_methods = methods,
    .m_slots = slots,
};

PyMODINIT_FUNC PyInit__native(void)
{
    return PyModuleDef_Init(&module_def);
}
