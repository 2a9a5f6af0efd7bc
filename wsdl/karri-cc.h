/*
 * karri-cc.h - the cluster controller contract (CLC -> CC).
 *
 * One CC serves one cluster (availability zone).  Names follow Eucalyptus'
 * eucalyptus_cc.wsdl; the node registry calls are Karri's (Eucalyptus edited
 * the config file from euca_conf instead).
 */

#import "karri-types.h"

//gsoap cc service name: cc
//gsoap cc service namespace: urn:karri:cc:2026-11
//gsoap cc service style: document
//gsoap cc service encoding: literal
//gsoap cc schema namespace: urn:karri:cc:2026-11
//gsoap cc schema form: qualified

/* One instance as the CC reports it: the NC's view plus where it runs. */
struct cc__instanceType {
	char *reservationId;
	char *instanceId;
	char *imageId;
	char *kernelId;
	char *ramdiskId;
	char *userId;
	char *keyName;
	struct kr__virtualMachineType *instanceType;
	struct kr__netConfigType *netParams;
	char *stateName;
	char *stateReason;
	long launchTime;
	char *serviceTag;		/* the NC's URL: which node hosts it */
	char *userData;
	char *launchIndex;
	int __sizegroupNames;
	char **groupNames;
	int __sizevolumes;
	struct kr__volumeType *volumes;
	char *diskAttachment;
	char *netAttachment;
	char *nodeState;		/* Karri: UP, DOWN, POWEREDOFF: is the node answering */
};

/* How many more instances of one type fit in the cluster. */
struct cc__resourceType {
	struct kr__virtualMachineType *instanceType;
	int maxInstances;
	int availableInstances;
};

struct cc__nodeType {
	char *serviceTag;		/* NC URL */
	char *state;			/* UP, DOWN, POWEREDOFF */
	int coresMax;
	int coresAvailable;
	int memoryMax;
	int memoryAvailable;
	int diskMax;
	int diskAvailable;
	int instances;
};

/* One security-group rule, as ConfigureNetwork receives it. */
struct cc__networkRuleType {
	char *type;			/* firewall-open */
	char *destName;			/* group the rule lets traffic into */
	char *destUserName;
	char *protocol;			/* tcp, udp, icmp */
	int portRangeMin;
	int portRangeMax;
	int __sizesourceNets;
	char **sourceNets;		/* CIDRs */
	int __sizesourceNames;
	char **sourceNames;		/* source groups ... */
	int __sizeuserNames;
	char **userNames;		/* ... and their owners */
};

struct cc__publicAddressType {
	char *publicIp;
	char *privateIp;
	char *instanceId;
};

struct cc__networkType {
	int vlan;
	char *netName;
	char *userName;
	int __sizeactiveAddrs;
	int *activeAddrs;
};


struct _cc__RunInstances {
	char *correlationId;
	char *userId;
	char *imageId;
	char *imageURL;
	char *kernelId;
	char *kernelURL;
	char *ramdiskId;
	char *ramdiskURL;
	char *reservationId;
	int __sizeinstanceIds;
	char **instanceIds;		/* given by the CLC, one per instance */
	int __sizenetNames;
	char **netNames;		/* security groups */
	int __sizemacAddresses;
	char **macAddresses;
	int __sizenetworkIndexList;
	int *networkIndexList;
	int vlan;
	int minCount;
	int maxCount;
	char *keyName;
	char *userData;
	char *launchIndex;
	struct kr__virtualMachineType *instanceType;
	char *ownerId;
	enum xsd__boolean *imageHasVirtio;
	char *platform;
	char *imageDigest;		/* Karri: passed to ncRunInstance (see karri-nc.h) */
	char *kernelDigest;
	char *ramdiskDigest;
	char *kernelParams;
};
struct _cc__RunInstancesResponse {
	char *correlationId;
	char *userId;
	enum xsd__boolean _return;
	char *statusMessage;
	int __sizeinstances;
	struct cc__instanceType *instances;
};

struct _cc__DescribeInstances {
	char *correlationId;
	char *userId;
	int __sizeinstanceIds;
	char **instanceIds;
};
struct _cc__DescribeInstancesResponse {
	char *correlationId;
	char *userId;
	enum xsd__boolean _return;
	char *statusMessage;
	int __sizeinstances;
	struct cc__instanceType *instances;
	/*
	 * Karri: the nodes (their NC URLs, as in serviceTag) this CC has heard
	 * from since it started.  Only for those is an instance it does not
	 * list known to be gone: a node not heard from yet (the CC restarted
	 * while it was unreachable) lists nothing, and that says nothing.
	 */
	int __sizeheardNodes;
	char **heardNodes;
};

struct _cc__TerminateInstances {
	char *correlationId;
	char *userId;
	int __sizeinstanceIds;
	char **instanceIds;
	enum xsd__boolean *force;
};
struct _cc__TerminateInstancesResponse {
	char *correlationId;
	char *userId;
	enum xsd__boolean _return;
	char *statusMessage;
	int __sizeisTerminated;
	enum xsd__boolean *isTerminated;
};

