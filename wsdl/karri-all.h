/*
 * karri-all.h - every contract at once.  soapcpp2 turns this into the one
 * type and client module all daemons link (libkarrisoap), so a daemon can
 * be client of several contracts without duplicate serializers; each
 * daemon's server dispatcher is generated from its own contract alone.
 */
#import "karri-service.h"
#import "karri-nc.h"
#import "karri-cc.h"
#import "karri-ebs.h"
