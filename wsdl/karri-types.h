/*
 * karri-types.h - types shared by every Karri SOAP contract.
 *
 * This is a gSOAP service-definition header (input to soapcpp2, not a C
 * header).  The build turns the contracts in this directory into WSDL and C
 * stubs inside the build tree; nothing generated is committed.
 *
 * Every request carries correlationId and userId (as Eucalyptus did); every
 * response carries them back together with `return` (did the call succeed)
 * and statusMessage (why not, as "Code: message").
 */

//gsoap kr schema namespace: urn:karri:types:2026-11
//gsoap kr schema form: qualified

enum xsd__boolean { false_, true_ };

/* Instance type as the node sees it (Eucalyptus virtualMachineType). */
struct kr__virtualMachineType {
	char *name;			/* m1.small, ... */
	int memory;			/* MiB */
	int cores;
	int disk;			/* GiB: root + ephemeral */
	char *ioClass;			/* "standard" or "io": feeds the NC's attachment choice */
};

/* Network parameters of one instance, decided by the CC. */
struct kr__netConfigType {
	char *privateMacAddress;
	char *privateIp;
	char *publicIp;
	int vlan;			/* -1: no VLAN (SYSTEM, STATIC, MANAGED-NOVLAN) */
	int networkIndex;
	char *bridge;			/* bridge the instance's tap joins */
};

/* A volume attached to an instance. */
struct kr__volumeType {
	char *volumeId;
	/* where the volume is, for the NC:
	 *   aoe:[IFACE:[MAC:]]eS.L  an EBS volume by AoE address (shelf S, slot L);
	 *       IFACE is the node's storage NIC (default NC_STORAGE_INTERFACE), the
	 *       target MAC is optional and informative (AoE discovers by
	 *       broadcast): kernel AoE's /dev/etherd/eS.L when it exists ("phy"),
	 *       else Karri's userspace initiator on an NBD socket ("nbd");
	 *       e.g. "aoe:e3.1", "aoe:eth1:e3.1", "aoe:eth1:00:11:22:33:44:55:e3.1"
	 *   nbd+unix:///[EXPORT]?socket=/path  an NBD export on a unix socket
	 *   /path  a block device ("phy") or file ("file") under NC_VOLUME_PATHS */
	char *remoteDev;
	char *localDev;			/* device name asked for inside the guest (vdb, sdf, ...) */
	char *state;			/* attaching, attached, detaching, detached */
	char *attachment;		/* how it reached the guest: phy, nbd, guest-aoe */
};
