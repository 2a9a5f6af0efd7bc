/*
 * vnet_conntrack.c - forget the connections of an elastic IP that moved.
 *
 * Moving a public address is one ruleset swap (addresses.c, firewall.c),
 * but netfilter applies NAT rules only to a flow's first packet: a flow
 * already tracked keeps its old translation, so a client in the middle of a
 * UDP exchange or a TCP connection would go on talking to the instance that
 * no longer owns the address, for as long as the flow stays alive.  After
 * the swap we delete the tracked flows of the address, both those DNATed
 * to it (original destination = public IP) and those SNATed from it (reply
 * destination = public IP); their next packet is a new flow and takes the
 * new rules.  conntrack(8) spawned with an argv, as everything else here.
 */
#include <string.h>

#include "core/command.h"
#include "core/error.h"
#include "core/log.h"
#include "vnet.h"

static void
flush_one(const char *how, const char *pub)
{
	const char *argv[] = { "conntrack", "-D", how, pub, NULL };
	struct kr_command_opts o = { .timeout_ms = 10000 };
	struct kr_command_result r = { 0 };

	/* Status 1 with "0 flow entries" is conntrack's "nothing to delete". */
	if (kr_command_run(argv, &o, &r) < 0 &&
	    !(r.exit_status == 1 && r.err && strstr(r.err, " 0 flow entries")))
		kr_log_warnx("elastic IP %s: old connections not flushed: %s", pub,
		    kr_error_message());
	else if (r.err && !strstr(r.err, " 0 flow entries"))
		kr_log_debug("elastic IP %s: %s", pub, r.err);
	kr_command_result_free(&r);
}

void
vnet_conntrack_flush(const char *pub)
{
	flush_one("--orig-dst", pub);
	flush_one("--reply-dst", pub);
}