struct _cc__RebootInstances {
	char *correlationId;
	char *userId;
	int __sizeinstanceIds;
	char **instanceIds;
};
struct _cc__RebootInstancesResponse {
	char *correlationId;
	char *userId;
	enum xsd__boolean _return;
	char *statusMessage;
};

struct _cc__GetConsoleOutput {
	char *correlationId;
	char *userId;
	char *instanceId;
};
struct _cc__GetConsoleOutputResponse {
	char *correlationId;
	char *userId;
	enum xsd__boolean _return;
	char *statusMessage;
	char *consoleOutput;		/* base64 */
};

struct _cc__DescribeResources {
	char *correlationId;
	char *userId;
	int __sizeinstanceTypes;
	struct kr__virtualMachineType *instanceTypes;
};
struct _cc__DescribeResourcesResponse {
	char *correlationId;
	char *userId;
	enum xsd__boolean _return;
	char *statusMessage;
	int __sizeresources;
	struct cc__resourceType *resources;
	int __sizenodes;
	struct cc__nodeType *nodes;
	int *pollCycleMs;		/* Karri: how long the last full polling cycle took */
	int *pollCycles;		/* Karri: full polling cycles done since start */
};

struct _cc__AttachVolume {
	char *correlationId;
	char *userId;
	char *instanceId;
	char *volumeId;
	char *remoteDev;
	char *localDev;
};
struct _cc__AttachVolumeResponse {
	char *correlationId;
	char *userId;
	enum xsd__boolean _return;
	char *statusMessage;
	char *attachment;
	char *nodeMac;			/* Karri: the storage MAC EBS must allow */
};

struct _cc__DetachVolume {
	char *correlationId;
	char *userId;
	char *instanceId;
	char *volumeId;
	char *remoteDev;
	char *localDev;
	enum xsd__boolean *force;
};
struct _cc__DetachVolumeResponse {
	char *correlationId;
	char *userId;
	enum xsd__boolean _return;
	char *statusMessage;
};

struct _cc__StartNetwork {
	char *correlationId;
	char *userId;
	int vlan;
	char *netName;
	char *nameserver;
	int __sizeclusterControllers;
	char **clusterControllers;
};
struct _cc__StartNetworkResponse {
	char *correlationId;
	char *userId;
	enum xsd__boolean _return;
	char *statusMessage;
};

struct _cc__StopNetwork {
	char *correlationId;
	char *userId;
	int vlan;
	char *netName;
};
struct _cc__StopNetworkResponse {
	char *correlationId;
	char *userId;
	enum xsd__boolean _return;
	char *statusMessage;
};

struct _cc__ConfigureNetwork {
	char *correlationId;
	char *userId;
	int __sizerules;
	struct cc__networkRuleType *rules;
};
struct _cc__ConfigureNetworkResponse {
	char *correlationId;
	char *userId;
	enum xsd__boolean _return;
	char *statusMessage;
};

struct _cc__AssignAddress {
	char *correlationId;
	char *userId;
	char *source;			/* public IP */
	char *dest;			/* private IP */
};
struct _cc__AssignAddressResponse {
	char *correlationId;
	char *userId;
	enum xsd__boolean _return;
	char *statusMessage;
};

struct _cc__UnassignAddress {
	char *correlationId;
	char *userId;
	char *source;
	char *dest;
};
struct _cc__UnassignAddressResponse {
	char *correlationId;
	char *userId;
	enum xsd__boolean _return;
	char *statusMessage;
};

struct _cc__DescribePublicAddresses {
	char *correlationId;
	char *userId;
};
struct _cc__DescribePublicAddressesResponse {
	char *correlationId;
	char *userId;
	enum xsd__boolean _return;
	char *statusMessage;
	int __sizeaddresses;
	struct cc__publicAddressType *addresses;
};

struct _cc__DescribeNetworks {
	char *correlationId;
	char *userId;
	char *nameserver;
	int __sizeclusterControllers;
	char **clusterControllers;
};
struct _cc__DescribeNetworksResponse {
	char *correlationId;
	char *userId;
	enum xsd__boolean _return;
	char *statusMessage;
	char *mode;			/* VNET_MODE */
	int addrsPerNet;
	int vlanMin;
	int vlanMax;
	int __sizeactiveNetworks;
	struct cc__networkType *activeNetworks;
};

/* Karri: the node registry (karri register-nodes / deregister-nodes). */
struct _cc__RegisterNodes {
	char *correlationId;
	char *userId;
	int __sizenodes;
	char **nodes;			/* host or host:port */
};
struct _cc__RegisterNodesResponse {
	char *correlationId;
	char *userId;
	enum xsd__boolean _return;
	char *statusMessage;
};

