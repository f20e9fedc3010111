// SPDX-License-Identifier: MIT
/* Records as IPFIX biflows through libfixbuf: see ipfix.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fixbuf/public.h>

#include "cotrack/common.h"
#include "host/ipfix.h"

#define TID_INT 258 /* internal: struct rec (never exported) */
#define TID_V4	256
#define TID_V6	257

/* Our elements (PEN COT_IPFIX_PEN). */
static fbInfoElement_t our_ies[] = {
	FB_IE_INIT_FULL("cotrackVmName", COT_IPFIX_PEN, 1, FB_IE_VARLEN,
			FB_IE_DEFAULT, 0, 0, FB_STRING,
			"the VM the record is of (cotrack's vm field)"),
	FB_IE_INIT_FULL("cotrackSeenBy", COT_IPFIX_PEN, 2, 1,
			FB_IE_IDENTIFIER | FB_IE_F_ENDIAN, 1, 3, FB_UINT_8,
			"which view saw it: 1 nic, 2 vmi, 3 both"),
	FB_IE_INIT_FULL("cotrackRecordSeq", COT_IPFIX_PEN, 3, 8,
			FB_IE_IDENTIFIER | FB_IE_F_ENDIAN, 0, 0, FB_UINT_64,
			"the record's sequence number in its tracker's stream"),
	FB_IE_INIT_FULL("cotrackNetns", COT_IPFIX_PEN, 4, 4,
			FB_IE_IDENTIFIER | FB_IE_F_ENDIAN, 0, 0, FB_UINT_32,
			"the guest network namespace inode, 0 when unknown"),
	FB_IE_INIT_FULL("cotrackRecordFlags", COT_IPFIX_PEN, 5, 1,
			FB_IE_FLAGS | FB_IE_F_ENDIAN, 0, 0, FB_UINT_8,
			"record flags: 1 hidden from the memory view, 2 hidden "
			"from the NIC"),
	FB_IE_NULL,
};

/*
 * The elements of the templates: one export template per address family
 * (bit 1 of the flags: the IPv4 addresses, bit 2: the IPv6 ones), and the
 * internal one with both, which struct rec mirrors (fixbuf copies by the
 * spec's sizes, in this order).
 */
#define F_V4 1
#define F_V6 2
static fbInfoElementSpec_t tmpl_spec[] = {
	{ "flowStartMilliseconds", 8, 0 },
	{ "flowEndMilliseconds", 8, 0 },
	{ "octetDeltaCount", 8, 0 },
	{ "packetDeltaCount", 8, 0 },
	{ "reverseOctetDeltaCount", 8, 0 },
	{ "reversePacketDeltaCount", 8, 0 },
	{ "cotrackRecordSeq", 8, 0 },
	{ "cotrackVmName", FB_IE_VARLEN, 0 },
	{ "sourceIPv6Address", 16, F_V6 },
	{ "destinationIPv6Address", 16, F_V6 },
	{ "sourceIPv4Address", 4, F_V4 },
	{ "destinationIPv4Address", 4, F_V4 },
	{ "cotrackNetns", 4, 0 },
	{ "sourceTransportPort", 2, 0 },
	{ "destinationTransportPort", 2, 0 },
	{ "protocolIdentifier", 1, 0 },
	{ "tcpControlBits", 1, 0 },
	{ "reverseTcpControlBits", 1, 0 },
	{ "flowEndReason", 1, 0 },
	{ "biflowDirection", 1, 0 },
	{ "cotrackSeenBy", 1, 0 },
	{ "cotrackRecordFlags", 1, 0 },
	FB_IESPEC_NULL,
};

/*
 * The internal record: every element of both templates, in the spec's
 * order.  fixbuf copies into the family's export template the elements
 * that template has.
 */
struct rec {
	uint64_t start_ms, end_ms, octets, pkts, rev_octets, rev_pkts, seq;
	fbVarfield_t vm;
	uint8_t src6[16], dst6[16];
	uint32_t src4, dst4;
	uint32_t netns;
	uint16_t sport, dport;
	uint8_t proto, flags, rev_flags, end_reason, direction, seen_by, rflags;
};

