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

/* A string as a JSON string (quoted, escaped) / a CSV field. */
void cot_recfmt_json_str(FILE *f, const char *s);
void cot_recfmt_csv_str(FILE *f, const char *s);

/* @v bytes for people: "123 B", "12.3 kB", "45.6 MB", "7.8 GB". */
void cot_recfmt_bytes(char *buf, size_t len, uint64_t v);

/* Address in its usual notation (dotted quad for IPv4). */
const char *cot_addr_str(const struct cot_addr *a, char buf[COT_ADDR_STRLEN]);

#endif
