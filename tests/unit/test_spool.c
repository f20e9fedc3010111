// SPDX-License-Identifier: MIT
/*
 * host/spool: sealed round trip, every kind of tampering refused
 * (byte flips anywhere, block reorder, block removal, another key),
 * torn tail cut off, compaction by rewrite, key loading; a rewrite or an
 * append that fails (rename refused, file size limit: a full disk) leaves
 * a spool that later appends continue and that opens with every record.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/spool.h"
#include "t.h"

static char dir[] = "/tmp/cotrack-test-spool.XXXXXX";
static char path[512];
static uint8_t key[COT_SPOOL_KEYLEN];

struct loaded {
	uint64_t n, first, last;
	uint8_t head[32];
	int bad;
};

static int cb(void *ctx, const struct cot_spool_rec *r, const uint8_t prev[32])
{
	struct loaded *l = ctx;
	uint8_t h[32];

	if (!l->n)
		l->first = r->seq;
	else if (r->seq != l->last + 1)
		l->bad = 1;
	cot_chain_next(h, prev, r->enc, r->len);
	if (memcmp(h, r->hash, 32) != 0)
		l->bad = 1;
	l->n++;
	l->last = r->seq;
	memcpy(l->head, r->hash, 32);
	return 0;
}

static struct cot_spool_rec recs[10000];
static uint8_t h_before[32];

static int mk_names; /* every third record names its workloads (v2) */

static void mk(size_t n)
{
	struct cot_rec r;
	uint8_t h[32], v4[4] = { 10, 1, 2, 3 };
	size_t i;

	cot_chain_init(h);
	memcpy(h_before, h, 32);
	for (i = 0; i < n; i++) {
		memset(&r, 0, sizeof(r));
		r.seq = i + 1;
		snprintf(r.vm, sizeof(r.vm), "vm%zu", i % 3);
		r.proto = COT_PROTO_UDP;
		r.seen_by = COT_SEEN_VMI;
		cot_addr_from_v4(&r.src, v4);
		cot_addr_from_v4(&r.dst, v4);
		r.bytes_rev = i;
		if (mk_names && i % 3 == 1) {
			r.src_owner.pid = (uint32_t)i + 100;
			snprintf(r.src_owner.comm, sizeof(r.src_owner.comm),
				 "p%u", (unsigned)(i % 10000));
			snprintf(r.dst_name, sizeof(r.dst_name), "h%zu.test",
				 i);
		}
		recs[i].seq = r.seq;
		recs[i].added_ns = 1000 + i;
		recs[i].len = (uint32_t)cot_rec_encode(recs[i].enc, &r);
		cot_chain_next(h, h, recs[i].enc, recs[i].len);
		memcpy(recs[i].hash, h, 32);
	}
}

/* Write 3 blocks (100, 50, 7 records) to a fresh spool. */
static uint64_t fresh(void)
{
	struct cot_spool *sp;
	struct cot_spool_info info;
	char err[256];
	uint64_t epoch;

	unlink(path);
	mk(157);
	T_EQ_U(cot_spool_open(&sp, path, key, 0, cb, NULL, &info, err,
			      sizeof(err)),
	       0);
	T_CHECK(info.created && info.epoch != 0);
	epoch = info.epoch;
	T_EQ_U(cot_spool_append(sp, recs, 100, h_before), 0);
	T_EQ_U(cot_spool_append(sp, recs + 100, 50, recs[99].hash), 0);
	T_EQ_U(cot_spool_append(sp, recs + 150, 7, recs[149].hash), 0);
	T_EQ_U(cot_spool_records(sp), 157);
	cot_spool_close(sp);
	return epoch;
}

static int reopen(struct loaded *l, struct cot_spool_info *info)
{
	struct cot_spool *sp;
	char err[256];
	int rc;

	memset(l, 0, sizeof(*l));
	rc = cot_spool_open(&sp, path, key, 0, cb, l, info, err, sizeof(err));
	if (rc == 0)
		cot_spool_close(sp);
	else
		printf("#   open: %s\n", err);
	return rc;
}

static uint8_t *slurp(size_t *len)
{
	int fd = open(path, O_RDONLY);
	struct stat sb;
	uint8_t *p;

	fstat(fd, &sb);
	*len = (size_t)sb.st_size;
	p = malloc(*len);
	T_CHECK(read(fd, p, *len) == (ssize_t)*len);
	close(fd);
	return p;
}

static void spit(const uint8_t *p, size_t len)
{
	int fd = open(path, O_WRONLY | O_TRUNC);

	T_CHECK(write(fd, p, len) == (ssize_t)len);
	close(fd);
}