struct cot_ipfix {
	fbInfoModel_t *model;
	fBuf_t *buf; /* owns the session and the exporter */
	fbSession_t *session;
	uint16_t cur; /* export template the buffer is set to, or 0 */
};

static void set_err(char *err, size_t len, const char *what, GError *e)
{
	snprintf(err, len, "%s: %s", what, e ? e->message : "failed");
	if (e)
		g_error_free(e);
}

int cot_ipfix_parse_target(const char *spec, bool *tcp, char *host,
			   size_t hostcap, char *port, size_t portcap)
{
	const char *h = spec, *colon, *hend;
	size_t hl;

	*tcp = false;
	if (!strncmp(h, "udp://", 6)) {
		h += 6;
	} else if (!strncmp(h, "tcp://", 6)) {
		h += 6;
		*tcp = true;
	} else if (strstr(h, "://")) {
		return -COT_EINVAL;
	}
	if (*h == '[') {
		hend = strchr(h, ']');
		if (!hend || hend[1] != ':')
			return -COT_EINVAL;
		colon = hend + 1;
		h++;
	} else {
		colon = strrchr(h, ':');
		if (!colon || memchr(h, ':', (size_t)(colon - h)))
			return -COT_EINVAL;
		hend = colon;
	}
	hl = (size_t)(hend - h);
	if (!hl || hl >= hostcap || !colon[1] || strlen(colon + 1) >= portcap)
		return -COT_EINVAL;
	for (const char *c = colon + 1; *c; c++)
		if (*c < '0' || *c > '9')
			return -COT_EINVAL;
	if (atoi(colon + 1) < 1 || atoi(colon + 1) > 65535)
		return -COT_EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	strcpy(port, colon + 1);
	return 0;
}

static bool add_template(struct cot_ipfix *x, bool internal, uint16_t tid,
			 uint32_t flags, char *err, size_t errlen)
{
	fbTemplate_t *t = fbTemplateAlloc(x->model);
	GError *e = NULL;

	if (!fbTemplateAppendSpecArray(t, tmpl_spec, flags, &e) ||
	    !fbSessionAddTemplate(x->session, internal, tid, t, &e)) {
		set_err(err, errlen, "IPFIX template", e);
		return false;
	}
	return true;
}

struct cot_ipfix *cot_ipfix_open(const char *spec, bool file, uint32_t domain,
				 char *err, size_t errlen)
{
	struct cot_ipfix *x = calloc(1, sizeof(*x));
	fbExporter_t *ex = NULL;
	GError *e = NULL;

	if (!x) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	x->model = fbInfoModelAlloc();
	fbInfoModelAddElementArray(x->model, our_ies);
	x->session = fbSessionAlloc(x->model);
	if (file) {
		ex = fbExporterAllocFile(spec);
	} else {
		char host[256], port[8];
		bool tcp;
		fbConnSpec_t cs;

		if (cot_ipfix_parse_target(spec, &tcp, host, sizeof(host), port,
					   sizeof(port)) < 0) {
			snprintf(err, errlen,
				 "%s: not [udp://|tcp://]HOST:PORT", spec);
			goto fail;
		}
		memset(&cs, 0, sizeof(cs));
		cs.transport = tcp ? FB_TCP : FB_UDP;
		cs.host = host;
		cs.svc = port;
		/* fixbuf copies the spec. */
		ex = fbExporterAllocNet(&cs);
	}
	if (!ex) {
		snprintf(err, errlen, "%s: cannot open the IPFIX exporter",
			 spec);
		goto fail;
	}
	/* Templates first, then the buffer: each goes out once, below. */
	if (!add_template(x, true, TID_INT, F_V4 | F_V6, err, errlen) ||
	    !add_template(x, false, TID_V4, F_V4, err, errlen) ||
	    !add_template(x, false, TID_V6, F_V6, err, errlen)) {
		fbExporterClose(ex);
		goto fail;
	}
	x->buf = fBufAllocForExport(x->session, ex);
	fbSessionSetDomain(x->session, domain);
	if (!fbSessionExportTemplates(x->session, &e) ||
	    !fBufSetInternalTemplate(x->buf, TID_INT, &e)) {
		set_err(err, errlen, "IPFIX templates", e);
		goto fail;
	}
	return x;
fail:
	if (x->buf)
		fBufFree(x->buf);
	else if (x->session)
		fbSessionFree(x->session);
	if (x->model)
		fbInfoModelFree(x->model);
	free(x);
	return NULL;
}

