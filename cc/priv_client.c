/*
 * priv_client.c - the unprivileged child's side of karri-cc's privilege
 * separation (priv.h): each request as the parent's fixed struct, sent over
 * the pair and answered in the one error convention (kr_error carried back
 * unchanged).  Text from V (dotted quads, "aa:bb:..." MACs) becomes numbers
 * here, so the parent never parses a string of the child's.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "daemon/privsep.h"
#include "priv.h"
#include "vnet.h"

static struct kr_privsep_client client = { .fd = -1 };

void
cc_priv_client_init(int fd)
{
	kr_privsep_client_init(&client, fd);
}

static int
call(int op, const void *req, size_t len)
{
	if (client.fd < 0) {
		kr_error("InternalError", "no privileged parent to ask");
		return -1;
	}
	return kr_privsep_call(&client, (uint32_t)op, req, len, NULL, 0, NULL);
}

int
cc_priv_net(int op, int vlan)
{
	struct cc_priv_net req = { .vlan = vlan };

	return call(op, &req, sizeof(req));
}

int
cc_priv_simple(int op)
{
	return call(op, NULL, 0);
}

int
cc_priv_address(int op, const char *pub)
{
	struct cc_priv_address req;

	if (vnet_ip_parse(pub, &req.pub) < 0)
		return -1;
	return call(op, &req, sizeof(req));
}

int
cc_priv_firewall_set(const struct cc_priv_firewall *fw)
{
	return call(CC_PRIV_FIREWALL_SET, fw, sizeof(*fw));
}

static int
mac_bytes(const char *s, uint8_t out[6])
{
	unsigned v[6];

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) {
		kr_error("InternalError", "'%.20s' is not a MAC address", s);
		return -1;
	}
	for (int i = 0; i < 6; i++)
		out[i] = (uint8_t)v[i];
	return 0;
}

static int
lease_of(int vlan, const char *ip, const char *mac, struct cc_priv_lease *out)
{
	out->vlan = (uint16_t)vlan;
	return vnet_ip_parse(ip, &out->ip) < 0 || mac_bytes(mac, out->mac) < 0 ? -1 : 0;
}

/*
 * The whole DHCP picture, V.lock held: the networks, the leases in chunks,
 * then the commit that makes the parent write hosts files and start or
 * signal its dnsmasqs.  STATIC sends no lease: its pairs are VNET_MACMAP,
 * which the parent read itself.
 */
int
cc_priv_dhcp_sync(void)
{
	struct cc_priv_dhcp_nets nets = { 0 };
	struct cc_priv_dhcp_leases *chunk;
	int rc = 0;

	if (V.mode == VNET_SYSTEM)
		return 0;
	for (int i = 0; i < V.nnets && i < VNET_NETS_MAX; i++)
		nets.nets[nets.nnets++] = (uint16_t)V.nets[i].vlan;
	if (call(CC_PRIV_DHCP_BEGIN, &nets, sizeof(nets)) < 0)
		return -1;
	if ((chunk = calloc(1, sizeof(*chunk))) == NULL) {
		kr_error("InternalError", "out of memory");
		return -1;
	}
	for (int i = 0; V.mode != VNET_STATIC && i < V.nleases && rc == 0; i++) {
		const struct vnet_lease *l = &V.leases[i];

		if (lease_of(l->vlan, l->ip, l->mac, &chunk->l[chunk->n]) == 0)
			chunk->n++;
		if (chunk->n == CC_PRIV_LEASES_CHUNK || (i == V.nleases - 1 && chunk->n > 0)) {
			rc = call(CC_PRIV_DHCP_LEASES, chunk, sizeof(*chunk));
			chunk->n = 0;
		}
	}
	free(chunk);
	return rc < 0 ? -1 : call(CC_PRIV_DHCP_COMMIT, NULL, 0);
}

int
cc_priv_dhcp_release(int vlan, const char *ip, const char *mac)
{
	struct cc_priv_dhcp_release req;

	if (V.mode == VNET_SYSTEM || !ip || !*ip || !mac || !*mac)
		return 0;
	if (lease_of(V.mode == VNET_STATIC ? 0 : vlan, ip, mac, &req.lease) < 0)
		return -1;
	return call(CC_PRIV_DHCP_RELEASE, &req, sizeof(req));
}