static void test_roundtrip(void)
{
	struct cot_spool_info info;
	struct loaded l;
	uint64_t epoch = fresh();
	size_t len;
	uint8_t *p = slurp(&len);
	size_t i;

	T_EQ_U(reopen(&l, &info), 0);
	T_CHECK(!info.created && info.epoch == epoch && !info.torn);
	T_CHECK(l.n == 157 && l.first == 1 && l.last == 157 && !l.bad);
	T_CHECK(memcmp(l.head, recs[156].hash, 32) == 0);
	/* Sealed: no record's plaintext appears in the file. */
	for (i = 0; i + 16 <= len; i++)
		T_ASSERT(memcmp(p + i, recs[5].enc + 56, 16) != 0);
	free(p);
}

static void test_every_flip_refused(void)
{
	struct cot_spool_info info;
	struct loaded l;
	size_t len, i, refused = 0, step;
	uint8_t *p;

	fresh();
	p = slurp(&len);
	/* Flip one bit at many positions across header and all blocks. */
	step = len / 400 + 1;
	for (i = 0; i < len; i += step) {
		p[i] ^= 0x10;
		spit(p, len);
		if (reopen(&l, &info) == -COT_EBADMSG && l.n <= 150)
			refused++;
		else
			printf("#   flip at %zu not refused\n", i);
		p[i] ^= 0x10;
	}
	T_EQ_U(refused, (len + step - 1) / step);
	free(p);
}

static void test_reorder_remove_refused(void)
{
	struct cot_spool_info info;
	struct loaded l;
	size_t len, b1, b2, b3;
	uint8_t *p, *q;

	fresh();
	p = slurp(&len);
	/* Block sizes: 16 + 80 + n*148 + 16. */
	b1 = 16 + 80 + 100 * 148 + 16;
	b2 = 16 + 80 + 50 * 148 + 16;
	b3 = 16 + 80 + 7 * 148 + 16;
	T_ASSERT(len == 60 + b1 + b2 + b3);
	q = malloc(len);
	/* Swap blocks 2 and 3. */
	memcpy(q, p, 60 + b1);
	memcpy(q + 60 + b1, p + 60 + b1 + b2, b3);
	memcpy(q + 60 + b1 + b3, p + 60 + b1, b2);
	spit(q, len);
	T_CHECK(reopen(&l, &info) == -COT_EBADMSG);
	/* Remove block 2. */
	memcpy(q, p, 60 + b1);
	memcpy(q + 60 + b1, p + 60 + b1 + b2, b3);
	spit(q, len - b2);
	T_CHECK(reopen(&l, &info) == -COT_EBADMSG);
	/* Duplicate block 1. */
	memcpy(q, p, 60 + b1);
	spit(q, 60 + b1);
	{
		uint8_t *r = malloc(60 + 2 * b1);

		memcpy(r, p, 60 + b1);
		memcpy(r + 60 + b1, p + 60, b1);
		spit(r, 60 + 2 * b1);
		T_CHECK(reopen(&l, &info) == -COT_EBADMSG);
		free(r);
	}
	/* A torn last block is cut off, earlier ones load. */
	spit(p, len - 20);
	T_EQ_U(reopen(&l, &info), 0);
	T_CHECK(info.torn && l.n == 150 && !l.bad);
	T_EQ_U(reopen(&l, &info), 0); /* and the cut is permanent */
	T_CHECK(!info.torn && l.n == 150);
	free(p);
	free(q);
}

static void test_wrong_key(void)
{
	struct cot_spool_info info;
	struct loaded l;

	fresh();
	key[3] ^= 1;
	T_CHECK(reopen(&l, &info) == -COT_EBADMSG);
	key[3] ^= 1;
	T_EQ_U(reopen(&l, &info), 0);
}

static const struct cot_spool_rec *get(void *ctx, size_t i)
{
	return (const struct cot_spool_rec *)ctx + i;
}

static void test_rewrite(void)
{
	struct cot_spool *sp;
	struct cot_spool_info info;
	struct loaded l;
	char err[256];
	uint64_t epoch = fresh();

	T_EQ_U(cot_spool_open(&sp, path, key, 1, NULL, NULL, &info, err,
			      sizeof(err)),
	       0);
	/* Keep records 120..157 (index 119..156): prev is h_119. */
	T_EQ_U(cot_spool_rewrite(sp, epoch, 38, get, recs + 119,
				 recs[118].hash),
	       0);
	T_EQ_U(cot_spool_records(sp), 38);
	/* Appending continues the rewritten file. */
	cot_spool_close(sp);
	T_EQ_U(reopen(&l, &info), 0);
	T_CHECK(l.n == 38 && l.first == 120 && l.last == 157 && !l.bad &&
		info.epoch == epoch);
}

