/* SPDX-License-Identifier: MIT */
/*
 * host/tls: TLS 1.3 with mutual authentication over TCP (OpenSSL).
 *
 * Both ends load a CA, their own certificate and key.  The server
 * demands a client certificate signed by the CA; the client checks the
 * server's certificate against the CA and the host name or IP address it
 * dialled.  Only TLS 1.3, no session tickets, no 0-RTT: a connection is
 * never resumed and early data can never be replayed.
 *
 * Sockets are non-blocking; every read and write takes a timeout in
 * milliseconds (-1: none).  Errors are negative COT_E* codes:
 *   -COT_ENODATA  peer closed the connection cleanly
 *   -COT_EAGAIN   timeout
 *   -COT_EPROTO   TLS failure (handshake, bad record MAC, ...);
 *                 cot_tls_error() says what
 *   -COT_EIO      socket error
 *
 * Thread-safety: a cot_tls_ctx may be shared by threads once made; a
 * cot_tls connection belongs to one thread at a time.
 */
#ifndef COTRACK_HOST_TLS_H
#define COTRACK_HOST_TLS_H

#include <stddef.h>
#include <stdint.h>

struct cot_tls_ctx;
struct cot_tls;

enum cot_tls_role { COT_TLS_SERVER, COT_TLS_CLIENT };

/*
 * Make a context from PEM files.  Returns NULL on failure and puts a
 * message in @err (@errlen bytes).
 */
struct cot_tls_ctx *cot_tls_ctx_new(enum cot_tls_role role, const char *ca_file,
				    const char *cert_file, const char *key_file,
				    char *err, size_t errlen);
void cot_tls_ctx_free(struct cot_tls_ctx *ctx);

/*
 * Server only: also accept TLS 1.2, restricted to ECDHE key exchange
 * with AEAD ciphers (AES-GCM, ChaCha20-Poly1305), no renegotiation.  For
 * trackers whose TLS library has no 1.3 (BitVisor's mbedTLS 2.28);
 * the caller decides after the handshake whose certificate may use it
 * (cot_tls_version).  0, or -1 with a message in @err.
 */
int cot_tls_ctx_allow_tls12(struct cot_tls_ctx *ctx, char *err, size_t errlen);

/*
 * Client: TCP connect to @host:@port and handshake, within @timeout_ms.
 * Returns 0 and *out, or a negative code with a message in @err.
 */
int cot_tls_connect(struct cot_tls **out, struct cot_tls_ctx *ctx,
		    const char *host, const char *port, int timeout_ms,
		    char *err, size_t errlen);

/* Why a server-side handshake failed (for the anomaly log). */
enum cot_tls_fail {
	COT_TLS_FAIL_NONE = 0,
	COT_TLS_FAIL_CERT,	/* client certificate missing or not trusted */
	COT_TLS_FAIL_HANDSHAKE, /* anything else: garbage, replay, timeout */
};

/*
 * Server: handshake on accepted socket @fd (taken over: closed on
 * failure and by cot_tls_close).  On failure returns a negative code,
 * *why, a message in @err and, when the client presented a certificate,
 * its subject in @subject (may be "").
 */
int cot_tls_accept(struct cot_tls **out, struct cot_tls_ctx *ctx, int fd,
		   int timeout_ms, enum cot_tls_fail *why, char *subject,
		   size_t subjlen, char *err, size_t errlen);

/* Read exactly @len bytes / write all @len bytes.  0 or negative code. */
int cot_tls_read(struct cot_tls *c, void *buf, size_t len, int timeout_ms);
int cot_tls_write(struct cot_tls *c, const void *buf, size_t len,
		  int timeout_ms);

/*
 * Wait until a read can make progress (data buffered in TLS or on the
 * socket).  Returns 1 readable, 0 timeout, negative on error.
 */
int cot_tls_wait_readable(struct cot_tls *c, int timeout_ms);

/* Socket fd, for poll() together with other fds. */
int cot_tls_fd(const struct cot_tls *c);

/* 1 when the TLS layer holds decrypted bytes not yet read. */
int cot_tls_pending(struct cot_tls *c);

/* Negotiated protocol: 13 (TLS 1.3) or 12 (TLS 1.2). */
int cot_tls_version(const struct cot_tls *c);

/* Peer certificate's common name (NUL-terminated, truncated to fit). */
int cot_tls_peer_cn(struct cot_tls *c, char *buf, size_t len);
/* Peer certificate's SHA-256 fingerprint as lowercase hex (65 bytes). */
int cot_tls_peer_fingerprint(struct cot_tls *c, char out[65]);

/* Last error message of @c ("" when none). */
const char *cot_tls_error(const struct cot_tls *c);

/* Send close_notify (best effort), close the socket and free. NULL ok. */
void cot_tls_close(struct cot_tls *c);

#endif
