// SPDX-License-Identifier: MIT
/*
 * cotrack pki: a CA, a server certificate for cotrack-logd and one
 * certificate per tracker, for a first install (docs/logd.md says how a
 * real deployment provisions them).  OpenSSL library API; ECDSA P-256;
 * private keys are written 0600 and never overwritten.
 *
 *   cotrack pki init DIR [--server-name NAME]... [--tracker NAME]...
 *   cotrack pki add DIR NAME...        another tracker certificate
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "host/cli.h"
#include "host/log.h"
#include "cotrack/common.h"
#include "cmds.h"

#define DAYS_CA	  3650
#define DAYS_LEAF 825

static void ssl_warn(const char *what)
{
	unsigned long e = ERR_get_error();

	log_warnx("%s: %s", what, e ? ERR_error_string(e, NULL) : "failed");
	ERR_clear_error();
}

static EVP_PKEY *new_key(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	if (!k)
		ssl_warn("key generation");
	return k;
}

static int write_key(const char *dir, const char *name, EVP_PKEY *k)
{
	char path[4096];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "%s/%s.key", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_warn("%s", path);
		return -1;
	}
	f = fdopen(fd, "w");
	if (!f || !PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) ||
	    fclose(f) != 0) {
		log_warnx("%s: write failed", path);
		return -1;
	}
	return 0;
}

static int write_cert(const char *dir, const char *name, X509 *x)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.pem", dir, name);
	f = fopen(path, "wx");
	if (!f || !PEM_write_X509(f, x) || fclose(f) != 0) {
		log_warn("%s", path);
		return -1;
	}
	return 0;
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext || !X509_add_ext(x, ext, -1)) {
		X509_EXTENSION_free(ext);
		ssl_warn("certificate extension");
		return -1;
	}
	X509_EXTENSION_free(ext);
	return 0;
}

/*
 * A certificate for @key named @cn, signed by @ca_key (self-signed when
 * @ca is NULL).  @kind: "ca", "server" (with @san) or "client".
 */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *ca,
		       EVP_PKEY *ca_key, const char *kind, const char *san)
{
	X509 *x = X509_new();
	uint8_t serial[16];
	BIGNUM *bn = NULL;
	X509_NAME *nm;
	int days = ca ? DAYS_LEAF : DAYS_CA;

	if (!x || RAND_bytes(serial, sizeof(serial)) != 1)
		goto err;
	serial[0] &= 0x7f; /* positive */
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
		goto err;
	X509_set_version(x, 2);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), (long)days * 86400);
	X509_set_pubkey(x, key);
	nm = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(nm, "O", MBSTRING_ASC,
				   (const unsigned char *)"cotrack", -1, -1, 0);
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_UTF8,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, ca ? X509_get_subject_name(ca) : nm);
	if (!ca) {
		if (add_ext(x, x, NID_basic_constraints,
			    "critical,CA:TRUE,pathlen:0") ||
		    add_ext(x, x, NID_key_usage,
			    "critical,keyCertSign,cRLSign") ||
		    add_ext(x, x, NID_subject_key_identifier, "hash"))
			goto err;
	} else {
		if (add_ext(x, ca, NID_basic_constraints,
			    "critical,CA:FALSE") ||
		    add_ext(x, ca, NID_key_usage,
			    "critical,digitalSignature") ||
		    add_ext(x, ca, NID_ext_key_usage,
			    !strcmp(kind, "server") ? "serverAuth"
						    : "clientAuth") ||
		    add_ext(x, ca, NID_authority_key_identifier,
			    "keyid:always"))
			goto err;
		if (san && add_ext(x, ca, NID_subject_alt_name, san))
			goto err;
	}
	if (!X509_sign(x, ca_key, EVP_sha256()))
		goto err;
	BN_free(bn);
	return x;
err:
	ssl_warn("making certificate");
	BN_free(bn);
	X509_free(x);
	return NULL;
}

static int leaf(const char *dir, const char *file, const char *cn, X509 *ca,
		EVP_PKEY *ca_key, const char *kind, const char *san)
{
	EVP_PKEY *k = new_key();
	X509 *x = k ? make_cert(k, cn, ca, ca_key, kind, san) : NULL;
	int rc = -1;

	if (x && write_key(dir, file, k) == 0 &&
	    write_cert(dir, file, x) == 0) {
		printf("%s/%s.pem  %s certificate, CN=%s%s%s\n", dir, file,
		       kind, cn, san ? ", " : "", san ? san : "");
		rc = 0;
	}
	X509_free(x);
	EVP_PKEY_free(k);
	return rc;
}

