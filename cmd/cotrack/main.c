// SPDX-License-Identifier: MIT
/* cotrack: the command-line tool.  Dispatches to cmd/cotrack/<name>.c. */
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "host/log.h"

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *help;
} cmds[] = {
	{ "replay", cmd_replay,
	  "track the connections in a pcap/pcapng capture" },
	{ "vmi", cmd_vmi,
	  "list or watch a guest's TCP sockets from its memory" },
	{ "query", cmd_query, "filter the records stored by cotrack-logd" },
	{ "graph", cmd_graph, "draw the service map from stored records" },
	{ "pki", cmd_pki, "make a CA and certificates for a first install" },
	{ "verify", cmd_verify, "re-check stored hash chains, list anomalies" },
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: cotrack COMMAND [ARGS...]\n"
		   "       cotrack COMMAND --help\n\ncommands:\n");
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (cmds[i].fn)
			fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].help);
}

int main(int argc, char **argv)
{
	size_t i;

	log_init("cotrack", 1);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[1], cmds[i].name) != 0)
			continue;
		if (!cmds[i].fn) {
			log_warnx("%s: not built into this binary", argv[1]);
			return 2;
		}
		return cmds[i].fn(argc - 1, argv + 1);
	}
	log_warnx("unknown command '%s' (try cotrack --help)", argv[1]);
	return 2;
}
