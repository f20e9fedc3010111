// SPDX-License-Identifier: MIT
/* host/tls: TLS 1.3 mutual authentication over TCP (see tls.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "cotrack/common.h"
#include "clock.h"
#include "tls.h"

struct cot_tls_ctx {
	SSL_CTX *ctx;
	enum cot_tls_role role;
};

struct cot_tls {
	SSL *ssl;
	int fd;
	char err[256];
	char bad_subject[256]; /* subject of a certificate that failed */
	int verify_failed;
};

static void ssl_errstr(char *buf, size_t len, const char *what)
{
	unsigned long e = ERR_get_error();
	char es[200];

	if (!buf || !len)
		return;
	if (e) {
		ERR_error_string_n(e, es, sizeof(es));
		snprintf(buf, len, "%s: %s", what, es);
	} else {
		snprintf(buf, len, "%s", what);
	}
	ERR_clear_error();
}

static int64_t mono_ms(void)
{
	return (int64_t)(cot_clock_mono_ns() / 1000000);
}

/* Milliseconds left until @deadline (-1: none), at least 0. */
static int left_ms(int64_t deadline)
{
	int64_t d;

	if (deadline < 0)
		return -1;
	d = deadline - mono_ms();
	return d < 0 ? 0 : (int)COT_MIN(d, 1 << 30);
}

static int64_t deadline_of(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : mono_ms() + timeout_ms;
}

/* poll one fd; returns 1 ready, 0 timeout, -COT_EIO. */
static int wait_fd(int fd, short ev, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = ev };
	int n;

	do
		n = poll(&p, 1, timeout_ms);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -COT_EIO;
	return n > 0;
}

static int verify_cb(int ok, X509_STORE_CTX *xs)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(
		xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct cot_tls *c = ssl ? SSL_get_app_data(ssl) : NULL;
	X509 *cert;

	if (!ok && c) {
		c->verify_failed = 1;
		cert = X509_STORE_CTX_get_current_cert(xs);
		if (cert && !c->bad_subject[0])
			X509_NAME_oneline(X509_get_subject_name(cert),
					  c->bad_subject,
					  sizeof(c->bad_subject));
	}
	return ok;
}

struct cot_tls_ctx *cot_tls_ctx_new(enum cot_tls_role role, const char *ca_file,
				    const char *cert_file, const char *key_file,
				    char *err, size_t errlen)
{
	struct cot_tls_ctx *t;
	SSL_CTX *ctx;

	ctx = SSL_CTX_new(role == COT_TLS_SERVER ? TLS_server_method()
						 : TLS_client_method());
	if (!ctx) {
		ssl_errstr(err, errlen, "SSL_CTX_new");
		return NULL;
	}
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION)) {
		ssl_errstr(err, errlen, "TLS 1.3 only");
		goto err_ctx;
	}
	if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
		ssl_errstr(err, errlen, "loading CA");
		goto err_ctx;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		ssl_errstr(err, errlen, "loading certificate");
		goto err_ctx;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		ssl_errstr(err, errlen, "loading private key");
		goto err_ctx;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_max_early_data(ctx, 0);
	if (role == COT_TLS_SERVER) {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca_file);

		if (names)
			SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_num_tickets(ctx, 0);
		SSL_CTX_set_verify(
			ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
			verify_cb);
		/* Client certificates must carry the clientAuth purpose. */
		SSL_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_cb);
		SSL_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, errlen, "out of memory");
		goto err_ctx;
	}
	t->ctx = ctx;
	t->role = role;
	return t;

err_ctx:
	SSL_CTX_free(ctx);
	return NULL;
}

void cot_tls_ctx_free(struct cot_tls_ctx *ctx)
{
	if (!ctx)
		return;
	SSL_CTX_free(ctx->ctx);
	free(ctx);
}

