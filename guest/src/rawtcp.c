// SPDX-License-Identifier: MIT
/*
 * rawtcp: talks TCP from user space over a packet socket, so the guest
 * kernel holds no socket for it: the "hidden connection" a tracker that
 * only reads guest memory would miss, and cotrackd must flag (hidden-nic).
 *
 *   rawtcp IFACE SRC_IP DST_IP DST_MAC DPORT SECONDS
 *
 * Sends a SYN, then a small data segment every 200 ms for SECONDS, from
 * SRC_IP:40404.  Test guests only: the frames go to the test's switch.
 */
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint16_t csum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;

	for (; n > 1; p += 2, n -= 2)
		s += (uint32_t)(p[0] << 8 | p[1]);
	if (n)
		s += (uint32_t)p[0] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

int main(int argc, char **argv)
{
	uint8_t f[128], dmac[6];
	struct sockaddr_ll sll;
	struct ifreq ifr;
	struct in_addr src, dst;
	uint32_t seq = 1000;
	int fd, i, n, secs;
	uint16_t dport;

	if (argc != 7 || inet_pton(AF_INET, argv[2], &src) != 1 ||
	    inet_pton(AF_INET, argv[3], &dst) != 1 ||
	    sscanf(argv[4], "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &dmac[0], &dmac[1],
		   &dmac[2], &dmac[3], &dmac[4], &dmac[5]) != 6) {
		fprintf(stderr,
			"usage: rawtcp IFACE SRC_IP DST_IP DST_MAC DPORT "
			"SECONDS\n");
		return 2;
	}
	dport = (uint16_t)atoi(argv[5]);
	secs = atoi(argv[6]);
	if (secs < 1 || secs > 60)
		secs = 3;
	fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", argv[1]);
	if (fd < 0 || ioctl(fd, SIOCGIFINDEX, &ifr) < 0) {
		perror("rawtcp: packet socket");
		return 1;
	}
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_ifindex = ifr.ifr_ifindex;
	sll.sll_halen = 6;
	memcpy(sll.sll_addr, dmac, 6);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
		perror("rawtcp: hardware address");
		return 1;
	}
	/* At most 5 segments a second for @secs seconds, then done. */
	n = secs * 5;
	for (i = 0; i <= n; i++) {
		uint8_t *ip = f + 14, *tcp = f + 34, ph[12 + 32];
		size_t dlen = i ? 16 : 0, tlen = 20 + dlen;

		memset(f, 0, sizeof(f));
		memcpy(f, dmac, 6);
		memcpy(f + 6, ifr.ifr_hwaddr.sa_data, 6);
		f[12] = 0x08;
		ip[0] = 0x45;
		ip[2] = (uint8_t)((20 + tlen) >> 8);
		ip[3] = (uint8_t)(20 + tlen);
		ip[8] = 64;
		ip[9] = 6;
		memcpy(ip + 12, &src, 4);
		memcpy(ip + 16, &dst, 4);
		{
			uint16_t c = csum(ip, 20);

			ip[10] = (uint8_t)(c >> 8);
			ip[11] = (uint8_t)c;
		}
		tcp[0] = 40404 >> 8;
		tcp[1] = 40404 & 0xff;
		tcp[2] = (uint8_t)(dport >> 8);
		tcp[3] = (uint8_t)dport;
		tcp[4] = (uint8_t)(seq >> 24);
		tcp[5] = (uint8_t)(seq >> 16);
		tcp[6] = (uint8_t)(seq >> 8);
		tcp[7] = (uint8_t)seq;
		tcp[12] = 5 << 4;
		tcp[13] = i ? 0x18 : 0x02; /* PSH|ACK, first a SYN */
		tcp[14] = 0x20;
		memset(tcp + 20, 'h', dlen);
		memcpy(ph, &src, 4);
		memcpy(ph + 4, &dst, 4);
		ph[8] = 0;
		ph[9] = 6;
		ph[10] = (uint8_t)(tlen >> 8);
		ph[11] = (uint8_t)tlen;
		memcpy(ph + 12, tcp, tlen);
		{
			uint16_t c = csum(ph, 12 + tlen);

			tcp[16] = (uint8_t)(c >> 8);
			tcp[17] = (uint8_t)c;
		}
		seq += (uint32_t)(dlen ? dlen : 1);
		if (sendto(fd, f, 14 + 20 + tlen, 0, (struct sockaddr *)&sll,
			   sizeof(sll)) < 0) {
			perror("rawtcp: send");
			return 1;
		}
		usleep(200000);
	}
	printf("rawtcp: %d segments sent, no kernel socket\n", n + 1);
	return 0;
}
