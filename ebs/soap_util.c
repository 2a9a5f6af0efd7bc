/*
 * soap_util.c - EBS's SOAP edge: the daemon an operation runs in, and the
 * checks of what a request carries.
 *
 * Every operation answers HTTP 200; a refusal is return=false and
 * statusMessage "Code: message" (the kr_error recorded where the failure
 * was detected), written by common/soap/soap_error.c as in every Karri daemon.
 */
#include <string.h>

#include "ebs.h"
#include "soap/soap_server.h"

/* main.c hands its struct ebs to the listener, which gives it to every worker. */
struct ebs *
ebs_from_soap(const struct soap *soap)
{
	return soap->user;
}

/* Strings from a request that end up in paths or logs: short and printable. */
bool
ebs_soap_string_ok(const char *s)
{
	size_t i;

	if (s == NULL || s[0] == '\0' || strlen(s) >= 128)
		return false;
	for (i = 0; s[i]; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}