static off_t file_size(const char *p)
{
	struct stat sb;

	return stat(p, &sb) == 0 ? sb.st_size : -1;
}

static int exists(const char *suffix)
{
	char p[600];
	struct stat sb;

	snprintf(p, sizeof(p), "%s%s", path, suffix);
	return stat(p, &sb) == 0;
}

/* Writes past @bytes fail with EFBIG, as on a full disk (0: no limit). */
static void limit_file_size(rlim_t bytes)
{
	static struct rlimit orig;
	static int saved;
	struct rlimit rl;

	if (!saved) {
		getrlimit(RLIMIT_FSIZE, &orig);
		saved = 1;
	}
	rl = orig;
	if (bytes)
		rl.rlim_cur = bytes;
	if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
		printf("#   setrlimit: %s\n", strerror(errno));
}

/*
 * Records 158..200 appended to a fresh spool (157 records) after @fail
 * made a rewrite to a new epoch fail: everything opens, under the old
 * epoch, with all 200 records.
 */
static void rewrite_fails_then_append(int (*fail)(struct cot_spool *))
{
	struct cot_spool *sp;
	struct cot_spool_info info;
	struct loaded l;
	char err[256];
	uint64_t epoch = fresh();
	off_t size = file_size(path);

	mk(300);
	T_ASSERT(cot_spool_open(&sp, path, key, 0, NULL, NULL, &info, err,
				sizeof(err)) == 0);
	T_CHECK(fail(sp) < 0);
	T_EQ_U(cot_spool_records(sp), 157);
	T_CHECK(!exists(".tmp"));
	T_EQ_U(file_size(path), size);
	/* The object still matches the file: appends continue it. */
	T_EQ_U(cot_spool_append(sp, recs + 157, 43, recs[156].hash), 0);
	T_EQ_U(cot_spool_records(sp), 200);
	cot_spool_close(sp);
	T_EQ_U(reopen(&l, &info), 0);
	T_CHECK(l.n == 200 && l.first == 1 && l.last == 200 && !l.bad);
	T_CHECK(memcmp(l.head, recs[199].hash, 32) == 0);
	T_CHECK(info.epoch == epoch && !info.torn);
	/* And a rewrite that works afterwards still does. */
	T_ASSERT(cot_spool_open(&sp, path, key, 0, NULL, NULL, &info, err,
				sizeof(err)) == 0);
	T_EQ_U(cot_spool_rewrite(sp, epoch + 1, 20, get, recs + 180,
				 recs[179].hash),
	       0);
	T_EQ_U(cot_spool_append(sp, recs + 200, 5, recs[199].hash), 0);
	cot_spool_close(sp);
	T_EQ_U(reopen(&l, &info), 0);
	T_CHECK(l.n == 25 && l.first == 181 && l.last == 205 && !l.bad &&
		info.epoch == epoch + 1);
}

/* The rename is refused: a directory holds the spool's name meanwhile. */
static int fail_rename(struct cot_spool *sp)
{
	char aside[600];
	int rc;

	snprintf(aside, sizeof(aside), "%s.aside", path);
	if (rename(path, aside) < 0 || mkdir(path, 0700) < 0)
		return 0; /* the check on the result reports it */
	rc = cot_spool_rewrite(sp, 0x1234, 38, get, recs + 119, recs[118].hash);
	rmdir(path);
	rename(aside, path);
	return rc;
}

/* The disk fills up while the new file is written (after its header). */
static int fail_write(struct cot_spool *sp)
{
	int rc;

	limit_file_size(4096);
	rc = cot_spool_rewrite(sp, 0x1234, 300, get, recs, h_before);
	limit_file_size(0);
	printf("#   rewrite on a full disk: %s\n", strerror(-rc));
	return rc;
}

static void test_rewrite_fails_rename(void)
{
	rewrite_fails_then_append(fail_rename);
}

static void test_rewrite_fails_full(void)
{
	rewrite_fails_then_append(fail_write);
}

/*
 * The disk fills up in the middle of an append: the partial block is cut
 * off, the append fails, and the same records appended once there is
 * room again make a spool that opens with all of them.
 */