static void tune_socket(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static struct cot_tls *conn_new(struct cot_tls_ctx *ctx, int fd)
{
	struct cot_tls *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->fd = fd;
	c->ssl = SSL_new(ctx->ctx);
	if (!c->ssl) {
		free(c);
		return NULL;
	}
	SSL_set_app_data(c->ssl, c);
	SSL_set_fd(c->ssl, fd);
	return c;
}

/*
 * Drive a non-blocking SSL call (@op on @c) until it succeeds, fails or
 * @deadline passes.  Returns the call's positive result or a negative code.
 */
static int drive(struct cot_tls *c, int (*op)(SSL *, void *, int), void *buf,
		 int len, int64_t deadline, const char *what)
{
	int n, e, w;

	for (;;) {
		ERR_clear_error();
		errno = 0;
		n = op(c->ssl, buf, len);
		if (n > 0)
			return n;
		e = SSL_get_error(c->ssl, n);
		switch (e) {
		case SSL_ERROR_WANT_READ:
		case SSL_ERROR_WANT_WRITE:
			w = wait_fd(c->fd,
				    e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
				    left_ms(deadline));
			if (w < 0)
				return w;
			if (w == 0) {
				snprintf(c->err, sizeof(c->err), "%s: timeout",
					 what);
				return -COT_EAGAIN;
			}
			continue;
		case SSL_ERROR_ZERO_RETURN:
			snprintf(c->err, sizeof(c->err), "%s: peer closed",
				 what);
			return -COT_ENODATA;
		case SSL_ERROR_SYSCALL:
			if (!ERR_peek_error()) {
				snprintf(c->err, sizeof(c->err),
					 "%s: connection cut (%s)", what,
					 errno ? strerror(errno) : "eof");
				return -COT_EIO;
			}
			ssl_errstr(c->err, sizeof(c->err), what);
			return -COT_EIO;
		default:
			if (ERR_GET_REASON(ERR_peek_error()) ==
			    SSL_R_UNEXPECTED_EOF_WHILE_READING) {
				ERR_clear_error();
				snprintf(c->err, sizeof(c->err),
					 "%s: connection cut", what);
				return -COT_EIO;
			}
			ssl_errstr(c->err, sizeof(c->err), what);
			return -COT_EPROTO;
		}
	}
}

static int op_connect(SSL *ssl, void *buf, int len)
{
	(void)buf;
	(void)len;
	return SSL_connect(ssl);
}

static int op_accept(SSL *ssl, void *buf, int len)
{
	(void)buf;
	(void)len;
	return SSL_accept(ssl);
}

static int op_read(SSL *ssl, void *buf, int len)
{
	return SSL_read(ssl, buf, len);
}

static int op_write(SSL *ssl, void *buf, int len)
{
	return SSL_write(ssl, buf, len);
}

static int tcp_connect(const char *host, const char *port, int64_t deadline,
		       char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int fd = -1, rc, w, soerr;
	socklen_t sl;

	rc = getaddrinfo(host, port, &hints, &res);
	if (rc) {
		snprintf(err, errlen, "%s:%s: %s", host, port,
			 gai_strerror(rc));
		return -COT_EINVAL;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0)
			continue;
		tune_socket(fd);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			w = wait_fd(fd, POLLOUT, left_ms(deadline));
			sl = sizeof(soerr);
			if (w > 0 &&
			    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) ==
				    0 &&
			    soerr == 0)
				break;
			errno = w == 0 ? ETIMEDOUT : (w > 0 ? soerr : errno);
		}
		snprintf(err, errlen, "connect %s:%s: %s", host, port,
			 strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd < 0 ? -COT_EIO : fd;
}