/*
 * A tracker's name is its CN and its file name: keep it plain ("ca" and
 * "server" are taken).
 */
static int name_ok(const char *n)
{
	return cot_cli_name_ok(n) && n[0] != '.' && strcmp(n, "ca") != 0 &&
	       strcmp(n, "server") != 0;
}

static int load_ca(const char *dir, X509 **ca, EVP_PKEY **key)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/ca.pem", dir);
	f = fopen(path, "r");
	*ca = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	snprintf(path, sizeof(path), "%s/ca.key", dir);
	f = fopen(path, "r");
	*key = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	if (!*ca || !*key) {
		log_warnx("%s: no CA (ca.pem, ca.key); run cotrack pki init",
			  dir);
		return -1;
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cotrack pki init DIR [--server-name NAME]... "
		"[--tracker NAME]...\n"
		"       cotrack pki add DIR TRACKER...\n"
		"  init: DIR/ca.{pem,key}, DIR/server.{pem,key} (for "
		"localhost,\n"
		"        127.0.0.1, ::1 and every --server-name: an address "
		"as\n"
		"        an IP entry, a name as a DNS one) and one\n"
		"        DIR/NAME.{pem,key} per tracker (default: tracker-1).\n"
		"  add:  more tracker certificates from the same CA.\n"
		"  Keys are 0600 and never overwritten.\n");
}

int cmd_pki(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server-name", required_argument, NULL, 's' },
		{ "tracker", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	char san[2048] = "DNS:localhost,IP:127.0.0.1,IP:::1";
	const char *trackers[64], *dir;
	int ntr = 0, o, i, rc = 1;
	EVP_PKEY *ca_key = NULL;
	X509 *ca = NULL;
	size_t l;

	if (argc >= 2 &&
	    (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (argc >= 2 && !strcmp(argv[1], "add")) {
		if (argc < 4) {
			usage(stderr);
			return COT_EXIT_USAGE;
		}
		if (load_ca(argv[2], &ca, &ca_key) < 0)
			return 1;
		rc = 0;
		for (i = 3; i < argc; i++) {
			if (!name_ok(argv[i])) {
				log_warnx("bad tracker name '%s'", argv[i]);
				rc = 1;
				continue;
			}
			if (leaf(argv[2], argv[i], argv[i], ca, ca_key,
				 "client", NULL) < 0)
				rc = 1;
		}
		goto out;
	}
	if (argc < 3 || strcmp(argv[1], "init") != 0) {
		usage(stderr);
		return COT_EXIT_USAGE;
	}
	dir = argv[2];
	optind = 3;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 's': {
			/* an address is an iPAddress name (what TLS clients
			 * match an address against), anything else a dNSName */
			unsigned char ip[16];
			int is_ip = inet_pton(AF_INET, optarg, ip) == 1 ||
				    inet_pton(AF_INET6, optarg, ip) == 1;

			l = strlen(san);
			if (!optarg[0] || strpbrk(optarg, ", \t\n") ||
			    l + strlen(optarg) + 5 >= sizeof(san)) {
				log_warnx("bad server name '%s' (or too many)",
					  optarg);
				return COT_EXIT_USAGE;
			}
			snprintf(san + l, sizeof(san) - l, ",%s:%s",
				 is_ip ? "IP" : "DNS", optarg);
			break;
		}
		case 't':
			if (!name_ok(optarg) ||
			    ntr == (int)COT_ARRAY_SIZE(trackers)) {
				log_warnx("bad tracker name '%s' (or too many)",
					  optarg);
				return COT_EXIT_USAGE;
			}
			trackers[ntr++] = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return COT_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return COT_EXIT_USAGE;
	}
	if (!ntr)
		trackers[ntr++] = "tracker-1";
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		log_warn("%s", dir);
		return 1;
	}
	ca_key = new_key();
	ca = ca_key ? make_cert(ca_key, "cotrack CA", NULL, ca_key, "ca", NULL)
		    : NULL;
	if (!ca || write_key(dir, "ca", ca_key) < 0 ||
	    write_cert(dir, "ca", ca) < 0)
		goto out;
	printf("%s/ca.pem  CA certificate\n", dir);
	if (leaf(dir, "server", "cotrack-logd", ca, ca_key, "server", san) < 0)
		goto out;
	for (i = 0; i < ntr; i++)
		if (leaf(dir, trackers[i], trackers[i], ca, ca_key, "client",
			 NULL) < 0)
			goto out;
	rc = 0;
out:
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	return rc;
}
