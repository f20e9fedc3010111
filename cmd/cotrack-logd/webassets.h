/* SPDX-License-Identifier: MIT */
/*
 * The console's files (cmd/cotrack-logd/web/), embedded at build time
 * by scripts/embed-assets.sh into a generated C file.
 */
#ifndef COTRACK_LOGD_WEBASSETS_H
#define COTRACK_LOGD_WEBASSETS_H

#include <stddef.h>

struct logd_asset {
	const char *path; /* relative to web/, e.g. "app.js" */
	const char *type; /* Content-Type */
	const unsigned char *data;
	size_t len;
};

extern const struct logd_asset logd_assets[];
extern const size_t logd_nassets;

#endif