static void test_append_fails_full(void)
{
	struct cot_spool *sp;
	struct cot_spool_info info;
	struct loaded l;
	char err[256];
	off_t size;
	int rc;

	fresh();
	mk(300);
	size = file_size(path);
	T_ASSERT(cot_spool_open(&sp, path, key, 1, NULL, NULL, &info, err,
				sizeof(err)) == 0);
	limit_file_size((rlim_t)size + 5000);
	rc = cot_spool_append(sp, recs + 157, 100, recs[156].hash);
	limit_file_size(0);
	T_CHECK(rc == -EFBIG);
	T_EQ_U(file_size(path), size);
	T_EQ_U(cot_spool_records(sp), 157);
	T_EQ_U(cot_spool_append(sp, recs + 157, 100, recs[156].hash), 0);
	T_EQ_U(cot_spool_append(sp, recs + 257, 3, recs[256].hash), 0);
	cot_spool_close(sp);
	T_EQ_U(reopen(&l, &info), 0);
	T_CHECK(l.n == 260 && l.first == 1 && l.last == 260 && !l.bad &&
		!info.torn);
}

static void test_key_load(void)
{
	uint8_t k1[32], k2[32], k3[32];
	char err[256];
	int fds[2];
	const char *hex = "000102030405060708090a0b0c0d0e0f10111213141516171819"
			  "1a1b1c1d1e1f";
	char spec[700];

	snprintf(spec, sizeof(spec), "hex:%s", hex);
	T_EQ_U(cot_spool_key_load(spec, k1, err, sizeof(err)), 0);
	T_ASSERT(pipe(fds) == 0);
	T_CHECK(write(fds[1], hex, strlen(hex)) == (ssize_t)strlen(hex));
	T_CHECK(write(fds[1], "\n", 1) == 1);
	close(fds[1]);
	snprintf(spec, sizeof(spec), "fd:%d", fds[0]);
	T_EQ_U(cot_spool_key_load(spec, k2, err, sizeof(err)), 0);
	T_CHECK(memcmp(k1, k2, 32) == 0);
	/* The cipher key is derived, not the master key itself. */
	T_CHECK(k1[0] != 0 || k1[1] != 1);
	/* derive: from a (private key) file, deterministic, file-bound. */
	{
		char kf[600];
		int fd;

		snprintf(kf, sizeof(kf), "%s/tracker.key", dir);
		fd = open(kf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		T_CHECK(write(fd, "-----BEGIN PRIVATE KEY-----\nAAAA\n", 33) ==
			33);
		close(fd);
		snprintf(spec, sizeof(spec), "derive:%s", kf);
		T_EQ_U(cot_spool_key_load(spec, k2, err, sizeof(err)), 0);
		T_EQ_U(cot_spool_key_load(spec, k3, err, sizeof(err)), 0);
		T_CHECK(memcmp(k2, k3, 32) == 0 && memcmp(k1, k2, 32) != 0);
		unlink(kf);
		T_CHECK(cot_spool_key_load(spec, k3, err, sizeof(err)) < 0);
	}
	T_CHECK(cot_spool_key_load("hex:00", k3, err, sizeof(err)) < 0);
	T_CHECK(cot_spool_key_load("file:/etc/passwd", k3, err, sizeof(err)) <
		0);
}

/* Version-2 records between version-1 ones: kept whole, chain intact. */
static void test_v2_records(void)
{
	struct cot_spool_info info;
	struct loaded l;
	uint32_t longest = 0;
	size_t i;

	mk_names = 1;
	fresh();
	mk_names = 0;
	for (i = 0; i < 157; i++)
		if (recs[i].len > longest)
			longest = recs[i].len;
	T_CHECK(recs[0].len == 140 && recs[1].len > 140 && longest > 140);
	T_EQ_U(reopen(&l, &info), 0);
	T_CHECK(!l.bad && l.n == 157 && l.first == 1 && l.last == 157);
	T_CHECK(memcmp(l.head, recs[156].hash, 32) == 0);
	fresh(); /* leave the v1 spool the other tests expect */
}

int main(void)
{

	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/spool", dir);
	memset(key, 0x42, sizeof(key));
	/* Past RLIMIT_FSIZE a write fails with EFBIG instead of killing. */
	signal(SIGXFSZ, SIG_IGN);
	T_RUN(test_roundtrip);
	T_RUN(test_v2_records);
	T_RUN(test_every_flip_refused);
	T_RUN(test_reorder_remove_refused);
	T_RUN(test_wrong_key);
	T_RUN(test_rewrite);
	T_RUN(test_rewrite_fails_rename);
	T_RUN(test_rewrite_fails_full);
	T_RUN(test_append_fails_full);
	T_RUN(test_key_load);
	unlink(path);
	{
		char tmp[600];

		snprintf(tmp, sizeof(tmp), "%s.tmp", path);
		unlink(tmp);
	}
	rmdir(dir);
	return t_done();
}
