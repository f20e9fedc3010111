/* SPDX-License-Identifier: MIT */
/*
 * Connection records as text: a readable table, JSON lines and CSV, all
 * with the field names of docs/design.md.  Used by every program
 * that prints records.  Not thread-safe on one FILE (stdio is locked per
 * call, a record is several calls).
 */
#ifndef COTRACK_HOST_RECFMT_H
#define COTRACK_HOST_RECFMT_H

#include <stdio.h>

#include "cotrack/rec.h"

enum cot_recfmt {
	COT_RECFMT_TABLE,
	COT_RECFMT_JSON,
	COT_RECFMT_CSV,
};

/* Parse "table", "json" or "csv"; returns 0 or -COT_EINVAL. */
int cot_recfmt_parse(const char *name, enum cot_recfmt *out);

/* Header line (table, csv); nothing for json. */
void cot_recfmt_header(FILE *f, enum cot_recfmt fmt);

/* One record, one line. */
void cot_recfmt_write(FILE *f, enum cot_recfmt fmt, const struct cot_rec *r);

/*
 * Records as JSON or CSV lines to the file descriptor @fd, gathered in
 * a 256 KiB buffer and written with write(2) when it is full (the same
 * bytes as cot_recfmt_write, without stdio).  The header (CSV) is the
 * caller's, written before the first record.  new returns NULL when out
 * of memory or @fmt is the table.  flush writes what is gathered;
 * flush and free return 0 or -errno of the first failed write (later
 * records are then dropped).  free flushes, then frees; free(NULL) is a
 * no-op returning 0.  One writer per thread.
 */
struct cot_recbuf;
struct cot_recbuf *cot_recbuf_new(int fd, enum cot_recfmt fmt);
void cot_recbuf_write(struct cot_recbuf *w, const struct cot_rec *r);
int cot_recbuf_flush(struct cot_recbuf *w);
int cot_recbuf_free(struct cot_recbuf *w);

/* A string as a JSON string (quoted, escaped) / a CSV field. */
void cot_recfmt_json_str(FILE *f, const char *s);
void cot_recfmt_csv_str(FILE *f, const char *s);

/* @v bytes for people: "123 B", "12.3 kB", "45.6 MB", "7.8 GB". */
void cot_recfmt_bytes(char *buf, size_t len, uint64_t v);

/* Address in its usual notation (dotted quad for IPv4). */
const char *cot_addr_str(const struct cot_addr *a, char buf[COT_ADDR_STRLEN]);

#endif
