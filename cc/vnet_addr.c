/*
 * vnet_addr.c - the cluster network's address arithmetic (Eucalyptus'
 * scheme, vnet.h): dotted quads, a network's base and prefix length.
 */
#include <arpa/inet.h>

#include "core/error.h"
#include "vnet.h"

void
vnet_ip_str(uint32_t ip, char out[16])
{
	struct in_addr a = { htonl(ip) };

	inet_ntop(AF_INET, &a, out, 16);
}

int
vnet_ip_parse(const char *s, uint32_t *ip)
{
	struct in_addr a;

	if (!s || inet_pton(AF_INET, s, &a) != 1) {
		kr_error("InvalidParameterValue", "'%.32s' is not an IPv4 address", s ? s : "");
		return -1;
	}
	*ip = ntohl(a.s_addr);
	return 0;
}

int
vnet_plen(void)
{
	int p = 32;

	for (int n = V.apn; n > 1; n >>= 1)
		p--;
	return p;
}

uint32_t
vnet_net_base(int vlan)
{
	return V.subnet + (uint32_t)vlan * (uint32_t)V.apn;
}
