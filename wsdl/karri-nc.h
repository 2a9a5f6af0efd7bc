/*
 * karri-nc.h - the node controller contract (CC -> NC).
 *
 * Operation and field names follow Eucalyptus' eucalyptus_nc.wsdl so that a
 * reader who knows Eucalyptus finds their way.  Karri additions are marked.
 */

#import "karri-types.h"

//gsoap nc service name: nc
//gsoap nc service namespace: urn:karri:nc:2026-11
//gsoap nc service style: document
//gsoap nc service encoding: literal
//gsoap nc schema namespace: urn:karri:nc:2026-11
//gsoap nc schema form: qualified

/* One instance as the NC reports it. */
struct nc__instanceType {
	char *reservationId;
	char *instanceId;
	char *imageId;
	char *kernelId;
	char *ramdiskId;
	char *userId;
	char *keyName;
	struct kr__virtualMachineType *instanceType;
	struct kr__netConfigType *netParams;
	char *stateName;		/* Pending, Extant, Teardown */
	char *stateDetail;		/* Karri: STAGING, BOOTING, RUNNING, SHUTDOWN, TEARDOWN */
	char *stateReason;		/* Karri: why a launch failed or the instance stopped */
	long launchTime;		/* seconds since the epoch */
	char *userData;			/* base64 */
	char *launchIndex;
	int __sizegroupNames;
	char **groupNames;
	int __sizevolumes;
	struct kr__volumeType *volumes;
	char *diskAttachment;		/* Karri: e.g. "bus=virtio backing=tap cache=none io=native" */
	char *netAttachment;		/* Karri: e.g. "model=virtio" */
};

struct _nc__ncRunInstance {
	char *correlationId;
	char *userId;
	char *imageId;
	char *imageURL;
	char *kernelId;			/* empty for whole-disk images */
	char *kernelURL;
	char *ramdiskId;
	char *ramdiskURL;
	char *instanceId;
	char *reservationId;
	struct kr__virtualMachineType *instanceType;
	char *keyName;			/* the public key itself, as Eucalyptus passed it */
	struct kr__netConfigType *netParams;
	char *userData;			/* base64 */
	char *launchIndex;
	int __sizegroupNames;
	char **groupNames;
	enum xsd__boolean *imageHasVirtio;	/* Karri: absent = yes */
	char *platform;			/* Karri: "linux" or "windows" */
	char *imageDigest;		/* Karri: sha256 (hex) of the image; absent: not checked */
	char *kernelDigest;		/* Karri: sha256 (hex) of the kernel */
	char *ramdiskDigest;		/* Karri: sha256 (hex) of the ramdisk */
	char *kernelParams;		/* Karri: extra kernel command-line words (printable, no quotes) */
};
struct _nc__ncRunInstanceResponse {
	char *correlationId;
	char *userId;
	enum xsd__boolean _return;
	char *statusMessage;
	struct nc__instanceType *instance;
};

struct _nc__ncTerminateInstance {
	char *correlationId;
	char *userId;
	char *instanceId;
	enum xsd__boolean *force;
};
struct _nc__ncTerminateInstanceResponse {
	char *correlationId;
	char *userId;
	enum xsd__boolean _return;
	char *statusMessage;
	char *instanceId;
	char *shutdownState;
	char *previousState;
};

struct _nc__ncDescribeInstances {
	char *correlationId;
	char *userId;
	int __sizeinstanceIds;
	char **instanceIds;		/* none: all */
};
struct _nc__ncDescribeInstancesResponse {
	char *correlationId;
	char *userId;
	enum xsd__boolean _return;
	char *statusMessage;
	int __sizeinstances;
	struct nc__instanceType *instances;
};

struct _nc__ncDescribeResource {
	char *correlationId;
	char *userId;
	char *resourceType;
};
struct _nc__ncDescribeResourceResponse {
	char *correlationId;
	char *userId;
	enum xsd__boolean _return;
	char *statusMessage;
	char *nodeStatus;
	int memorySizeMax;		/* MiB */
	int memorySizeAvailable;
	int diskSizeMax;		/* GiB */
	int diskSizeAvailable;
	int numberOfCoresMax;
	int numberOfCoresAvailable;
	char *publicSubnets;
	char *hypervisor;		/* Karri: qemu, kvm, lxc, xen */
	int phyDevicesFree;		/* Karri: spare devices for the phy attachment */
	char *storageMac;		/* Karri: MAC of NC_STORAGE_INTERFACE, what EBS must
					   allow for volumes attached here (absent: unknown) */
};

struct _nc__ncRebootInstance {
	char *correlationId;
	char *userId;
	char *instanceId;
};
struct _nc__ncRebootInstanceResponse {
	char *correlationId;
	char *userId;
	enum xsd__boolean _return;
	char *statusMessage;
};