int cot_tls_connect(struct cot_tls **out, struct cot_tls_ctx *ctx,
		    const char *host, const char *port, int timeout_ms,
		    char *err, size_t errlen)
{
	int64_t deadline = deadline_of(timeout_ms);
	unsigned char tmp[16];
	struct cot_tls *c;
	int fd, rc;

	*out = NULL;
	fd = tcp_connect(host, port, deadline, err, errlen);
	if (fd < 0)
		return fd;
	c = conn_new(ctx, fd);
	if (!c) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -COT_ENOMEM;
	}
	/* Check the server certificate's name against what we dialled. */
	if (inet_pton(AF_INET, host, tmp) == 1 ||
	    inet_pton(AF_INET6, host, tmp) == 1) {
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), host);
	} else {
		SSL_set_tlsext_host_name(c->ssl, host);
		SSL_set1_host(c->ssl, host);
	}
	rc = drive(c, op_connect, NULL, 0, deadline, "handshake");
	if (rc < 0) {
		snprintf(err, errlen, "%s:%s: %s", host, port, c->err);
		cot_tls_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

int cot_tls_accept(struct cot_tls **out, struct cot_tls_ctx *ctx, int fd,
		   int timeout_ms, enum cot_tls_fail *why, char *subject,
		   size_t subjlen, char *err, size_t errlen)
{
	struct cot_tls *c;
	int rc;

	*out = NULL;
	*why = COT_TLS_FAIL_NONE;
	if (subjlen)
		subject[0] = '\0';
	tune_socket(fd);
	c = conn_new(ctx, fd);
	if (!c) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		*why = COT_TLS_FAIL_HANDSHAKE;
		return -COT_ENOMEM;
	}
	rc = drive(c, op_accept, NULL, 0, deadline_of(timeout_ms), "handshake");
	if (rc < 0) {
		/*
		 * A missing certificate ends the handshake without calling
		 * the verify callback; OpenSSL says so in the error.
		 */
		*why = c->verify_failed || strstr(c->err, "certificate") != NULL
			       ? COT_TLS_FAIL_CERT
			       : COT_TLS_FAIL_HANDSHAKE;
		snprintf(subject, subjlen, "%s", c->bad_subject);
		snprintf(err, errlen, "%s", c->err);
		cot_tls_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

int cot_tls_read(struct cot_tls *c, void *buf, size_t len, int timeout_ms)
{
	int64_t deadline = deadline_of(timeout_ms);
	uint8_t *p = buf;
	int n;

	while (len) {
		n = drive(c, op_read, p, (int)COT_MIN(len, 1u << 30), deadline,
			  "read");
		if (n < 0)
			return n;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int cot_tls_write(struct cot_tls *c, const void *buf, size_t len,
		  int timeout_ms)
{
	int64_t deadline = deadline_of(timeout_ms);
	const uint8_t *p = buf;
	int n;

	while (len) {
		/* SSL_write takes a non-const pointer but does not write. */
		n = drive(c, op_write, (void *)(uintptr_t)p,
			  (int)COT_MIN(len, 1u << 30), deadline, "write");
		if (n < 0)
			return n;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int cot_tls_pending(struct cot_tls *c)
{
	return SSL_pending(c->ssl) > 0;
}

int cot_tls_wait_readable(struct cot_tls *c, int timeout_ms)
{
	if (SSL_pending(c->ssl) > 0)
		return 1;
	return wait_fd(c->fd, POLLIN, timeout_ms);
}

int cot_tls_fd(const struct cot_tls *c)
{
	return c->fd;
}

/*
 * TLS 1.2 for trackers without 1.3: forward secrecy (ECDHE) and AEAD
 * only, the same properties the 1.3 suites have.
 */
#define TLS12_CIPHERS                                                          \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"         \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256:"           \
	"ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305"

int cot_tls_ctx_allow_tls12(struct cot_tls_ctx *t, char *err, size_t errlen)
{
	if (!SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION) ||
	    SSL_CTX_set_cipher_list(t->ctx, TLS12_CIPHERS) != 1) {
		ssl_errstr(err, errlen, "TLS 1.2 (ECDHE, AEAD)");
		return -1;
	}
	SSL_CTX_set_options(t->ctx, SSL_OP_NO_RENEGOTIATION |
					    SSL_OP_CIPHER_SERVER_PREFERENCE);
	return 0;
}

int cot_tls_version(const struct cot_tls *c)
{
	return SSL_version(c->ssl) == TLS1_3_VERSION ? 13 : 12;
}

int cot_tls_peer_cn(struct cot_tls *c, char *buf, size_t len)
{
	X509 *cert = SSL_get0_peer_certificate(c->ssl);

	if (len)
		buf[0] = '\0';
	if (!cert || len > INT32_MAX)
		return -COT_ENOENT;
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert),
				      NID_commonName, buf, (int)len) < 0)
		return -COT_ENOENT;
	return 0;
}

int cot_tls_peer_fingerprint(struct cot_tls *c, char out[65])
{
	X509 *cert = SSL_get0_peer_certificate(c->ssl);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	out[0] = '\0';
	if (!cert || !X509_digest(cert, EVP_sha256(), md, &n) || n != 32)
		return -COT_ENOENT;
	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return 0;
}

const char *cot_tls_error(const struct cot_tls *c)
{
	return c->err;
}

void cot_tls_close(struct cot_tls *c)
{
	if (!c)
		return;
	ERR_clear_error();
	SSL_shutdown(c->ssl); /* non-blocking: one attempt, no wait */
	ERR_clear_error();
	SSL_free(c->ssl);
	close(c->fd);
	free(c);
}
