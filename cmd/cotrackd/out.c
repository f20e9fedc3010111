// SPDX-License-Identifier: MIT
/* cotrackd's record output: see out.h. */
#include <stdlib.h>

#include "host/log.h"
#include "host/recfmt.h"
#include "out.h"

static FILE *open_buffered(struct out *o, const char *path)
{
	FILE *f = fopen(path, "a");

	if (!f) {
		log_warn("%s", path);
		return NULL;
	}
	if (o->buf)
		setvbuf(f, o->buf, _IOFBF, OUT_BUFSIZE);
	return f;
}

int out_open(struct out *o, const char *path, bool to_stdout,
	     uint64_t mono_to_real_ns)
{
	o->path = path;
	o->mono_to_real_ns = mono_to_real_ns;
	o->buf = malloc(OUT_BUFSIZE);
	if (path) {
		o->f = open_buffered(o, path);
		return o->f ? 0 : -1;
	}
	/* stdout keeps its own buffer (full unless it is a terminal). */
	if (to_stdout)
		o->f = stdout;
	return 0;
}

int out_reopen(struct out *o)
{
	FILE *f;

	if (!o->path)
		return 0;
	out_flush(o);
	/* The old stream gives its buffer back before the new one takes it. */
	if (o->f && fclose(o->f) != 0)
		log_warn("%s", o->path);
	o->f = NULL;
	f = open_buffered(o, o->path);
	if (!f)
		return -1;
	o->f = f;
	return 0;
}

void out_record(struct out *o, struct cot_rec *r)
{
	r->first_ns += o->mono_to_real_ns;
	r->last_ns += o->mono_to_real_ns;
	if (o->sh) {
		uint64_t seq = 0;

		/*
		 * The shipper numbers and chains it, keeps it sealed until
		 * logd has committed it; never blocks.  Its seq goes into
		 * the local output too, so both name a record alike.
		 */
		if (cot_shipper_add(o->sh, r, &seq) == 1)
			o->ship_full++;
		r->seq = seq;
	} else {
		r->seq = ++o->seq;
	}
	if (!o->f)
		return;
	cot_recfmt_write(o->f, COT_RECFMT_JSON, r);
	o->dirty = true;
}

void out_flush(struct out *o)
{
	if (!o->dirty || !o->f)
		return;
	if (fflush(o->f) != 0)
		log_warn("%s", o->path ? o->path : "standard output");
	o->dirty = false;
}

void out_close(struct out *o)
{
	out_flush(o);
	if (o->f && o->f != stdout && fclose(o->f) != 0)
		log_warn("%s", o->path);
	o->f = NULL;
	free(o->buf);
	o->buf = NULL;
}