/* RFC 5102 flowEndReason from how the connection ended. */
static uint8_t end_reason(uint8_t end)
{
	switch (end) {
	case COT_END_IDLE:
		return 1; /* idle timeout */
	case COT_END_ACTIVE:
		return 2; /* active timeout */
	case COT_END_FIN:
	case COT_END_RST:
	case COT_END_GONE:
		return 3; /* end of flow detected */
	default:
		return 4; /* forced end: still open at flush, shutdown */
	}
}

static uint64_t ms(uint64_t ns)
{
	return ns / 1000000ULL;
}

static bool use(struct cot_ipfix *x, uint16_t tid, char *err, size_t errlen)
{
	GError *e = NULL;

	if (x->cur == tid)
		return true;
	if (!fBufSetExportTemplate(x->buf, tid, &e)) {
		set_err(err, errlen, "IPFIX", e);
		return false;
	}
	x->cur = tid;
	return true;
}

int cot_ipfix_add(struct cot_ipfix *x, const struct cot_rec *r, char *err,
		  size_t errlen)
{
	GError *e = NULL;
	/* Both ends of one family: a record never mixes them. */
	bool v4 = cot_addr_is_v4(&r->src) && cot_addr_is_v4(&r->dst);
	struct rec o;

	memset(&o, 0, sizeof(o));
	o.start_ms = ms(r->first_ns);
	o.end_ms = ms(r->last_ns);
	o.octets = r->bytes_fwd;
	o.pkts = r->pkts_fwd;
	o.rev_octets = r->bytes_rev;
	o.rev_pkts = r->pkts_rev;
	o.seq = r->seq;
	o.vm.buf = (uint8_t *)(uintptr_t)r->vm;
	o.vm.len = strnlen(r->vm, sizeof(r->vm));
	if (v4) {
		o.src4 = cot_get_be32(&r->src.b[12]);
		o.dst4 = cot_get_be32(&r->dst.b[12]);
	} else {
		memcpy(o.src6, r->src.b, 16);
		memcpy(o.dst6, r->dst.b, 16);
	}
	o.netns = r->netns;
	o.sport = r->sport;
	o.dport = r->dport;
	o.proto = r->ipproto;
	o.flags = r->tcp_flags_fwd;
	o.rev_flags = r->tcp_flags_rev;
	o.end_reason = end_reason(r->end);
	o.direction = r->tcp_state == COT_TCP_MIDSTREAM ? 0 : 1;
	o.seen_by = r->seen_by;
	o.rflags = r->flags;
	if (!use(x, v4 ? TID_V4 : TID_V6, err, errlen))
		return -COT_EIO;
	if (!fBufAppend(x->buf, (uint8_t *)&o, sizeof(o), &e)) {
		set_err(err, errlen, "IPFIX export", e);
		return -COT_EIO;
	}
	return 0;
}

int cot_ipfix_flush(struct cot_ipfix *x, char *err, size_t errlen)
{
	GError *e = NULL;

	if (!fBufEmit(x->buf, &e)) {
		set_err(err, errlen, "IPFIX export", e);
		return -COT_EIO;
	}
	return 0;
}

int cot_ipfix_templates(struct cot_ipfix *x, char *err, size_t errlen)
{
	GError *e = NULL;

	if (!fBufEmit(x->buf, &e) ||
	    !fbSessionExportTemplates(x->session, &e)) {
		set_err(err, errlen, "IPFIX templates", e);
		return -COT_EIO;
	}
	/* Templates end the current set: choose the export one again. */
	x->cur = 0;
	return 0;
}

void cot_ipfix_close(struct cot_ipfix *x)
{
	if (!x)
		return;
	if (x->buf) {
		fBufEmit(x->buf, NULL);
		fBufFree(x->buf);
	}
	if (x->model)
		fbInfoModelFree(x->model);
	free(x);
}
