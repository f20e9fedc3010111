// SPDX-License-Identifier: MIT
/*
 * offload: what `ethtool -K IF tx on|off tso on|off gso on|off` does,
 * through the same SIOCETHTOOL requests, for the busybox guests (which
 * have no ethtool).  Prints the settings after the change:
 *
 *   offload IF on|off|show    ->  "offload IF tx=1 tso=1 gso=1"
 *
 * "off" turns off TSO, GSO and transmit checksumming (so the guest
 * sends wire-size frames with full checksums); "on" turns them on in
 * the opposite order (TSO needs the checksum).
 */
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static int s;
static struct ifreq ifr;

static int eth(uint32_t cmd, uint32_t *val)
{
	struct ethtool_value ev = { .cmd = cmd, .data = val ? *val : 0 };

	ifr.ifr_data = (void *)&ev;
	if (ioctl(s, SIOCETHTOOL, &ifr) < 0)
		return -1;
	if (val)
		*val = ev.data;
	return 0;
}

static int set(uint32_t cmd, uint32_t on, const char *what)
{
	if (eth(cmd, &on) < 0) {
		fprintf(stderr, "offload: %s %s: ", ifr.ifr_name, what);
		perror(NULL);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	uint32_t tx = 0, tso = 0, gso = 0;
	int on;

	if (argc != 3 || strlen(argv[1]) >= IFNAMSIZ ||
	    (strcmp(argv[2], "on") && strcmp(argv[2], "off") &&
	     strcmp(argv[2], "show"))) {
		fprintf(stderr, "usage: offload IF on|off|show\n");
		return 2;
	}
	s = socket(AF_INET, SOCK_DGRAM, 0);
	if (s < 0) {
		perror("offload: socket");
		return 1;
	}
	strcpy(ifr.ifr_name, argv[1]);
	on = !strcmp(argv[2], "on");
	if (!strcmp(argv[2], "off") && (set(ETHTOOL_STSO, 0, "tso") < 0 ||
					set(ETHTOOL_SGSO, 0, "gso") < 0 ||
					set(ETHTOOL_STXCSUM, 0, "tx") < 0))
		return 1;
	if (on && (set(ETHTOOL_STXCSUM, 1, "tx") < 0 ||
		   set(ETHTOOL_STSO, 1, "tso") < 0 ||
		   set(ETHTOOL_SGSO, 1, "gso") < 0))
		return 1;
	if (eth(ETHTOOL_GTXCSUM, &tx) < 0 || eth(ETHTOOL_GTSO, &tso) < 0 ||
	    eth(ETHTOOL_GGSO, &gso) < 0) {
		perror("offload: get");
		return 1;
	}
	printf("offload %s tx=%u tso=%u gso=%u\n", ifr.ifr_name, tx, tso, gso);
	return 0;
}