struct _cc__DeregisterNodes {
	char *correlationId;
	char *userId;
	int __sizenodes;
	char **nodes;
};
struct _cc__DeregisterNodesResponse {
	char *correlationId;
	char *userId;
	enum xsd__boolean _return;
	char *statusMessage;
};

//gsoap cc service method-action: RunInstances "urn:karri:cc#RunInstances"
int __cc__RunInstances(struct _cc__RunInstances *cc__RunInstances, struct _cc__RunInstancesResponse *cc__RunInstancesResponse);
//gsoap cc service method-action: DescribeInstances "urn:karri:cc#DescribeInstances"
int __cc__DescribeInstances(struct _cc__DescribeInstances *cc__DescribeInstances, struct _cc__DescribeInstancesResponse *cc__DescribeInstancesResponse);
//gsoap cc service method-action: TerminateInstances "urn:karri:cc#TerminateInstances"
int __cc__TerminateInstances(struct _cc__TerminateInstances *cc__TerminateInstances, struct _cc__TerminateInstancesResponse *cc__TerminateInstancesResponse);
//gsoap cc service method-action: RebootInstances "urn:karri:cc#RebootInstances"
int __cc__RebootInstances(struct _cc__RebootInstances *cc__RebootInstances, struct _cc__RebootInstancesResponse *cc__RebootInstancesResponse);
//gsoap cc service method-action: GetConsoleOutput "urn:karri:cc#GetConsoleOutput"
int __cc__GetConsoleOutput(struct _cc__GetConsoleOutput *cc__GetConsoleOutput, struct _cc__GetConsoleOutputResponse *cc__GetConsoleOutputResponse);
//gsoap cc service method-action: DescribeResources "urn:karri:cc#DescribeResources"
int __cc__DescribeResources(struct _cc__DescribeResources *cc__DescribeResources, struct _cc__DescribeResourcesResponse *cc__DescribeResourcesResponse);
//gsoap cc service method-action: AttachVolume "urn:karri:cc#AttachVolume"
int __cc__AttachVolume(struct _cc__AttachVolume *cc__AttachVolume, struct _cc__AttachVolumeResponse *cc__AttachVolumeResponse);
//gsoap cc service method-action: DetachVolume "urn:karri:cc#DetachVolume"
int __cc__DetachVolume(struct _cc__DetachVolume *cc__DetachVolume, struct _cc__DetachVolumeResponse *cc__DetachVolumeResponse);
//gsoap cc service method-action: StartNetwork "urn:karri:cc#StartNetwork"
int __cc__StartNetwork(struct _cc__StartNetwork *cc__StartNetwork, struct _cc__StartNetworkResponse *cc__StartNetworkResponse);
//gsoap cc service method-action: StopNetwork "urn:karri:cc#StopNetwork"
int __cc__StopNetwork(struct _cc__StopNetwork *cc__StopNetwork, struct _cc__StopNetworkResponse *cc__StopNetworkResponse);
//gsoap cc service method-action: ConfigureNetwork "urn:karri:cc#ConfigureNetwork"
int __cc__ConfigureNetwork(struct _cc__ConfigureNetwork *cc__ConfigureNetwork, struct _cc__ConfigureNetworkResponse *cc__ConfigureNetworkResponse);
//gsoap cc service method-action: AssignAddress "urn:karri:cc#AssignAddress"
int __cc__AssignAddress(struct _cc__AssignAddress *cc__AssignAddress, struct _cc__AssignAddressResponse *cc__AssignAddressResponse);
//gsoap cc service method-action: UnassignAddress "urn:karri:cc#UnassignAddress"
int __cc__UnassignAddress(struct _cc__UnassignAddress *cc__UnassignAddress, struct _cc__UnassignAddressResponse *cc__UnassignAddressResponse);
//gsoap cc service method-action: DescribePublicAddresses "urn:karri:cc#DescribePublicAddresses"
int __cc__DescribePublicAddresses(struct _cc__DescribePublicAddresses *cc__DescribePublicAddresses, struct _cc__DescribePublicAddressesResponse *cc__DescribePublicAddressesResponse);
//gsoap cc service method-action: DescribeNetworks "urn:karri:cc#DescribeNetworks"
int __cc__DescribeNetworks(struct _cc__DescribeNetworks *cc__DescribeNetworks, struct _cc__DescribeNetworksResponse *cc__DescribeNetworksResponse);
//gsoap cc service method-action: RegisterNodes "urn:karri:cc#RegisterNodes"
int __cc__RegisterNodes(struct _cc__RegisterNodes *cc__RegisterNodes, struct _cc__RegisterNodesResponse *cc__RegisterNodesResponse);
//gsoap cc service method-action: DeregisterNodes "urn:karri:cc#DeregisterNodes"
int __cc__DeregisterNodes(struct _cc__DeregisterNodes *cc__DeregisterNodes, struct _cc__DeregisterNodesResponse *cc__DeregisterNodesResponse);
