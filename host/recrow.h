/* SPDX-License-Identifier: MIT */
/*
 * host/recrow: a stored record from a row of either store (db.h), its
 * columns in the order COT_STORE_REC_COLS (store.h) names them.
 */
#ifndef COTRACK_HOST_RECROW_H
#define COTRACK_HOST_RECROW_H

#include "cotrack/rec.h"
#include "host/db.h"

/*
 * Fill @r from the columns of @q's row starting at @col.  Returns 0 or
 * -COT_EBADMSG: a text too long for its field or with a NUL inside, an
 * address not 16 bytes, a pid or count out of range, a bad tunnel.
 */
int cot_rec_from_row(struct cot_dbq *q, int col, struct cot_rec *r);

#endif
