/*
 * dispatch.h - the request dispatchers generated for each contract
 * (wsdl/gen/<svc>/<svc>Server.c), to hand to kr_soap_daemon_listen()
 * or kr_soap_http_handle().
 */
#ifndef KARRI_DISPATCH_H
#define KARRI_DISPATCH_H

struct soap;

int svc_serve_request(struct soap *soap);	/* DescribeService: every daemon */
int nc_serve_request(struct soap *soap);	/* karri-nc */
int cc_serve_request(struct soap *soap);	/* karri-cc */
int ebs_serve_request(struct soap *soap);	/* karri-ebs */

#endif
