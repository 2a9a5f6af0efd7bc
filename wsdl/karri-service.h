/*
 * karri-service.h - the service contract every Karri daemon answers.
 *
 * DescribeService is the health/describe call: it tells the caller which
 * daemon answers, its version and whether it is ready.  The admin CLI
 * (`karri status`) and the tests use it to check a daemon is up.
 */

#import "karri-types.h"

//gsoap svc service name: svc
//gsoap svc service namespace: urn:karri:service:2026-11
//gsoap svc service style: document
//gsoap svc service encoding: literal
//gsoap svc schema namespace: urn:karri:service:2026-11
//gsoap svc schema form: qualified

struct _svc__DescribeService {
	char *correlationId;
	char *userId;
};

struct _svc__DescribeServiceResponse {
	char *correlationId;
	char *userId;
	enum xsd__boolean _return;
	char *statusMessage;
	char *serviceName;		/* karri-nc, karri-cc, ... */
	char *version;
	char *state;			/* ENABLED, DISABLED, NOTREADY */
	int pid;
	long uptimeSeconds;
	char *hostName;
};

//gsoap svc service method-action: DescribeService "urn:karri:service#DescribeService"
int __svc__DescribeService(struct _svc__DescribeService *svc__DescribeService,
    struct _svc__DescribeServiceResponse *svc__DescribeServiceResponse);