struct _nc__ncGetConsoleOutput {
	char *correlationId;
	char *userId;
	char *instanceId;
};
struct _nc__ncGetConsoleOutputResponse {
	char *correlationId;
	char *userId;
	enum xsd__boolean _return;
	char *statusMessage;
	char *consoleOutput;		/* base64 of the console's tail */
};

struct _nc__ncAttachVolume {
	char *correlationId;
	char *userId;
	char *instanceId;
	char *volumeId;
	char *remoteDev;
	char *localDev;
};
struct _nc__ncAttachVolumeResponse {
	char *correlationId;
	char *userId;
	enum xsd__boolean _return;
	char *statusMessage;
	char *attachment;		/* Karri: phy, nbd or guest-aoe */
};

struct _nc__ncDetachVolume {
	char *correlationId;
	char *userId;
	char *instanceId;
	char *volumeId;
	char *remoteDev;
	char *localDev;
	enum xsd__boolean *force;
};
struct _nc__ncDetachVolumeResponse {
	char *correlationId;
	char *userId;
	enum xsd__boolean _return;
	char *statusMessage;
};

struct _nc__ncStartNetwork {
	char *correlationId;
	char *userId;
	int __sizeremoteHosts;
	char **remoteHosts;
	int remoteHostPort;
	int vlan;
};
struct _nc__ncStartNetworkResponse {
	char *correlationId;
	char *userId;
	enum xsd__boolean _return;
	char *statusMessage;
	char *networkStatus;
};

struct _nc__ncPowerDown {
	char *correlationId;
	char *userId;
};
struct _nc__ncPowerDownResponse {
	char *correlationId;
	char *userId;
	enum xsd__boolean _return;
	char *statusMessage;
};

//gsoap nc service method-action: ncRunInstance "urn:karri:nc#ncRunInstance"
int __nc__ncRunInstance(struct _nc__ncRunInstance *nc__ncRunInstance, struct _nc__ncRunInstanceResponse *nc__ncRunInstanceResponse);
//gsoap nc service method-action: ncTerminateInstance "urn:karri:nc#ncTerminateInstance"
int __nc__ncTerminateInstance(struct _nc__ncTerminateInstance *nc__ncTerminateInstance, struct _nc__ncTerminateInstanceResponse *nc__ncTerminateInstanceResponse);
//gsoap nc service method-action: ncDescribeInstances "urn:karri:nc#ncDescribeInstances"
int __nc__ncDescribeInstances(struct _nc__ncDescribeInstances *nc__ncDescribeInstances, struct _nc__ncDescribeInstancesResponse *nc__ncDescribeInstancesResponse);
//gsoap nc service method-action: ncDescribeResource "urn:karri:nc#ncDescribeResource"
int __nc__ncDescribeResource(struct _nc__ncDescribeResource *nc__ncDescribeResource, struct _nc__ncDescribeResourceResponse *nc__ncDescribeResourceResponse);
//gsoap nc service method-action: ncRebootInstance "urn:karri:nc#ncRebootInstance"
int __nc__ncRebootInstance(struct _nc__ncRebootInstance *nc__ncRebootInstance, struct _nc__ncRebootInstanceResponse *nc__ncRebootInstanceResponse);
//gsoap nc service method-action: ncGetConsoleOutput "urn:karri:nc#ncGetConsoleOutput"
int __nc__ncGetConsoleOutput(struct _nc__ncGetConsoleOutput *nc__ncGetConsoleOutput, struct _nc__ncGetConsoleOutputResponse *nc__ncGetConsoleOutputResponse);
//gsoap nc service method-action: ncAttachVolume "urn:karri:nc#ncAttachVolume"
int __nc__ncAttachVolume(struct _nc__ncAttachVolume *nc__ncAttachVolume, struct _nc__ncAttachVolumeResponse *nc__ncAttachVolumeResponse);
//gsoap nc service method-action: ncDetachVolume "urn:karri:nc#ncDetachVolume"
int __nc__ncDetachVolume(struct _nc__ncDetachVolume *nc__ncDetachVolume, struct _nc__ncDetachVolumeResponse *nc__ncDetachVolumeResponse);
//gsoap nc service method-action: ncStartNetwork "urn:karri:nc#ncStartNetwork"
int __nc__ncStartNetwork(struct _nc__ncStartNetwork *nc__ncStartNetwork, struct _nc__ncStartNetworkResponse *nc__ncStartNetworkResponse);
//gsoap nc service method-action: ncPowerDown "urn:karri:nc#ncPowerDown"
int __nc__ncPowerDown(struct _nc__ncPowerDown *nc__ncPowerDown, struct _nc__ncPowerDownResponse *nc__ncPowerDownResponse);
