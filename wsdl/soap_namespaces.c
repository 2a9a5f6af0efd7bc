/*
 * soap_namespaces.c - the one XML namespace table of every Karri program.
 *
 * gSOAP wants its namespaces[] table defined exactly once per executable;
 * the table generated with all contracts at once knows every prefix, so any
 * daemon can serve its own contract and call the others with it.
 */
#include "karriH.h"
#include "svc.nsmap"
