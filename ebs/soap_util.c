/*
 * soap_util.c - how EBS reports a failure at the SOAP edge.
 *
 * Every operation answers HTTP 200 with return=false and statusMessage
 * "Code: message" (the kr_error recorded where the failure was detected),
 * the way the other Karri contracts report refusals; SOAP faults are left
 * for requests gSOAP itself cannot read.
 */
#include <stdsoap2.h>
#include <string.h>

#include "ebs.h"
#include "error.h"
#include "log.h"

char *
ebs_status_message(struct soap *soap)
{
	char msg[KR_ERROR_CODE_MAX + KR_ERROR_MSG_MAX + 4];
	const char *code = kr_error_code();

	snprintf(msg, sizeof(msg), "%s: %s", code[0] ? code : "InternalError",
	    kr_error_message()[0] ? kr_error_message() : "unknown error");
	kr_log_info("refused: %s", msg);
	return soap_strdup(soap, msg);
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
